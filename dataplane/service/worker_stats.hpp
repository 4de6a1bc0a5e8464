#pragma once
// One worker's counters besides the engine's: what came in and went out on each port, what
// was handed between workers, and the drops the service itself decided. Only the worker
// writes them; readers (telemetry) read them while it runs and tolerate staleness.
#include <cstdint>

#include "net/drop_reason.hpp"

namespace pcscf::dp {

#define PCSCF_WORKER_COUNTERS(X)                                                                                     \
    X(access_rx, "frames received on the access port")                                                               \
    X(access_tx, "frames sent on the access port")                                                                   \
    X(tap_rx, "frames received from the kernel (tap)")                                                               \
    X(tap_tx, "frames sent to the kernel (tap)")                                                                     \
    X(esp_in, "ESP packets verified and queued to the kernel")                                                       \
    X(esp_out, "packets protected with ESP and queued to the access port")                                           \
    X(exception_in,                                                                                                  \
      "plain packets queued to the kernel (ARP, ND, ICMP, SIP 5060, fragments of other protocols than ESP, UDP and " \
      "TCP)")                                                                                                        \
    X(exception_out, "plain packets from the kernel queued to the access port")                                      \
    X(handoff_sent, "packets handed to the worker owning their SA")                                                  \
    X(handoff_received, "packets received from other workers")                                                       \
    X(reassembled, "datagrams reassembled from fragments")                                                           \
    X(fragmented, "packets split to fit an MTU")                                                                     \
    X(records_applied, "SA records applied")                                                                         \
    X(records_failed, "SA records refused (see the control log)")                                                    \
    X(acks_deferred, "polls that found the event ring too full for all acknowledgements (posted by later polls)")    \
    X(record_cycles, "TSC cycles spent on SA records: take, apply, acknowledge")                                     \
    X(events_lost, "SA events dropped because the worker's event ring was full")

struct alignas(64) WorkerStats {
#define PCSCF_X(name, text) uint64_t name = 0;
    PCSCF_WORKER_COUNTERS(PCSCF_X)
#undef PCSCF_X
    net::DropCounters drops;  // service-level reasons; the engine keeps its own
};

}  // namespace pcscf::dp
