#include "bench/pipeline_rig.hpp"

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_pause.h>
#include <x86intrin.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <fstream>

#include <unistd.h>

#include "dataplane/service/ports.hpp"

namespace pcscf::bench {

using esp::SaRecord;

std::vector<Frame> make_frames(std::span<const Template> ts) {
    // Any unicast MACs: the worker does not look at them. The EtherType follows the IP
    // version of the packet inside.
    static constexpr uint8_t kMacs[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
    static_assert(alignof(rte_mbuf) == 64 && offsetof(rte_mbuf, data_len) + 2 <= 64);
    std::vector<Frame> out(ts.size());
    for (size_t i = 0; i < ts.size(); ++i) {
        const Template& t = ts[i];
        Frame& f = out[i];
        f.m = t.m;
        f.data_off = uint16_t(t.data_off - dp::kEthLen);
        f.len = uint16_t(t.len + dp::kEthLen);
        // The mbuf's first line as it is now with the frame's offset and lengths: its other
        // fields (buffer, pool, one reference, one segment) stay as they are while it circulates.
        const uint32_t pkt_len = f.len;
        std::memcpy(f.mbuf_line.data(), f.m, 64);
        std::memcpy(&f.mbuf_line[offsetof(rte_mbuf, data_off)], &f.data_off, 2);
        std::memcpy(&f.mbuf_line[offsetof(rte_mbuf, data_len)], &f.len, 2);
        std::memcpy(&f.mbuf_line[offsetof(rte_mbuf, pkt_len)], &pkt_len, 4);
        auto* start = static_cast<uint8_t*>(f.m->buf_addr) + f.data_off;
        f.first_line = reinterpret_cast<uint8_t*>(uintptr_t(start) & ~uintptr_t(63));
        f.head = uint8_t(start - f.first_line);
        f.n_lines = uint8_t((f.head + Frame::kRestore + 63) / 64);
        std::memcpy(f.lines.data(), f.first_line, 64 * f.n_lines);
        uint8_t* hdr = &f.lines[f.head];
        const uint16_t type = t.hdr[0] >> 4 == 6 ? dp::kEtherIpv6 : dp::kEtherIpv4;
        std::memcpy(hdr, kMacs, sizeof kMacs);
        hdr[12] = uint8_t(type >> 8);
        hdr[13] = uint8_t(type);
        std::memcpy(hdr + dp::kEthLen, t.hdr.data(), t.hdr.size());
    }
    return out;
}

// ---- control side ----------------------------------------------------------------------

bool ControlSide::try_send(const SaRecord& r) noexcept {
    if (!rings_.send(0, r)) return false;
    ++sent_;
    return true;
}

void ControlSide::send(const SaRecord& r) {
    while (!try_send(r)) pump();
}

void ControlSide::pump() noexcept {
    esp::SaEvent ev[64];
    for (uint32_t n; (n = rings_.receive_events(ev)) > 0;)
        for (uint32_t i = 0; i < n; ++i) {
            if (ev[i].kind != esp::EventKind::applied) {
                ++events_;
                continue;
            }
            ++acked_;
            if (ev[i].result != 0) ++failed_;
        }
}

bool ControlSide::settle(double seconds) {
    const uint64_t deadline = rte_rdtsc() + uint64_t(seconds * double(rte_get_tsc_hz()));
    while (acked_ < sent_) {
        pump();
        if (rte_rdtsc() > deadline) return false;
    }
    return true;
}

// ---- worker lcore ----------------------------------------------------------------------

uint64_t preemptions_of(pid_t tid) {
    std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/status");
    for (std::string line; std::getline(f, line);)
        if (line.starts_with("nonvoluntary_ctxt_switches:")) return std::stoull(line.substr(line.find(':') + 1));
    return 0;
}

int WorkerLcore::main(void* self) {
    auto* l = static_cast<WorkerLcore*>(self);
    l->tid_.store(gettid());
    if (l->job_) {
        l->job_();
        l->ready_.store(true);
        return 0;
    }
    if (l->evict_) EngineWorkload::evict_caches();
    l->ready_.store(true);
    l->worker_->run(l->running_);
    return 0;
}

// Spins as the NIC side does while it waits for the worker, so that the in-memory engine
// runs beside the same neighbour as the pipeline (on a VM whose two vCPUs may share a
// physical core, an idle vCPU lets other guests in).
void WorkerLcore::wait_ready() const {
    while (!ready_.load()) rte_pause();
}

void WorkerLcore::start(dp::Worker& w, bool evict_first) {
    stop();
    worker_ = &w;
    evict_ = evict_first;
    running_.store(true);
    ready_.store(false);
    if (rte_eal_remote_launch(main, this, lcore_) != 0) throw std::runtime_error("lcore busy");
    launched_ = true;
    wait_ready();
}

void WorkerLcore::stop() {
    if (!launched_) return;
    running_.store(false);
    rte_eal_wait_lcore(lcore_);
    launched_ = false;
}

void WorkerLcore::run(std::function<void()> job) {
    stop();
    job_ = std::move(job);
    ready_.store(false);
    if (rte_eal_remote_launch(main, this, lcore_) != 0) throw std::runtime_error("lcore busy");
    wait_ready();
    rte_eal_wait_lcore(lcore_);
    job_ = nullptr;
}

// ---- the NIC side ----------------------------------------------------------------------

namespace {

// What a NIC and its driver leave in an mbuf before the burst is handed over.
inline void restore_cached(const Frame& f) noexcept {
    rte_mbuf* m = f.m;
    m->data_off = f.data_off;
    m->data_len = f.len;
    m->pkt_len = f.len;
    std::memcpy(f.first_line + f.head, &f.lines[f.head], Frame::kRestore);
}

// The same, as whole lines that bypass this CPU's caches (no read for ownership, no copy
// left behind); visible to the worker once an sfence has drained them.
inline void stream_line(void* to, const uint8_t* from) noexcept {
    auto* d = static_cast<__m128i*>(to);
    const auto* s = reinterpret_cast<const __m128i*>(from);
    for (int i = 0; i < 4; ++i) _mm_stream_si128(d + i, _mm_load_si128(s + i));
}
inline void restore_streaming(const Frame& f) noexcept {
    stream_line(f.m, f.mbuf_line.data());
    for (uint32_t k = 0; k < f.n_lines; ++k) stream_line(f.first_line + 64 * k, &f.lines[64 * k]);
}

}  // namespace

PassResult offer(std::span<const Frame> frames, rte_ring* to_worker, rte_ring* from_worker, uint32_t window,
                 ControlSide& ctl, Churn* churn, NicStores nic) {
    constexpr uint32_t kBurst = 64;
    const uint64_t stall = rte_get_tsc_hz() * 5;  // no progress for 5 s: packets were lost
    // pcscf-espd's control thread drains the event ring and sleeps 200 us when it is empty.
    const uint64_t pump_every = rte_get_tsc_hz() / 5000;
    PassResult r;
    const size_t n = frames.size();
    void* out[kBurst];
    void* in[kBurst];
    const uint64_t begin = rte_rdtsc();
    uint64_t first = 0, first_n = 0, last = 0, progress = begin, start = begin, pumped = begin;
    if (churn != nullptr) churn->start(begin);
    while (r.delivered < n) {
        bool moved = false;
        const uint32_t got = rte_ring_sc_dequeue_burst(from_worker, out, kBurst, nullptr);
        if (got > 0) {
            last = rte_rdtsc();
            if (r.delivered == 0) {
                first = last;
                first_n = got;
            }
            r.delivered += got;
            moved = true;
        }
        const uint64_t room = std::min<uint64_t>({window - (r.offered - r.delivered), n - r.offered, kBurst});
        if (room > 0) {
            for (uint64_t i = 0; i < room; ++i) {
                const Frame& f = frames[r.offered + i];
                if (nic == NicStores::streaming) restore_streaming(f);
                else restore_cached(f);
                in[i] = f.m;
            }
            if (nic == NicStores::streaming) _mm_sfence();  // the lines before the pointers
            // The ring holds at least `window` frames: this never fails.
            rte_ring_sp_enqueue_bulk(to_worker, in, uint32_t(room), nullptr);
            r.offered += room;
            moved = true;
        }
        const uint64_t now = rte_rdtsc();
        if (churn != nullptr) churn->tick(ctl, now);
        if (now - pumped >= pump_every) {
            ctl.pump();
            pumped = now;
        }
        if (moved) {
            r.busy_tsc += now - start;
            progress = start = now;
        } else {
            if (now - progress > stall) break;
            // A NIC does not poll the host's cache lines: back off a little (well under
            // the time the worker needs for the window in flight) so the rings' lines
            // are not pulled away from the worker on every store.
            for (int i = 0; i < 16; ++i) rte_pause();
            start = rte_rdtsc();
        }
    }
    r.wall_tsc = rte_rdtsc() - begin;
    r.counted = r.delivered - first_n;
    r.tsc = last - first;
    if (churn != nullptr) r.churn_records = churn->records();
    return r;
}

// ---- the rig ---------------------------------------------------------------------------

namespace {

std::expected<rte_mempool*, std::string> pool(const char* name, uint32_t n, uint32_t room) {
    rte_mempool* p = rte_pktmbuf_pool_create(name, n, 0, 0, uint16_t(room), int(rte_socket_id()));
    if (p == nullptr) return std::unexpected(std::string("mbuf pool ") + name + ": " + rte_strerror(rte_errno));
    return p;
}

}  // namespace

std::expected<std::unique_ptr<PipelineRig>, std::string> PipelineRig::create(uint32_t window,
                                                                             uint32_t record_interval_us,
                                                                             uint16_t burst) {
    std::unique_ptr<PipelineRig> rig(new PipelineRig());
    rig->cfg_.record_interval_us = record_interval_us;
    rig->cfg_.burst = burst;
    auto pkt = pool("pipe_pkt", 1023, RTE_MBUF_DEFAULT_BUF_SIZE);
    auto big = pool("pipe_big", 63,
                    std::min<uint32_t>(UINT16_MAX, rig->cfg_.max_datagram + dp::kEthLen + RTE_PKTMBUF_HEADROOM));
    auto ind = pool("pipe_ind", 1023, 0);
    for (auto* p : {&pkt, &big, &ind}) {
        if (!*p) return std::unexpected(p->error());
        rig->pools_.push_back(**p);
    }
    rig->pkt_ = *pkt;
    rig->big_ = *big;
    rig->indirect_ = *ind;

    // Each ring holds a whole window, so neither side ever finds one full.
    const uint32_t size = rte_align32pow2(window + 1);
    for (RingPort* p : {&rig->access_, &rig->tap_}) {
        const std::string name = p == &rig->access_ ? "pipe_access" : "pipe_tap";
        for (rte_ring** r : {&p->rx, &p->tx}) {
            const std::string rn = name + (r == &p->rx ? "_rx" : "_tx");
            *r = rte_ring_create(rn.c_str(), size, int(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
            if (*r == nullptr) return std::unexpected("ring " + rn + ": " + rte_strerror(rte_errno));
            rig->port_rings_.push_back(*r);
        }
        const int id = rte_eth_from_rings(name.c_str(), &p->rx, 1, &p->tx, 1, rte_socket_id());
        if (id < 0) return std::unexpected("net_ring port " + name + ": " + rte_strerror(rte_errno));
        p->port = uint16_t(id);
        dp::PortSetup setup{p->port, 1, 1024, 1024, {rig->pkt_}, 1500};
        if (auto r = dp::start_port(setup); !r) return std::unexpected(name + ": " + r.error());
        p->started = true;
    }
    auto rings = dp::Rings::create(1, dp::RingSizes{}, int(rte_socket_id()));
    if (!rings) return std::unexpected(rings.error());
    rig->rings_ = std::move(*rings);
    return rig;
}

PipelineRig::~PipelineRig() {
    for (const RingPort* p : {&access_, &tap_})
        if (p->started) dp::stop_port(p->port);
    rings_.reset();
    for (rte_ring* r : port_rings_) rte_ring_free(r);
    for (rte_mempool* p : pools_) rte_mempool_free(p);
}

std::expected<std::unique_ptr<dp::Worker>, std::string> PipelineRig::make_worker(EngineWorkload& w) {
    // The service as pcscf-espd configures it, on the workload's address and P-CSCF port.
    const SaRecord any = w.inbound_record(0);
    return make_worker(w.engine().config(), any.sa.pcscf_addr, {any.sa.pcscf_port, any.sa.pcscf_port});
}

std::expected<std::unique_ptr<dp::Worker>, std::string> PipelineRig::make_worker(const esp::EngineConfig& engine,
                                                                                 const net::IpAddr& local,
                                                                                 dp::PortRange ports) {
    cfg_.workers = 1;
    cfg_.worker_lcores = {rte_lcore_id()};  // not used: the bench launches the worker itself
    cfg_.local_addrs = {local};
    cfg_.protected_ports = ports;
    local_ = dp::LocalAddrs{};
    local_.add(local);

    cfg_.engine = engine;
    auto parts = dp::make_worker_parts(cfg_, 0, pkt_, big_, indirect_, int(rte_socket_id()));
    if (!parts) return std::unexpected(parts.error());
    parts->access_port = access_.port;
    parts->tap_port = tap_.port;
    return std::make_unique<dp::Worker>(cfg_, local_, rings_->worker(0), std::move(*parts));
}

}  // namespace pcscf::bench
