#pragma once
// The lockless rings between threads. Control -> worker: SA records (one single-producer
// single-consumer ring per worker). Workers -> control: SA events (one multi-producer
// ring). Worker -> worker: packets that reached a worker which does not own their SA
// (two multi-producer rings per owner: ESP to verify, plain packets to protect).
// Records and events travel by value, so nothing is allocated or shared per message.
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dataplane/esp/sa_record.hpp"

namespace pcscf::dp {

struct RingSizes {
    uint32_t commands = 16384;  // per worker: SA records not yet applied
    uint32_t events = 65536;    // all workers: events the control thread has not read yet
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
    // Control thread: take up to out.size() events.
    uint32_t receive_events(std::span<esp::SaEvent> out) noexcept {
        return rte_ring_sc_dequeue_burst_elem(events_, out.data(), sizeof(esp::SaEvent),
                                              uint32_t(out.size()), nullptr);
    }

    // Worker side.
    uint32_t take_records(uint32_t worker, std::span<esp::SaRecord> out) noexcept {
        return rte_ring_sc_dequeue_burst_elem(per_worker_[worker].commands, out.data(),
                                              sizeof(esp::SaRecord), uint32_t(out.size()), nullptr);
    }
    bool post_event(const esp::SaEvent& e) noexcept {
        return rte_ring_mp_enqueue_elem(events_, const_cast<esp::SaEvent*>(&e), sizeof e) == 0;
    }
    // As many of `ev` as there is room for, in order, in one enqueue; returns how many.
    uint32_t post_events(std::span<const esp::SaEvent> ev) noexcept {
        return rte_ring_mp_enqueue_burst_elem(events_, const_cast<esp::SaEvent*>(ev.data()),
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
        rte_ring* esp = nullptr;
        rte_ring* plain = nullptr;
    };
    Rings() = default;
    std::vector<PerWorker> per_worker_;
    rte_ring* events_ = nullptr;
};

}  // namespace pcscf::dp
