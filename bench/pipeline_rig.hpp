#pragma once
// The whole datapath on a test bench: a real dp::Worker (classification, ESP engine,
// transmit queues, SA records applied between bursts) polling two net_ring ports on its
// own lcore, while the main lcore plays the NIC and the control thread. The NIC side
// puts pre-built Ethernet frames into a port's RX ring and takes what the worker
// transmits out of the other port's TX ring; the control side sends SA records over the
// real command ring (dp::Rings) and drains the acknowledgements and events.
//
// Threading: everything here is driven from the main lcore, except the Worker, which
// runs on the worker lcore between WorkerLcore::start() and stop().
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bench/engine_workload.hpp"
#include "bench/sa_churn.hpp"
#include "dataplane/service/frame.hpp"
#include "dataplane/service/rings.hpp"
#include "dataplane/service/service_config.hpp"
#include "dataplane/service/worker.hpp"

namespace pcscf::bench {

// A net_ring port: what the NIC side enqueues to `rx` the worker receives; what the
// worker transmits lands in `tx`.
struct RingPort {
    uint16_t port = 0;
    rte_ring* rx = nullptr;
    rte_ring* tx = nullptr;
    bool started = false;
};

// How the NIC side writes a frame back before offering it again. A NIC writes by DMA,
// which leaves no copy of the lines in another CPU's cache; stores from the NIC side's CPU
// do, and the worker then fetches every line from that CPU.
//   streaming: non-temporal stores of whole cache lines (the lines go to memory and leave
//              every cache, as DMA without cache injection leaves them), fenced before the
//              enqueue;
//   cached:    ordinary stores of the mbuf fields and the frame's first bytes.
enum class NicStores { streaming, cached };

// A packet of the workload as an Ethernet frame, and how to put it back as it was built
// before it is offered again (the worker rewrites its headers in place): the mbuf's first
// cache line as a driver leaves it, and the cache lines that hold the frame's first
// kRestore bytes, those bytes as built (the lines' other bytes are headroom, or packet
// bytes the worker does not change).
struct Frame {
    static constexpr uint32_t kRestore = dp::kEthLen + 64;
    static constexpr uint32_t kMaxLines = kRestore / 64 + 2;
    rte_mbuf* m = nullptr;
    uint16_t data_off = 0;
    uint16_t len = 0;
    uint8_t* first_line = nullptr;  // in the mbuf's buffer: the line the frame starts in
    uint8_t head = 0;               // where the frame starts in that line
    uint8_t n_lines = 0;
    alignas(64) std::array<uint8_t, 64> mbuf_line{};
    alignas(64) std::array<uint8_t, 64 * kMaxLines> lines{};
};
// The templates' packets (IP) behind an Ethernet header, in the same mbufs.
std::vector<Frame> make_frames(std::span<const Template> t);

// The control thread's end of the rings, as ctl::SaManager uses them but without its
// registry: records go out already expanded, acknowledgements are counted.
class ControlSide : public RecordSink {
public:
    explicit ControlSide(dp::ControlRings& rings) noexcept : rings_(rings) {}
    bool try_send(const esp::SaRecord& r) noexcept override;
    void send(const esp::SaRecord& r) override;  // waits for room, draining events meanwhile
    void pump() noexcept;                        // drains the event ring
    // Waits until every record sent has been acknowledged; false after `seconds`.
    bool settle(double seconds = 30);
    uint64_t sent() const noexcept { return sent_; }
    uint64_t failed() const noexcept { return failed_; }
    uint64_t events() const noexcept { return events_; }  // other than acknowledgements

private:
    dp::ControlRings& rings_;
    uint64_t sent_ = 0, acked_ = 0, failed_ = 0, events_ = 0;
};

// How often a thread of this process lost its CPU to another task (involuntary context
// switches; the calling thread's own: preemptions_of_self() in bench_eal.hpp): a pass
// during which the worker or the NIC side was preempted measures the machine's other
// load, not the datapath.
uint64_t preemptions_of(pid_t tid);

// The worker lcore: polls the Worker, or runs a one-off job (the in-memory engine).
class WorkerLcore {
public:
    explicit WorkerLcore(unsigned lcore) noexcept : lcore_(lcore) {}
    ~WorkerLcore() { stop(); }
    // Starts polling; with `evict_first` the lcore first reads through a buffer larger
    // than the caches, so the worker starts as cold as the in-memory engine does.
    void start(dp::Worker& w, bool evict_first);
    void stop();
    void run(std::function<void()> job);  // the worker must be stopped
    unsigned id() const noexcept { return lcore_; }
    uint64_t preemptions() const { return preemptions_of(tid_.load()); }

private:
    static int main(void* self);
    void wait_ready() const;

    unsigned lcore_;
    dp::Worker* worker_ = nullptr;
    std::function<void()> job_;
    bool evict_ = false, launched_ = false;
    std::atomic<bool> running_{false}, ready_{false};
    std::atomic<pid_t> tid_{0};
};

// Offers `frames` once to the worker through `to_worker` with at most `window` frames in
// flight (back-pressure: nothing is offered that the worker could drop for lack of
// room), collects them from `from_worker`, and drives the control side meanwhile.
// Frames are written back as `nic` says.
struct PassResult {
    uint64_t offered = 0, delivered = 0;
    uint64_t counted = 0, tsc = 0;        // steady state: from the first delivery to the last
    uint64_t wall_tsc = 0, busy_tsc = 0;  // busy: offering and collecting (the rest: waiting)
    uint64_t churn_records = 0;
    bool complete() const noexcept { return delivered == offered; }
};
PassResult offer(std::span<const Frame> frames, rte_ring* to_worker, rte_ring* from_worker, uint32_t window,
                 ControlSide& ctl, Churn* churn, NicStores nic = NicStores::streaming);

// The ports, the rings, the pools and the configuration a Worker needs; one Worker at a
// time (make_worker() for each SA layout).
class PipelineRig {
public:
    // `record_interval_us`, `burst`: the workers' dp::ServiceConfig settings.
    static std::expected<std::unique_ptr<PipelineRig>, std::string> create(
        uint32_t window, uint32_t record_interval_us = dp::ServiceConfig{}.record_interval_us,
        uint16_t burst = dp::ServiceConfig{}.burst);
    ~PipelineRig();

    // A worker with an empty engine laid out like the workload's, serving its addresses.
    // Destroy the previous worker first: they share the configuration.
    std::expected<std::unique_ptr<dp::Worker>, std::string> make_worker(EngineWorkload& w);
    // A worker with an empty engine laid out as `engine`, serving `local` with protected
    // ports `ports` (the registration benchmark: SA records only, no traffic).
    std::expected<std::unique_ptr<dp::Worker>, std::string> make_worker(const esp::EngineConfig& engine,
                                                                        const net::IpAddr& local, dp::PortRange ports);

    const RingPort& access() const noexcept { return access_; }
    const RingPort& tap() const noexcept { return tap_; }
    dp::Rings& rings() noexcept { return *rings_; }

private:
    PipelineRig() = default;

    dp::ServiceConfig cfg_;
    dp::LocalAddrs local_;
    std::unique_ptr<dp::Rings> rings_;
    std::vector<rte_mempool*> pools_;
    std::vector<rte_ring*> port_rings_;
    RingPort access_, tap_;
    rte_mempool *pkt_ = nullptr, *big_ = nullptr, *indirect_ = nullptr;
};

}  // namespace pcscf::bench
