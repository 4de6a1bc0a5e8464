#pragma once
// The per-SA addressing of UDP-encapsulated tunnel mode (TS 33.203 Annex M, RFC 3948),
// kept beside the SA tables rather than in their full two-line records.
#include <cstdint>
#include <cstring>

#include "sa_contract/sa_config.hpp"

namespace pcscf::esp {

// What a UDP-enc-tun SA (TS 33.203 Annex M, RFC 3948) adds to its record, one per slot
// or pool position beside the table: the UE's own address in the inner header and the
// NAT's public port for it. Only UDP-encapsulated packets read it, so a transport-mode
// SA's packets never touch its line.
struct NatSide {
    uint32_t ue_inner = 0;    // IPv4 address, network order as in the header
    uint16_t encap_port = 0;  // host order; 0 = not learnt yet
    uint16_t reserved = 0;

    static NatSide of(const SaConfig& sa) noexcept {
        NatSide n;
        if (sa.mode != Mode::udp_enc_tun) return n;
        std::memcpy(&n.ue_inner, sa.ue_inner.v4_bytes(), 4);
        n.encap_port = sa.encap_port;
        return n;
    }
};

}  // namespace pcscf::esp
