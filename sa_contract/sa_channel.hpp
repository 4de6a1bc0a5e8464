#pragma once
// The control thread's end of the SA rings, as SaManager uses it: records to each worker's
// command ring, events from every worker's event ring. An interface, so the control side
// does not depend on how the rings are made (dp::ControlRings: rte_rings).
#include <cstdint>
#include <span>

#include "sa_contract/sa_record.hpp"

namespace pcscf::esp {

class SaChannel {
public:
    virtual ~SaChannel() = default;
    virtual uint32_t workers() const noexcept = 0;
    // False if the worker's ring is full: nothing is queued then (try again later).
    virtual bool send(uint32_t worker, const SaRecord& rec) noexcept = 0;
    // All of `recs` in one enqueue, or none of them (false: not room for all).
    virtual bool send_all(uint32_t worker, std::span<const SaRecord> recs) noexcept = 0;
    // Up to out.size() events, from every worker's ring, each worker's in order.
    virtual uint32_t receive_events(std::span<SaEvent> out) noexcept = 0;
    // Records sent to the worker that it has not taken yet.
    virtual uint32_t pending(uint32_t worker) const noexcept = 0;
};

}  // namespace pcscf::esp
