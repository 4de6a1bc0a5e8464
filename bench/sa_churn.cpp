#include "bench/sa_churn.hpp"

#include <rte_cycles.h>

#include <algorithm>
#include <random>

namespace pcscf::bench {

using esp::Direction;
using esp::SaOp;
using esp::SaRecord;

Churn::Churn(EngineWorkload& w, uint32_t installed_sas, double sas_per_second, double batch_us, uint32_t lag)
    : w_(w),
      lag_(lag),
      // two records (an add and a delete) per SA per second
      period_tsc_(uint64_t(double(rte_get_tsc_hz()) / (2 * sas_per_second))),
      batch_tsc_(uint64_t(double(rte_get_tsc_hz()) * batch_us / 1e6)) {
    // Candidates: SAs the packets do not use, within both tables, in random order (so
    // their records are as cold as a real population's). 32768 of them are plenty.
    const esp::EngineConfig& cfg = w.engine().config();
    const uint32_t limit = std::min(cfg.spi.slots_per_worker, cfg.outbound_capacity);
    const auto& used = w.used_sas();
    std::vector<uint32_t> free;
    for (uint32_t i = 0; i < limit; ++i)
        if (!std::binary_search(used.begin(), used.end(), i)) free.push_back(i);
    std::shuffle(free.begin(), free.end(), std::mt19937(11));
    free.resize(std::min<size_t>(free.size(), 32768));
    for (uint32_t sa : free)
        for (Direction d : {Direction::inbound, Direction::outbound}) c_.push_back({sa, d, sa < installed_sas});
    if (c_.size() <= 2 * size_t{lag_} + 2) lag_ = uint32_t(c_.size() / 2 - 1);
}

SaRecord Churn::record(uint64_t pos, bool away) const noexcept {
    const Candidate& c = c_[pos % c_.size()];
    SaRecord r = c.dir == Direction::inbound ? w_.inbound_record(c.sa) : w_.outbound_record(c.sa);
    r.op = c.installed == away ? SaOp::remove : SaOp::add;
    return r;
}

void Churn::prime(RecordSink& to) {
    while (hi_ - lo_ < lag_) to.send(record(hi_++, true));
    to.flush();
}

void Churn::start(uint64_t now_tsc) noexcept {
    next_tsc_ = next_batch_ = now_tsc;
    timed_ = 0;
}

// Records alternate: one more candidate away, the oldest one back.
void Churn::tick(RecordSink& to, uint64_t now_tsc) noexcept {
    if (now_tsc < next_batch_) return;
    next_batch_ = now_tsc + batch_tsc_;
    while (now_tsc >= next_tsc_) {
        const bool away = hi_ - lo_ == lag_;
        if (!to.try_send(record(away ? hi_ : lo_, away))) break;  // ring full: next time
        ++(away ? hi_ : lo_);
        ++timed_;
        next_tsc_ += period_tsc_;
    }
    to.flush();
}

void Churn::unwind(RecordSink& to) {
    while (lo_ < hi_) to.send(record(lo_++, false));
    to.flush();
}

}  // namespace pcscf::bench
