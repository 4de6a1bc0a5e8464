#include "control/daemon/service_notify.hpp"

#include <systemd/sd-daemon.h>

namespace pcscf::ctl {

void notify_ready(const std::string& status) { sd_notify(0, ("READY=1\nSTATUS=" + status).c_str()); }
void notify_status(const std::string& status) { sd_notify(0, ("STATUS=" + status).c_str()); }
void notify_stopping() { sd_notify(0, "STOPPING=1\nSTATUS=stopping"); }
void notify_reloading() { sd_notify(0, "RELOADING=1\nSTATUS=reloading the configuration"); }

Watchdog::Watchdog() {
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0) interval_ = std::chrono::microseconds(usec);
}

void Watchdog::feed(std::chrono::steady_clock::time_point now) {
    if (!enabled() || now < next_) return;
    sd_notify(0, "WATCHDOG=1");
    next_ = now + interval_ / 2;
}

}  // namespace pcscf::ctl
