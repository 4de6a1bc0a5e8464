#pragma once
// The messages between the control thread and a worker: SA add / remove / update records
// in, SA events out. Plain fixed-size values, so they travel by copy through rte_rings
// and nothing is allocated or shared.
#include <cstdint>
#include <type_traits>

#include "sa_contract/sa_config.hpp"

namespace pcscf::esp {

enum class SaOp : uint8_t {
    add = 1,     // install; -EEXIST if the SPI (inbound) or selectors (outbound) are taken
    remove = 2,  // delete; -ENOENT if absent (outbound: selectors and SPI must both match)
    update = 3,  // change algorithm, key and (inbound) selectors, keeping sequence and
                 // replay state and counters; -ENOENT if absent
    // Move the SA's numbers on to sa.seq_start, as an add with it would have set them
    // (outbound: last sent; inbound: the window's right edge, all below it seen), never
    // back; -ENOENT if absent. A standby's warm SAs resume so when it takes over.
    resume = 4,
};

struct SaRecord {
    SaOp op = SaOp::add;
    uint32_t request_id = 0;  // echoed in the acknowledgement
    SaConfig sa;
    HmacKey key;       // HMAC states, expanded by the control thread, for an HMAC alg; ignored for remove
    CipherKey cipher;  // raw, cipher_key_len(alg, ealg) bytes (sa_config.hpp); ignored for remove
};

enum class EventKind : uint8_t {
    applied = 1,        // a record was applied; result is 0 or a negative errno
    first_use = 2,      // first packet verified on an inbound SA (TS 33.203 7.4.2a)
    seq_near_end = 3,   // outbound sequence number passed the warning threshold
    seq_exhausted = 4,  // outbound sequence number reached 2^32-1; SA must be replaced
    // The SA's sequence number (outbound: sent; inbound: the window's right edge) reached
    // `seq`, a multiple of the engine's seq_checkpoint: every number so far is below
    // seq + seq_checkpoint (docs/architecture.md, "What survives a restart").
    seq_checkpoint = 5,
    // A verified UDP-encapsulated packet came from a NAT port (`encap_port`) other than the
    // inbound SA's (0 before the first): the SA now takes that port, and the control
    // plane moves the set's outbound SAs to it (TS 33.203 Annex M, a NAT rebinding).
    encap_port = 6,
};

struct SaEvent {
    EventKind kind = EventKind::applied;
    Direction dir = Direction::inbound;
    SaOp op = SaOp::add;  // for `applied`
    int32_t result = 0;   // for `applied`
    uint32_t worker = 0;
    uint32_t spi = 0;
    uint32_t request_id = 0;
    int32_t handle = -1;  // for `applied`: where the SA sits in its table (Engine::handle_of)
    uint64_t cookie = 0;
    uint64_t seq = 0;         // for the sequence-number events
    uint16_t encap_port = 0;  // for `encap_port`, host order
};

static_assert(std::is_trivially_copyable_v<SaRecord>);
static_assert(std::is_trivially_copyable_v<SaEvent>);
static_assert(sizeof(SaRecord) % 4 == 0 && sizeof(SaEvent) % 4 == 0, "rte_ring element sizes must be multiples of 4");

}  // namespace pcscf::esp
