#pragma once
// pcscf-espd once its options are read: EAL, the datapath, the SA manager and telemetry,
// and the control thread's loop (on the main lcore) until SIGINT or SIGTERM.
#include <atomic>
#include <memory>

#include "control/daemon/options.hpp"
#include "control/daemon/telemetry.hpp"
#include "control/sa/sa_manager.hpp"
#include "dataplane/service/dataplane.hpp"

namespace pcscf::ctl {

class Daemon {
public:
    // Returns the process exit code.
    static int main(const DaemonOptions& opts, const char* prog);

private:
    explicit Daemon(const DaemonOptions& opts) : opts_(opts) {}
    int run(const char* prog);
    void control_loop();

    // The sec-agree terminator, when configured.
    Expected<void> start_sip();
    void on_sa_event(const SaInfo& sa, const esp::SaEvent& e);

    DaemonOptions opts_;
    std::unique_ptr<dp::Dataplane> dp_;
    std::unique_ptr<SaManager> sas_;
    std::unique_ptr<secagree::Registrar> registrar_;
    std::unique_ptr<proxy::SipProxy> proxy_;
    SipStatus sip_status_;
};

// Set by SIGINT / SIGTERM.
extern std::atomic<bool> g_stop;

}  // namespace pcscf::ctl
