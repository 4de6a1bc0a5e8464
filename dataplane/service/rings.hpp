#pragma once
// The lockless rings between threads, single-producer single-consumer where one thread
// sits at each end. Control -> worker: SA records (one ring per worker). Worker ->
// control: SA events (one ring per worker, so a worker never contends with another for
// a ring's head, which a multi-producer enqueue takes with a locked instruction).
// Worker -> worker: packets that reached a worker which does not own their SA (two
// multi-producer rings per owner: ESP to verify, plain packets to protect).
// Records and events travel by value, so nothing is allocated or shared per message.
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_ring_peek_zc.h>

#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dataplane/esp/sa_record.hpp"

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
    uint32_t handoff = 4096;    // per worker and direction
};

class Rings {
public:
    static std::expected<std::unique_ptr<Rings>, std::string> create(uint32_t workers,
                                                                     const RingSizes& sizes,
                                                                     int socket);
    ~Rings();
    Rings(const Rings&) = delete;
    Rings& operator=(const Rings&) = delete;

    uint32_t workers() const noexcept { return uint32_t(per_worker_.size()); }

    // Control thread: queue a record for a worker. False if its ring is full (nothing is
    // queued then; the caller reports "busy" and may retry).
    bool send(uint32_t worker, const esp::SaRecord& rec) noexcept {
        // DPDK's enqueue takes a non-const pointer but only copies from it.
        return rte_ring_sp_enqueue_elem(per_worker_[worker].commands, const_cast<esp::SaRecord*>(&rec),
                                        sizeof rec) == 0;
    }
    // Control thread: take up to out.size() events, from every worker's ring.
    uint32_t receive_events(std::span<esp::SaEvent> out) noexcept;

    // Worker side: take up to out.size() records, copied out.
    uint32_t take_records(uint32_t worker, std::span<esp::SaRecord> out) noexcept {
        return rte_ring_sc_dequeue_burst_elem(per_worker_[worker].commands, out.data(),
                                              sizeof(esp::SaRecord), uint32_t(out.size()), nullptr);
    }
    // Or in two steps: peek_records() shows up to `max` waiting records where they are,
    // without copying them out; release_records(n) then takes the first n of them.
    // Nothing else may take records in between.
    RecordRuns peek_records(uint32_t worker, uint32_t max) noexcept;
    void release_records(uint32_t worker, uint32_t n) noexcept {
        rte_ring_dequeue_zc_elem_finish(per_worker_[worker].commands, n);
    }
    bool post_event(uint32_t worker, const esp::SaEvent& e) noexcept {
        return rte_ring_sp_enqueue_elem(per_worker_[worker].events, const_cast<esp::SaEvent*>(&e),
                                        sizeof e) == 0;
    }
    // As many of `ev` as there is room for, in order, in one enqueue; returns how many.
    uint32_t post_events(uint32_t worker, std::span<const esp::SaEvent> ev) noexcept {
        return rte_ring_sp_enqueue_burst_elem(per_worker_[worker].events,
                                              const_cast<esp::SaEvent*>(ev.data()),
                                              sizeof(esp::SaEvent), uint32_t(ev.size()), nullptr);
    }
    rte_ring* handoff_esp(uint32_t worker) const noexcept { return per_worker_[worker].esp; }
    rte_ring* handoff_plain(uint32_t worker) const noexcept { return per_worker_[worker].plain; }
    uint32_t pending_records(uint32_t worker) const noexcept {
        return rte_ring_count(per_worker_[worker].commands);
    }

private:
    struct PerWorker {
        rte_ring* commands = nullptr;
        rte_ring* events = nullptr;
        rte_ring* esp = nullptr;
        rte_ring* plain = nullptr;
    };
    Rings() = default;
    std::vector<PerWorker> per_worker_;
};

}  // namespace pcscf::dp
