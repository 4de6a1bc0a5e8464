#include "control/proxy/sip_round.hpp"

namespace pcscf::proxy {

int SipRound::run(uint32_t sa_events, Clock::time_point now) {
    const int handled = proxy_.poll(sa_events ? 0 : 1, now);
    const bool tick = now - last_tick_ > std::chrono::milliseconds(100);
    if (tick) {
        reg_.tick(now);
        proxy_.tick(now);
        last_tick_ = now;
    }
    if (handled > 0 || tick) {
        std::lock_guard lock(status_.mu);
        status_.counters = proxy_.counters();
        status_.ues = reg_.ues();
    }
    if (status_.asked_.load(std::memory_order_acquire)) {
        std::lock_guard lock(status_.mu);
        if (const auto& q = status_.query_) {
            status_.answer_ = q->impi.empty() ? reg_.views(q->offset, q->max) : reg_.views_of(q->impi);
            status_.query_.reset();
        }
        status_.asked_.store(false, std::memory_order_relaxed);
        status_.answered_.notify_all();
    }
    return handled;
}

std::optional<std::vector<secagree::Registrar::View>> SipStatus::ask(UeQuery q, std::chrono::milliseconds wait) {
    std::unique_lock lock(mu);
    if (!enabled) return std::nullopt;
    query_ = std::move(q);
    answer_.reset();
    asked_.store(true, std::memory_order_release);
    answered_.wait_for(lock, wait, [&] { return answer_.has_value(); });
    query_.reset();
    asked_.store(false, std::memory_order_relaxed);
    auto a = std::move(answer_);
    answer_.reset();
    return a;
}

}  // namespace pcscf::proxy
