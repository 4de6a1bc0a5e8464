#pragma once
// pcscf-espd once its options are read: EAL, the datapath, the SA manager and telemetry,
// and the control thread's loop (on the main lcore) until SIGINT or SIGTERM.
#include <atomic>
#include <memory>

#include "control/control_plane.hpp"
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

    // Logs each SA event (the ControlPlane then hands it to the Registrar).
    void on_sa_event(const SaInfo& sa, const esp::SaEvent& e);
    // --state-dir: what the store holds comes back before the workers start; at a clean
    // stop each SA's exact sequence number and everything pending is written.
    Expected<void> attach_state();
    void close_state();

    DaemonOptions opts_;
    std::unique_ptr<dp::Dataplane> dp_;
    std::unique_ptr<ControlPlane> plane_;
};

// Set by SIGINT / SIGTERM.
extern std::atomic<bool> g_stop;

}  // namespace pcscf::ctl
