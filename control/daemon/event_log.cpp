#include "control/daemon/event_log.hpp"

#include "control/daemon/log.hpp"

namespace pcscf::ctl {

namespace {
int64_t steady_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
}  // namespace

bool EventLog::watched() const { return watched_until_.load(std::memory_order_relaxed) > steady_ns(); }

void EventLog::add(std::string_view text) {
    std::string line = utc_timestamp();
    line += ' ';
    line += text;
    std::lock_guard lock(mu_);
    ring_[next_ % ring_.size()] = std::move(line);
    ++next_;
}

EventLog::Page EventLog::since(uint64_t since, size_t max) {
    watched_until_.store(steady_ns() + 10'000'000'000, std::memory_order_relaxed);
    std::lock_guard lock(mu_);
    Page p;
    const uint64_t oldest = next_ > ring_.size() ? next_ - ring_.size() : 0;
    uint64_t from = std::min(since, next_);
    if (from < oldest) {
        p.lost = oldest - from;
        from = oldest;
    }
    for (uint64_t i = from; i < next_ && p.events.size() < max; ++i) p.events.emplace_back(i, ring_[i % ring_.size()]);
    p.next = from + p.events.size();
    return p;
}

}  // namespace pcscf::ctl
