#pragma once
// The lockless rings between threads, single-producer single-consumer where one thread
// sits at each end. Control -> worker: SA records (one ring per worker). Worker ->
// control: SA events (one ring per worker, so a worker never contends with another for
// a ring's head, which a multi-producer enqueue takes with a locked instruction).
// Worker -> worker: packets that reached a worker which does not own their SA (two rings
// per pair of workers, ESP to verify and plain packets to protect: single-producer, so a
// worker hands a burst over with one enqueue and never contends with a third worker).
// Records and events travel by value, so nothing is allocated or shared per message.
//
// Rings owns them all and hands each thread only its end: ControlRings to the control
// thread, a WorkerRings to each worker.
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_ring_peek_zc.h>

#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sa_contract/sa_channel.hpp"

namespace pcscf::dp {

// Records still in the command ring, read in place: one run, or two where the ring wraps.
struct RecordRuns {
    std::span<const esp::SaRecord> first, second;
    uint32_t size() const noexcept { return uint32_t(first.size() + second.size()); }
    const esp::SaRecord& operator[](uint32_t i) const noexcept {
        return i < first.size() ? first[i] : second[i - first.size()];
    }
};

struct RingSizes {
    uint32_t commands = 16384;  // per worker: SA records not yet applied
    uint32_t events = 65536;    // per worker: events the control thread has not read yet
    uint32_t handoff = 4096;    // per worker and direction, shared out over the rings of the
                                // workers that hand to it (handoff_per_pair)
};

// Slots of each worker pair's handoff ring: a worker's share split over the N-1 workers
// that hand to it, so memory grows with N, not N squared; at least 256 (four of the
// largest bursts), or all of `handoff` if less; a power of two, as rte_ring wants.
uint32_t handoff_per_pair(const RingSizes& sizes, uint32_t workers) noexcept;

namespace detail {
struct PerWorker {
    rte_ring* commands = nullptr;
    rte_ring* events = nullptr;
    std::vector<rte_ring*> esp, plain;  // [from]: handed to this worker by worker `from`
};
}  // namespace detail

// The control thread's end: records out to every worker, events in from every worker.
class ControlRings final : public esp::SaChannel {
public:
    explicit ControlRings(const std::vector<detail::PerWorker>& w) noexcept : w_(w) {}
    uint32_t workers() const noexcept override { return uint32_t(w_.size()); }
    bool send(uint32_t worker, const esp::SaRecord& rec) noexcept override {
        // DPDK's enqueue takes a non-const pointer but only copies from it.
        return rte_ring_sp_enqueue_elem(w_[worker].commands, const_cast<esp::SaRecord*>(&rec), sizeof rec) == 0;
    }
    bool send_all(uint32_t worker, std::span<const esp::SaRecord> recs) noexcept override {
        return rte_ring_sp_enqueue_bulk_elem(w_[worker].commands, const_cast<esp::SaRecord*>(recs.data()),
                                             sizeof(esp::SaRecord), uint32_t(recs.size()), nullptr) == recs.size();
    }
    uint32_t receive_events(std::span<esp::SaEvent> out) noexcept override;
    uint32_t pending(uint32_t worker) const noexcept override { return rte_ring_count(w_[worker].commands); }

private:
    const std::vector<detail::PerWorker>& w_;
};

// One worker's end: its SA records in and its events out, the packets handed to it, and
// the other workers' handoff rings to hand packets to.
class WorkerRings {
public:
    WorkerRings(const std::vector<detail::PerWorker>& w, uint32_t index) noexcept : w_(w), i_(index) {}

    // Records in two steps: peek_records() shows up to `max` waiting records where they
    // are, without copying them out; release_records(n) then takes the first n of them.
    RecordRuns peek_records(uint32_t max) noexcept;
    void release_records(uint32_t n) noexcept { rte_ring_dequeue_zc_elem_finish(w_[i_].commands, n); }

    bool post_event(const esp::SaEvent& e) noexcept {
        return rte_ring_sp_enqueue_elem(w_[i_].events, const_cast<esp::SaEvent*>(&e), sizeof e) == 0;
    }
    // As many of `ev` as there is room for, in order, in one enqueue; returns how many.
    uint32_t post_events(std::span<const esp::SaEvent> ev) noexcept {
        return rte_ring_sp_enqueue_burst_elem(w_[i_].events, const_cast<esp::SaEvent*>(ev.data()), sizeof(esp::SaEvent),
                                              uint32_t(ev.size()), nullptr);
    }

    // Packets other workers handed to this one, up to out.size(), taken from each
    // worker's ring in turn (the first one asked moves on every call, so none starves).
    uint16_t take_handed_esp(std::span<rte_mbuf*> out) noexcept { return take(w_[i_].esp, out); }
    uint16_t take_handed_plain(std::span<rte_mbuf*> out) noexcept { return take(w_[i_].plain, out); }
    // Hands packets to their SAs' owner in one enqueue; returns how many fit, in order.
    uint16_t hand_esp(uint32_t owner, std::span<rte_mbuf* const> m) noexcept { return hand(w_[owner].esp[i_], m); }
    uint16_t hand_plain(uint32_t owner, std::span<rte_mbuf* const> m) noexcept { return hand(w_[owner].plain[i_], m); }

private:
    uint16_t take(const std::vector<rte_ring*>& from, std::span<rte_mbuf*> out) noexcept;
    static uint16_t hand(rte_ring* r, std::span<rte_mbuf* const> m) noexcept {
        return uint16_t(
            rte_ring_sp_enqueue_burst(r, reinterpret_cast<void* const*>(m.data()), uint32_t(m.size()), nullptr));
    }
    const std::vector<detail::PerWorker>& w_;
    uint32_t i_;
    uint32_t first_ = 0;  // the worker whose ring take() asks first
};

class Rings {
public:
    static std::expected<std::unique_ptr<Rings>, std::string> create(uint32_t workers, const RingSizes& sizes,
                                                                     int socket);
    ~Rings();
    Rings(const Rings&) = delete;
    Rings& operator=(const Rings&) = delete;

    uint32_t workers() const noexcept { return uint32_t(per_worker_.size()); }
    ControlRings& control() noexcept { return control_; }
    WorkerRings worker(uint32_t index) noexcept { return {per_worker_, index}; }

private:
    Rings() : control_(per_worker_) {}
    std::vector<detail::PerWorker> per_worker_;
    ControlRings control_;
};

}  // namespace pcscf::dp
