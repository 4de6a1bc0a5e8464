#include "dataplane/service/worker.hpp"

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>

#include <cerrno>

#include "dataplane/service/record_apply.hpp"
#include "net/mbuf_ip.hpp"
#include "sa_contract/owner.hpp"

namespace pcscf::dp {

using net::DropReason;

std::expected<WorkerParts, std::string> make_worker_parts(const ServiceConfig& cfg, uint32_t index, rte_mempool* pkt,
                                                          rte_mempool* big, rte_mempool* indirect, int socket) {
    WorkerParts parts;
    parts.index = index;
    esp::EngineConfig ec = cfg.engine;
    ec.worker = index;
    ec.spi.workers = cfg.workers;
    ec.socket = socket;
    auto engine = esp::Engine::create(ec);
    if (!engine) return std::unexpected(engine.error());
    parts.engine = std::move(*engine);
    ipfrag::ReassemblyConfig rc;
    rc.max_flows = cfg.reassembly_flows;
    rc.timeout_ms = cfg.reassembly_timeout_ms;
    rc.max_datagram = cfg.max_datagram;
    for (auto* slot : {&parts.access_reassembly, &parts.tap_reassembly}) {
        auto r = ipfrag::Reassembler::create(rc, big, socket);
        if (!r) return std::unexpected(r.error());
        *slot = std::make_unique<ipfrag::Reassembler>(std::move(*r));
    }
    parts.fragmenter = std::make_unique<ipfrag::Fragmenter>(pkt, indirect, index, cfg.workers);
    return parts;
}

Worker::Worker(const ServiceConfig& cfg, const LocalAddrs& local, WorkerRings rings, WorkerParts parts)
    : cfg_(cfg),
      local_(local),
      rings_(rings),
      parts_(std::move(parts)),
      access_tx_(parts_.access_port, uint16_t(parts_.index)),
      tap_tx_(parts_.tap_port, uint16_t(parts_.index)),
      handing_esp_{std::vector<Batch>(cfg.workers), &WorkerRings::hand_esp},
      handing_plain_{std::vector<Batch>(cfg.workers), &WorkerRings::hand_plain},
      record_interval_(rte_get_tsc_hz() * cfg.record_interval_us / 1'000'000) {}

void Worker::run(const std::atomic<bool>& running) noexcept {
    while (running.load(std::memory_order_relaxed)) poll();
}

uint32_t Worker::poll() noexcept {
    const uint16_t burst = cfg_.burst < kMaxBurst ? cfg_.burst : kMaxBurst;
    const uint16_t q = uint16_t(parts_.index);
    rte_mbuf* rx[kMaxBurst];
    now_ = rte_rdtsc();
    standing_by_ = !serving_->load(std::memory_order_relaxed);
    if (!unposted_acks_.empty()) post_acks();
    else if (now_ >= next_records_) {
        if (looked_at_.size() == 0) look_at_records();
        else apply_records();
    }

    // From the UEs, then whatever other workers handed us.
    uint16_t n = rte_eth_rx_burst(parts_.access_port, q, rx, burst);
    stats_.access_rx += n;
    sort_burst({rx, n}, parts_.access_vlan.id != 0 ? &Worker::from_access_vlan : &Worker::from_access);
    hand_all(handing_esp_);
    uint32_t handled = n;
    verify_received();
    handled += take_handoff(esp(), burst, &WorkerRings::take_handed_esp);
    verify(esp());

    // From the kernel, then handed-over packets to protect.
    n = rte_eth_rx_burst(parts_.tap_port, q, rx, burst);
    stats_.tap_rx += n;
    sort_burst({rx, n}, &Worker::from_tap);
    hand_all(handing_plain_);
    handled += n;
    protect(plain_);
    handled += take_handoff(plain_, burst, &WorkerRings::take_handed_plain);
    protect(plain_);

    stats_.drops.count[size_t(DropReason::tx_full)] += access_tx_.flush() + tap_tx_.flush();
    stats_.access_tx = access_tx_.sent();
    stats_.tap_tx = tap_tx_.sent();
    post_events();
    if ((++polls_ & 1023) == 0) {  // fragments that never completed
        parts_.access_reassembly->expire(now_, stats_.drops);
        parts_.tap_reassembly->expire(now_, stats_.drops);
    }
    return handled;
}

// Classification is the first to read a received frame: its mbuf and headers come from
// the NIC (or another core), so they are fetched a few frames ahead, not missed one by one.
void Worker::sort_burst(std::span<rte_mbuf*> rx, void (Worker::*sort)(rte_mbuf*)) noexcept {
    net::prefetch_first(rx);
    for (uint32_t i = 0; i < rx.size(); ++i) {
        net::prefetch_ahead(rx, i);
        (this->*sort)(rx[i]);
    }
}

// This poll's ESP from the access port: verified now, or held back one poll while the
// engine looks ahead and traffic keeps coming (see esp_batches_).
void Worker::verify_received() noexcept {
    if (esp().n > 0 && parts_.engine->looks_ahead()) {
        verify(held(), &esp());
        fresh_ ^= 1;  // this poll's is held; the emptied batch fills next
        return;
    }
    verify(held());  // nothing came (or no look-ahead): nothing waits
    verify(esp());
}

// Packets other workers handed over, into an empty batch.
uint16_t Worker::take_handoff(Batch& b, uint16_t burst, Take take) noexcept {
    b.n = (rings_.*take)({b.m, burst});
    stats_.handoff_received += b.n;
    return b.n;
}

// Finds the waiting records and requests their lines; the next poll applies them.
void Worker::look_at_records() noexcept {
    looked_at_ = rings_.peek_records(kMaxRecords);
    if (looked_at_.size() == 0) {
        next_records_ = now_ + record_interval_;  // drained: wait a while
        return;
    }
    for (const auto run : {looked_at_.first, looked_at_.second})
        net::prefetch_lines(run.data(), run.data() + run.size());
    stats_.record_cycles += rte_rdtsc() - now_;
}

void Worker::apply_records() noexcept {
    const RecordRuns recs = looked_at_;
    const uint32_t n = recs.size();
    apply_and_acknowledge(*parts_.engine, recs, parts_.index, acks_);
    for (uint32_t i = 0; i < n; ++i) ++(acks_[i].result == 0 ? stats_.records_applied : stats_.records_failed);
    // The slots go back to the control thread only now that nothing reads them.
    rings_.release_records(n);
    looked_at_ = {};
    if (n < kMaxRecords) next_records_ = now_ + record_interval_;  // drained: wait a while
    unposted_acks_ = {acks_.data(), n};
    post_acks();
}

// One enqueue for all acknowledgements: each enqueue moves the ring's shared lines between
// this core and the control thread's. None may be lost: what does not fit waits for the
// next poll, and no record is taken until all are posted.
void Worker::post_acks() noexcept {
    const uint32_t k = rings_.post_events(unposted_acks_);
    unposted_acks_ = unposted_acks_.subspan(k);
    if (!unposted_acks_.empty()) ++stats_.acks_deferred;
    stats_.record_cycles += rte_rdtsc() - now_;  // now_: this poll's start, just before
}

void Worker::from_access(rte_mbuf* m) noexcept {
    const FrameInfo f = classify_access(m, local_, cfg_.protected_ports);
    switch (f.kind) {
        case FrameKind::esp: {
            // Bare or in UDP to 4500; no SPI (a NAT keep-alive, the non-ESP marker) is
            // none of the layout's, so this worker's engine counts it.
            const uint32_t owner = esp::owner_of_spi(f.spi, parts_.engine->spi(), parts_.index);
            mark_ip_checked(m);
            if (owner != parts_.index) return hand_later(handing_esp_, owner, m);
            Batch& b = esp();
            if (b.n == kMaxBurst) verify(b);
            b.m[b.n++] = m;
            return;
        }
        case FrameKind::fragment: {
            // Another protocol's fragment: the kernel reassembles it (by protocol too).
            if (!ipfrag::Reassembler::wanted(m, kEthLen)) return pass_to_tap(m);
            rte_mbuf* whole = parts_.access_reassembly->add(m, kEthLen, now_, stats_.drops);
            if (whole == nullptr) return;  // incomplete, or dropped and counted there
            ++stats_.reassembled;
            return from_access(whole);
        }
        case FrameKind::protected_plain: return drop(m, DropReason::unprotected_to_protected_port);
        case FrameKind::drop: return drop(m, f.reason);
        case FrameKind::pass:
        case FrameKind::protect: return pass_to_tap(m);
    }
}

void Worker::from_access_vlan(rte_mbuf* m) noexcept {
    if (unlikely(!parts_.access_vlan.untag(m))) return drop(m, DropReason::wrong_vlan);
    from_access(m);
}

void Worker::pass_to_tap(rte_mbuf* m) noexcept {
    if (to_tap(m)) ++stats_.exception_in;
}

void Worker::pass_to_access(rte_mbuf* m) noexcept {
    if (to_access(m)) ++stats_.exception_out;
}

void Worker::from_tap(rte_mbuf* m) noexcept {
    const FrameInfo f = classify_tap(m, cfg_.protected_ports);
    switch (f.kind) {
        case FrameKind::protect: {
            const uint32_t owner = esp::owner_of(f.peer, cfg_.workers);
            mark_ip_checked(m);
            if (owner != parts_.index) return hand_later(handing_plain_, owner, m);
            if (plain_.n == kMaxBurst) protect(plain_);
            plain_.m[plain_.n++] = m;
            return;
        }
        case FrameKind::fragment: {
            if (!ipfrag::Reassembler::wanted(m, kEthLen)) return pass_to_access(m);
            rte_mbuf* whole = parts_.tap_reassembly->add(m, kEthLen, now_, stats_.drops);
            if (whole == nullptr) return;
            ++stats_.reassembled;
            return from_tap(whole);
        }
        case FrameKind::drop: return drop(m, f.reason);
        case FrameKind::esp:
        case FrameKind::protected_plain:
        case FrameKind::pass: return pass_to_access(m);
    }
}

bool Worker::stood_by(Batch& b) noexcept {
    if (!standing_by_) return false;
    stats_.drops.count[size_t(DropReason::standby)] += b.n;
    rte_pktmbuf_free_bulk(b.m, b.n);
    b.n = 0;
    return true;
}

void Worker::verify(Batch& b, const Batch* next) noexcept {
    if (b.n == 0 || stood_by(b)) return;
    DropReason why[kMaxBurst];
    const std::span<rte_mbuf* const> ahead =
        next != nullptr ? std::span<rte_mbuf* const>{next->m, next->n} : std::span<rte_mbuf* const>{};
    const uint16_t good = parts_.engine->inbound({b.m, b.n}, why, kEthLen, ahead);
    for (uint16_t i = 0; i < good; ++i) stats_.esp_in += to_tap(b.m[i]);
    rte_pktmbuf_free_bulk(b.m + good, b.n - good);  // counted by the engine
    b.n = 0;
}

void Worker::protect(Batch& b) noexcept {
    if (b.n == 0 || stood_by(b)) return;
    DropReason why[kMaxBurst];
    const uint16_t good = parts_.engine->outbound({b.m, b.n}, why, kEthLen);
    for (uint16_t i = 0; i < good; ++i) stats_.esp_out += to_access(b.m[i]);
    rte_pktmbuf_free_bulk(b.m + good, b.n - good);
    b.n = 0;
}

bool Worker::to_tap(rte_mbuf* m) noexcept { return send_fitting(tap_tx_, m, cfg_.tap_mtu, false); }

bool Worker::to_access(rte_mbuf* m) noexcept {
    return send_fitting(access_tx_, m, cfg_.access_mtu, parts_.access_vlan.id != 0);
}

// Frames whose IP datagram exceeds the MTU leave as fragments.
bool Worker::send_fitting(TxQueue& q, rte_mbuf* m, uint16_t mtu, bool tag) noexcept {
    if (likely(m->pkt_len <= uint32_t(mtu) + kEthLen)) return queue(q, m, tag);
    rte_mbuf* parts[TxQueue::kSize];
    DropReason why = DropReason::fragmentation_failed;
    const uint16_t n = parts_.fragmenter->fragment(m, kEthLen, mtu, parts, why);
    if (n == 0) {
        stats_.drops.add(why);
        return false;
    }
    ++stats_.fragmented;
    bool all = true;
    for (uint16_t i = 0; i < n; ++i) all &= queue(q, parts[i], tag);
    return all;
}

bool Worker::queue(TxQueue& q, rte_mbuf* m, bool tag) noexcept {
    if (unlikely(tag) && !parts_.access_vlan.tag(m)) {
        drop(m, DropReason::vlan_insert_failed);
        return false;
    }
    stats_.drops.count[size_t(DropReason::tx_full)] += q.push(m);
    return true;
}

void Worker::hand_later(Handing& h, uint32_t owner, rte_mbuf* m) noexcept {
    Batch& b = h.to[owner];
    if (b.n == kMaxBurst) hand_over(h, owner);
    b.m[b.n++] = m;
}

void Worker::hand_over(Handing& h, uint32_t owner) noexcept {
    Batch& b = h.to[owner];
    const uint16_t k = (rings_.*h.hand)(owner, {b.m, b.n});
    stats_.handoff_sent += k;
    stats_.drops.count[size_t(DropReason::handoff_full)] += b.n - k;
    rte_pktmbuf_free_bulk(b.m + k, b.n - k);
    b.n = 0;
}

void Worker::hand_all(Handing& h) noexcept {
    for (uint32_t owner = 0; owner < h.to.size(); ++owner)
        if (h.to[owner].n != 0) hand_over(h, owner);
}

void Worker::drop(rte_mbuf* m, DropReason r) noexcept {
    stats_.drops.add(r);
    rte_pktmbuf_free(m);
}

void Worker::post_events() noexcept {
    const std::span<const esp::SaEvent> ev = parts_.engine->events();
    if (ev.empty()) return;
    stats_.events_lost += ev.size() - rings_.post_events(ev);  // one enqueue for the poll's events
    parts_.engine->clear_events();
}

void Worker::drain() noexcept {
    for (Batch* b : {&esp_batches_[0], &esp_batches_[1], &plain_}) {
        rte_pktmbuf_free_bulk(b->m, b->n);
        b->n = 0;
    }
    for (Handing* h : {&handing_esp_, &handing_plain_})
        for (Batch& b : h->to) {
            rte_pktmbuf_free_bulk(b.m, b.n);
            b.n = 0;
        }
    access_tx_.drop_all();
    tap_tx_.drop_all();
    rte_mbuf* m[kMaxBurst];
    for (uint16_t n; (n = rings_.take_handed_esp(m)) > 0;) rte_pktmbuf_free_bulk(m, n);
    for (uint16_t n; (n = rings_.take_handed_plain(m)) > 0;) rte_pktmbuf_free_bulk(m, n);
}

}  // namespace pcscf::dp
