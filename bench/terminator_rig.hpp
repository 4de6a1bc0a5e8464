#pragma once
// The sec-agree terminator on a bench: pcscf-espd's own ctl::ControlPlane (SaManager on
// the real rings, Registrar, SipProxy on UDP sockets), driven round by round as the
// daemon's control loop drives it (ControlPlane::round: the event rings, then SIP waiting
// up to 1 ms when no SA event came, the timers every 100 ms, the telemetry snapshot after
// each busy round). The SA
// records go to a real dp::Worker polling on its own lcore (PipelineRig's net_ring ports,
// no traffic), which applies them to its esp::Engine between polls and posts the
// acknowledgements, as on a running pcscf-espd.
//
// What it leaves out: the datapath in front of the proxy's sockets (messages reach the
// protected ports as plain UDP on loopback; in production only ESP that verified can),
// the tap, telemetry's socket and the daemon's log lines (the proxy still builds its
// trace lines; they are dropped, as at --log-level warn).
//
// The state store part (registration_benchmark --parts=store) builds the control plane anew
// for each pass, without a store or with one attached as pcscf-espd attaches it
// (ControlPlane::attach_state: the StateWriter on a thread of its own), and runs a
// redis-server of its own and a standby following it (RedisServer, StandbyWatch below).
//
// Threading: everything runs on the calling thread (the EAL main lcore) but the worker,
// the state writer and StandbyWatch's thread.
#include <sched.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bench/pipeline_rig.hpp"
#include "control/control_plane.hpp"
#include "control/standby/follower.hpp"
#include "control/state/redis_url.hpp"
#include "control/state/state_store.hpp"
#include "tests/state/redis_server.hpp"

namespace pcscf::bench {

struct TerminatorConfig {
    net::IpAddr access;  // the P-CSCF's access address (IPv4)
    uint16_t sip_port = 5060, port_ps = 5101;
    std::vector<uint16_t> port_pc{5102, 5103, 5104};
    proxy::Endpoint core_local, core;  // our side towards the core, and the core
    uint32_t max_ues = 20000;          // registered at once: the worker's tables are sized for them
};

// What the control loop saw while the load's window was open (phase 1).
struct ServeResult {
    double cpu_s = 0;  // the control thread's CPU time in the window
    uint64_t adds_acked = 0, removes_acked = 0, refused_by_worker = 0;
    uint64_t iterations = 0;        // control-loop rounds in the window
    uint32_t max_queued = 0;        // most SA records waiting for the worker at a round's start
    std::vector<float> install_us;  // per SA added: its round's start -> acknowledgement read
};

// The raw SA machinery alone: SA sets installed and removed through SaManager as the
// Registrar does (secagree::install_sa_set / remove_sa_set), no SIP.
struct RawSaResult {
    uint64_t records = 0;  // adds and removes acknowledged
    double seconds = 0;
    uint64_t refused = 0;
    double rate() const { return seconds > 0 ? double(records) / seconds : 0; }
};

class Terminator {
public:
    static std::expected<std::unique_ptr<Terminator>, std::string> create(const TerminatorConfig& cfg,
                                                                          unsigned worker_lcore);
    ~Terminator();

    // The daemon's control loop until done() says so. `phase` tells where the load's
    // measured window is (0 before, 1 in, 2 after): the result covers phase 1.
    ServeResult serve(const std::function<int()>& phase, const std::function<bool()>& done);
    // The loop until the SaManager holds no SA and the Registrar no UE (de-registered UEs
    // go after the proxy's grace period), or `limit` passes. False on the timeout.
    bool settle(std::chrono::milliseconds limit);
    // Removes UEs left registered, as their registrations' expiry would, a UE at a time
    // while the worker's command ring has room (see deregister() in the .cpp).
    void deregister(const std::vector<std::pair<std::string, net::IpAddr>>& ues);
    // Installs `sets` SA sets (4 SAs each) with `live` of them installed at a time, then
    // removes the rest; the rate counts acknowledged records over the whole run.
    RawSaResult raw_sa_rate(uint32_t sets, uint32_t live);

    // The control plane built again (same configuration, same worker) with `store`
    // attached (nullptr: none), as pcscf-espd attaches it at start. Only once settle() has
    // returned true: nothing of the old plane may be left in the worker. Destroying the old
    // plane writes what its state writer still held and closes its store. The store must
    // be empty (a new LMDB directory, a new Redis prefix).
    std::expected<void, std::string> replace_plane(std::unique_ptr<ctl::state::StateBackend> store,
                                                   uint32_t checkpoint_interval);
    // Everything noted for the store so far, written (ControlPlane::close_state; no SA's
    // sequence number is read, the worker still runs). False if not within `timeout`.
    bool flush_state(std::chrono::milliseconds timeout);
    std::optional<ctl::state::WriterStats> state_stats() const { return plane_->state_stats(); }
    std::string state_last_change() const { return plane_->state_last_change(); }
    // The state writer's thread (0 without a store), for its CPU time.
    pid_t state_writer_tid() const { return writer_tid_; }
    // What the state writer logged (a store that failed), since the last call.
    std::vector<std::string> take_state_warnings();

    const esp::SpiLayout& layout() const { return layout_; }
    const ctl::SaManager& sas() const { return plane_->sas(); }
    const secagree::Registrar& registrar() const { return *plane_->registrar(); }
    proxy::ProxyCounters proxy_counters() const { return plane_->proxy()->counters(); }
    const dp::WorkerStats& worker_stats() const { return worker_->stats(); }
    const TerminatorConfig& config() const { return cfg_; }

private:
    explicit Terminator(const TerminatorConfig& cfg) : cfg_(cfg) {}
    std::expected<std::unique_ptr<ctl::ControlPlane>, std::string> make_plane();
    void on_sa_event(const ctl::SaInfo& sa, const esp::SaEvent& e);
    void note_new_sas(std::chrono::steady_clock::time_point round);

    TerminatorConfig cfg_;
    esp::SpiLayout layout_;
    ctl::SipConfig sip_;
    std::unique_ptr<PipelineRig> rig_;
    std::unique_ptr<dp::Worker> worker_;
    std::unique_ptr<WorkerLcore> lcore_;
    std::unique_ptr<ctl::ControlPlane> plane_;

    // Acknowledgements, and when each SA's add went out (SaIds are handed out in order).
    uint64_t adds_acked_ = 0, removes_acked_ = 0, refused_ = 0;
    ctl::SaId next_id_ = 1;
    std::unordered_map<ctl::SaId, std::chrono::steady_clock::time_point> sent_;
    std::vector<float>* install_us_ = nullptr;

    pid_t writer_tid_ = 0;
    std::mutex warn_mu_;
    std::vector<std::string> state_warnings_;  // under warn_mu_ (the writer's thread adds them)
};

// The CPU time of a thread of this process, or of another process (its main thread), in
// seconds; 0 if it cannot be read.
double cpu_seconds_of_thread(pid_t tid);
double cpu_seconds_of_process(pid_t pid);

// A redis-server of the benchmark's own (nothing written to disk). Started on every CPU the
// process had before EAL pinned the main thread to its lcore: on a deployment Redis has a
// host of its own, not the control thread's CPU.
using RedisServer = ctl::state::testing::RedisServer;

// A standby following the primary's Redis store: standby::Follower as pcscf-espd --standby
// runs it (a follow() round, then 1 ms of sleep), on a thread of its own allowed on `cpus`.
// The standby's workers are stood in for by a channel that acknowledges each record at once:
// a standby has a host of its own, and this one's worker lcore is the primary's. So what it
// measures is the feed (Redis to the follower's records and SA decisions), not a standby's
// datapath installing SAs.
class StandbyWatch {
public:
    static std::expected<std::unique_ptr<StandbyWatch>, std::string> start(const ctl::state::RedisUrl& url,
                                                                           const esp::SpiLayout& layout,
                                                                           const cpu_set_t& cpus);
    ~StandbyWatch();  // stops the thread

    // The lag (ms from Redis taking a feed entry to the follower applying it, as
    // FollowStatus::lag_ms) after each round that applied entries, since the last call.
    std::vector<float> take_lags();
    // From now on, note when the follower has applied the feed up to `position` (a feed id,
    // as ControlPlane::state_last_change gives it); `since` is where the time counts from.
    void aim(const std::string& position, std::chrono::steady_clock::time_point since);
    // The time from `since` to that moment, once reached.
    std::optional<std::chrono::duration<double, std::milli>> reached() const;
    // Waits until the follower has applied up to `position`; the time it took, or nullopt.
    std::optional<std::chrono::duration<double, std::milli>> wait_for(const std::string& position,
                                                                      std::chrono::milliseconds limit);
    ctl::standby::FollowStatus status() const { return follower_->status(); }
    size_t max_warm_sas() const { return max_sas_.load(); }  // the most SAs it held warm
    std::vector<std::string> warnings() const;

private:
    class InstantChannel;
    StandbyWatch() = default;
    void run();

    std::unique_ptr<InstantChannel> channel_;
    std::unique_ptr<ctl::standby::Follower> follower_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<size_t> max_sas_{0};
    mutable std::mutex mu_;
    std::vector<float> lags_;
    std::vector<std::string> warnings_;
    std::string target_;
    std::chrono::steady_clock::time_point since_{};
    std::optional<std::chrono::duration<double, std::milli>> reached_;
};

}  // namespace pcscf::bench
