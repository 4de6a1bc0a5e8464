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
// Threading: everything runs on the calling thread (the EAL main lcore) but the worker.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bench/pipeline_rig.hpp"
#include "control/control_plane.hpp"

namespace pcscf::bench {

struct TerminatorConfig {
    net::IpAddr access;  // the P-CSCF's access address (IPv4)
    uint16_t sip_port = 5060, port_ps = 5101;
    std::vector<uint16_t> port_pc{5102, 5103, 5104};
    proxy::Endpoint core_local, core;  // our side towards the core, and the core
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

    const ctl::SaManager& sas() const { return plane_->sas(); }
    const secagree::Registrar& registrar() const { return *plane_->registrar(); }
    const proxy::ProxyCounters& proxy_counters() const { return plane_->proxy()->counters(); }
    const dp::WorkerStats& worker_stats() const { return worker_->stats(); }
    const TerminatorConfig& config() const { return cfg_; }

private:
    explicit Terminator(const TerminatorConfig& cfg) : cfg_(cfg) {}
    void on_sa_event(const ctl::SaInfo& sa, const esp::SaEvent& e);
    void note_new_sas(std::chrono::steady_clock::time_point round);

    TerminatorConfig cfg_;
    std::unique_ptr<PipelineRig> rig_;
    std::unique_ptr<dp::Worker> worker_;
    std::unique_ptr<WorkerLcore> lcore_;
    std::unique_ptr<ctl::ControlPlane> plane_;

    // Acknowledgements, and when each SA's add went out (SaIds are handed out in order).
    uint64_t adds_acked_ = 0, removes_acked_ = 0, refused_ = 0;
    ctl::SaId next_id_ = 1;
    std::unordered_map<ctl::SaId, std::chrono::steady_clock::time_point> sent_;
    std::vector<float>* install_us_ = nullptr;
};

}  // namespace pcscf::bench
