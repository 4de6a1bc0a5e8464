#pragma once
// pcscf-espd once its options are read: EAL, the datapath, the SA manager and telemetry,
// and the control thread's loop (on the main lcore) until SIGINT or SIGTERM.
#include <sched.h>

#include <atomic>
#include <memory>

#include "control/control_plane.hpp"
#include "control/daemon/event_log.hpp"
#include "control/daemon/metrics_server.hpp"
#include "control/daemon/options.hpp"
#include "control/daemon/role.hpp"
#include "control/daemon/telemetry.hpp"
#include "control/sa/sa_manager.hpp"
#include "dataplane/service/dataplane.hpp"

namespace pcscf::ctl {

class Daemon {
public:
    // Returns the process exit code.
    // argv: the command line, read again (with its config file) on SIGHUP.
    static int main(const DaemonOptions& opts, int argc, const char* const* argv);

private:
    Daemon(const DaemonOptions& opts, int argc, const char* const* argv) : opts_(opts), argv_(argv, argv + argc) {}
    int run(const char* prog);
    void control_loop();
    // SIGHUP: the command line and its config file read again. What may change live
    // (changes_live) is applied; any other change is refused with a line naming it, and
    // a config that does not parse changes nothing. No SA or registration is touched.
    void reload();

    // A line per SIP message while the sip area logs at debug, else none.
    static proxy::SipProxy::Trace sip_trace();
    // Logs each SA event (the ControlPlane then hands it to the Registrar).
    void on_sa_event(const SaInfo& sa, const esp::SaEvent& e);
    // --state-dir / --state-redis: what the store holds comes back before the workers
    // start; at a clean stop each SA's exact sequence number and everything pending is
    // written. With Redis this node claims the store first (its epoch).
    Expected<void> attach_state();
    void close_state();
    Expected<std::unique_ptr<state::StateBackend>> open_store();

    // A pair (daemon_pair.cpp). --standby: follow the store, SAs warm, ESP dropped.
    Expected<void> start_standby();
    // Told to serve: claim the store, catch up, resume every SA, serve.
    Expected<void> take_over();
    // Between rounds: a requested takeover, a request to stand down, a fenced writer.
    // False when this node must stop serving (another node is primary now).
    bool check_role();
    // The state writer's thread starts on the control thread's CPU: where the process may
    // use CPUs no lcore has, it moves there.
    void place_state_thread();

    DaemonOptions opts_;
    std::vector<std::string> argv_;
    cpu_set_t allowed_{};  // the CPUs the process may use, as it started (EAL pins the main thread)
    std::unique_ptr<dp::Dataplane> dp_;
    std::unique_ptr<ControlPlane> plane_;
    std::unique_ptr<standby::Follower> follower_;
    RoleState role_;
    EventLog events_;                         // for pcscf-espctl monitor, while it watches
    std::unique_ptr<MetricsServer> metrics_;  // --metrics-listen; stopped before what it reads
    int exit_code_ = 0;
};

// The exit status of a primary that stood down or was fenced: another node serves now; start
// this one again as a standby (docs/operations.md).
inline constexpr int kExitStoodDown = 3;

// Set by SIGINT / SIGTERM.
extern std::atomic<bool> g_stop;

}  // namespace pcscf::ctl
