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
    return handled;
}

}  // namespace pcscf::proxy
