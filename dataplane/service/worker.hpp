#pragma once
// One poll-mode worker lcore: its queue pair on the access port and on the tap, its ESP
// engine (the SAs it owns), its reassembly tables and its handoff rings. Between bursts it
// applies the SA records the control thread queued for it and posts the engine's events.
//
// Threading: everything here belongs to the worker's lcore; the control thread talks to it
// only through the rings, and reads its counters (stale values are fine).
#include <array>
#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dataplane/esp/engine.hpp"
#include "dataplane/ipfrag/fragmenter.hpp"
#include "dataplane/ipfrag/reassembler.hpp"
#include "dataplane/service/access_vlan.hpp"
#include "dataplane/service/frame.hpp"
#include "dataplane/service/record_apply.hpp"
#include "dataplane/service/rings.hpp"
#include "dataplane/service/service_config.hpp"
#include "dataplane/service/tx_queue.hpp"
#include "dataplane/service/worker_stats.hpp"

namespace pcscf::dp {

struct WorkerParts {
    uint32_t index = 0;
    uint16_t access_port = 0, tap_port = 0;  // queue `index` of each is this worker's
    AccessVlan access_vlan;                  // how the access port's tag comes off and goes on
    std::unique_ptr<esp::Engine> engine;
    std::unique_ptr<ipfrag::Reassembler> access_reassembly;  // fragments from the UEs
    std::unique_ptr<ipfrag::Reassembler> tap_reassembly;     // fragments from the kernel
    std::unique_ptr<ipfrag::Fragmenter> fragmenter;
};

// The parts of worker `index` that come from the configuration: its engine (cfg.engine,
// laid out for worker `index` of cfg.workers), its reassembly tables (whole datagrams in
// `big` buffers) and its fragmenter (`pkt` and `indirect` buffers). Ports are the caller's.
std::expected<WorkerParts, std::string> make_worker_parts(const ServiceConfig& cfg, uint32_t index, rte_mempool* pkt,
                                                          rte_mempool* big, rte_mempool* indirect, int socket);

class Worker {
public:
    Worker(const ServiceConfig& cfg, const LocalAddrs& local, WorkerRings rings, WorkerParts parts);

    // Polls until `running` turns false (the lcore's main loop).
    void run(const std::atomic<bool>& running) noexcept;
    // One round: SA records, both ports, handoff rings, events. Returns frames handled.
    // Records take two polls: one finds them, the next applies them (see looked_at_).
    uint32_t poll() noexcept;
    // While `serving` is false (a standby), ESP is dropped (DropReason::standby) both ways:
    // the SAs stand ready but take no part until the node takes over. Plain packets pass.
    void set_serving_flag(const std::atomic<bool>* serving) noexcept { serving_ = serving; }
    // Frees whatever is still buffered (after the loop stopped).
    void drain() noexcept;

    static constexpr uint32_t kMaxRecords = dp::kMaxRecords;  // taken from the command ring at once

    uint32_t index() const noexcept { return parts_.index; }
    const WorkerStats& stats() const noexcept { return stats_; }
    const esp::Engine& engine() const noexcept { return *parts_.engine; }
    // Before the worker runs (Dataplane::preload): an SA record applied to its engine.
    int preload(const esp::SaRecord& rec, int32_t& handle) noexcept { return parts_.engine->apply(rec, &handle); }
    const ipfrag::Reassembler& access_reassembly() const noexcept { return *parts_.access_reassembly; }
    const ipfrag::Reassembler& tap_reassembly() const noexcept { return *parts_.tap_reassembly; }

private:
    struct Batch {
        rte_mbuf* m[kMaxBurst];
        uint16_t n = 0;
    };

    void look_at_records() noexcept;
    void apply_records() noexcept;
    void post_acks() noexcept;
    using Take = uint16_t (WorkerRings::*)(std::span<rte_mbuf*>) noexcept;
    uint16_t take_handoff(Batch& b, uint16_t burst, Take take) noexcept;
    // Packets for another worker's SAs wait in a batch per owner and go over in one
    // enqueue per owner at the end of the burst (or when the owner's batch is full).
    struct Handing {
        std::vector<Batch> to;  // [owner]
        uint16_t (WorkerRings::*hand)(uint32_t, std::span<rte_mbuf* const>) noexcept;
    };
    void hand_later(Handing& h, uint32_t owner, rte_mbuf* m) noexcept;
    void hand_over(Handing& h, uint32_t owner) noexcept;  // drops what does not fit
    void hand_all(Handing& h) noexcept;
    void from_access(rte_mbuf* m) noexcept;
    void from_access_vlan(rte_mbuf* m) noexcept;  // untags, then from_access
    void from_tap(rte_mbuf* m) noexcept;
    void verify(Batch& b, const Batch* next = nullptr) noexcept;  // `next`: the engine's look-ahead
    void verify_received() noexcept;
    void protect(Batch& b) noexcept;
    bool stood_by(Batch& b) noexcept;  // a standby's batch, dropped
    // Queue a frame for a port, split to fit its MTU; false if it could not be (counted).
    bool to_tap(rte_mbuf* m) noexcept;
    bool to_access(rte_mbuf* m) noexcept;
    bool send_fitting(TxQueue& q, rte_mbuf* m, uint16_t mtu, bool tag) noexcept;
    bool queue(TxQueue& q, rte_mbuf* m, bool tag) noexcept;  // `tag`: the access VLAN's tag first
    // A plain packet, to the other side as it is (exception_in / exception_out).
    void pass_to_tap(rte_mbuf* m) noexcept;
    void pass_to_access(rte_mbuf* m) noexcept;
    void drop(rte_mbuf* m, net::DropReason r) noexcept;
    void post_events() noexcept;
    void sort_burst(std::span<rte_mbuf*> rx, void (Worker::*sort)(rte_mbuf*)) noexcept;

    const ServiceConfig& cfg_;
    const LocalAddrs& local_;
    WorkerRings rings_;
    WorkerParts parts_;
    WorkerStats stats_;
    TxQueue access_tx_, tap_tx_;
    // This poll's ESP for this worker, and the previous poll's held back while the engine
    // looks ahead (Engine::looks_ahead): verified with this poll's as its look-ahead, so
    // that with millions of SAs the records of a burst arrive during the crypto of the
    // one before. Never held longer than one poll, nor when a poll brings nothing.
    std::array<Batch, 2> esp_batches_;
    uint32_t fresh_ = 0;  // esp_batches_[fresh_] fills; the other is held
    Batch& esp() noexcept { return esp_batches_[fresh_]; }
    Batch& held() noexcept { return esp_batches_[fresh_ ^ 1]; }
    Batch plain_;
    Handing handing_esp_, handing_plain_;  // to hand over this burst
    static inline const std::atomic<bool> kAlwaysServing{true};
    const std::atomic<bool>* serving_ = &kAlwaysServing;
    bool standing_by_ = false;  // serving_, read once per poll
    // Records in two polls: one poll finds them in the command ring and requests their
    // cache lines (the control thread's core wrote them), the next applies them in place
    // and takes them off the ring, so no poll waits for lines from the other core.
    RecordRuns looked_at_;
    std::array<esp::SaEvent, kMaxRecords> acks_;  // a member: the idle poll does not
                                                  // initialise kilobytes it will not use
    // Acknowledgements the event ring had no room for: posted by the next polls, before
    // any new record is taken, so the worker never waits for the control thread.
    std::span<const esp::SaEvent> unposted_acks_;
    uint64_t now_ = 0;
    const uint64_t record_interval_;  // cfg_.record_interval_us in TSC cycles
    uint64_t next_records_ = 0;       // when to look at the command ring again
    uint32_t polls_ = 0;
};

}  // namespace pcscf::dp
