#pragma once
// Talking to systemd when it runs us (Type=notify): READY once the workers run and the
// state is back, STATUS lines, STOPPING, and the watchdog the control thread feeds each
// round (WatchdogSec=: a control thread stuck for that long gets the service restarted).
// Outside systemd (no NOTIFY_SOCKET) every call does nothing.
#include <chrono>
#include <string>

namespace pcscf::ctl {

void notify_ready(const std::string& status);
void notify_status(const std::string& status);
void notify_stopping();
void notify_reloading();  // then notify_ready again once done

class Watchdog {
public:
    Watchdog();  // reads WATCHDOG_USEC (and WATCHDOG_PID) as systemd set them
    bool enabled() const { return interval_.count() > 0; }
    // Pets it at half the interval systemd asked for.
    void feed(std::chrono::steady_clock::time_point now);

private:
    std::chrono::microseconds interval_{0};
    std::chrono::steady_clock::time_point next_{};
};

}  // namespace pcscf::ctl
