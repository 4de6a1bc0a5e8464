#pragma once
// Every packet the datapath refuses carries exactly one reason, and every reason is a
// per-worker counter. The table is declared once here (X-macro) so names, descriptions,
// counters and telemetry cannot drift apart.
#include <array>
#include <cstdint>
#include <string_view>

namespace pcscf::net {

#define PCSCF_DROP_REASONS(X)                                                                                     \
    /* parsing, both directions */                                                                                \
    X(too_short, "packet shorter than its IP, ESP or transport headers")                                          \
    X(bad_ip_header, "IP version, header length, total length or checksum invalid")                               \
    X(ip_fragment, "IP fragment reached the ESP engine (must be reassembled first)")                              \
    X(multi_segment, "chained mbuf; the engine needs the packet contiguous")                                      \
    /* inbound ESP */                                                                                             \
    X(not_esp, "inbound packet is not ESP")                                                                       \
    X(unknown_spi, "no inbound SA with this SPI")                                                                 \
    X(replay, "sequence number zero, already seen, or left of the replay window")                                 \
    X(bad_cipher_length, "ciphered SA: what follows the IV is not a positive multiple of the cipher's block")     \
    X(bad_icv, "integrity check value does not verify")                                                           \
    X(bad_trailer, "pad length beyond the payload, or padding bytes not 1, 2, 3, ...")                            \
    X(dummy_packet, "RFC 4303 2.6 dummy packet (next header 59): verified, then discarded as the RFC says")       \
    X(bad_inner_protocol, "inner protocol is neither UDP nor TCP")                                                \
    X(selector_mismatch, "IP version, inner addresses or ports are not the SA's")                                 \
    X(crypto_error, "IPsec-MB failed the HMAC or cipher job (or the IV generation)")                              \
    /* inbound UDP-encapsulated ESP (RFC 3948) */                                                                 \
    X(natt_keepalive, "RFC 3948 2.3 NAT keep-alive (one 0xFF byte to port 4500): absorbed, not an error")         \
    X(natt_non_esp, "UDP to port 4500 with the non-ESP marker (IKE), which IMS does not use (TS 33.203 Annex M)") \
    /* outbound ESP */                                                                                            \
    X(no_outbound_sa, "no outbound SA for (UE address, UE port, P-CSCF port)")                                    \
    X(seq_exhausted, "outbound sequence number would wrap past 2^32-1; SA must be replaced")                      \
    X(no_room, "not enough mbuf headroom or tailroom to add the ESP header and trailer")                          \
    X(too_long, "the ESP packet would exceed the 65535-byte IP length limit")                                     \
    X(natt_port_unknown, "UDP-enc-tun SA whose NAT port is not learnt yet (no verified packet from the UE)")      \
    /* fragments, both directions */                                                                              \
    X(fragment_invalid,                                                                                           \
      "IP fragment malformed, overlapping, past 65535 bytes, one of too many, or no free flow entry")             \
    X(reassembly_failed, "reassembled datagram over the configured maximum, or no buffer to hold it")             \
    X(reassembly_timeout, "the fragments of a datagram did not all arrive in time")                               \
    X(fragmentation_failed, "no mbufs to split a packet that exceeds the MTU")                                    \
    X(unsplittable, "over the MTU and cannot be split: IPv6 with extension headers, or more pieces than a burst") \
    /* the service around the engine */                                                                           \
    X(unprotected_to_protected_port, "plain packet to or from a protected P-CSCF port")                           \
    X(handoff_full, "the owning worker's handoff ring was full")                                                  \
    X(standby, "this node is a standby: it neither verifies nor produces ESP until it takes over")                \
    X(wrong_vlan, "frame from the access port without the --access-vlan tag (untagged, or another VLAN)")         \
    X(vlan_insert_failed, "no room (or a shared buffer) to insert the --access-vlan tag into a frame")            \
    X(tx_full, "the transmit queue of the access port or the tap was full")

enum class DropReason : uint8_t {
#define PCSCF_X(name, text) name,
    PCSCF_DROP_REASONS(PCSCF_X)
#undef PCSCF_X
};

// Not a drop: the packet goes on.
inline constexpr DropReason kPass = static_cast<DropReason>(0xff);

inline constexpr std::array<std::string_view, 0
#define PCSCF_X(name, text) +1
                            PCSCF_DROP_REASONS(PCSCF_X)
#undef PCSCF_X
                            >
    kDropReasonNames{
#define PCSCF_X(name, text) #name,
        PCSCF_DROP_REASONS(PCSCF_X)
#undef PCSCF_X
    };

inline constexpr std::array<std::string_view, kDropReasonNames.size()> kDropReasonText{
#define PCSCF_X(name, text) text,
    PCSCF_DROP_REASONS(PCSCF_X)
#undef PCSCF_X
};

inline constexpr std::size_t kDropReasonCount = kDropReasonNames.size();

constexpr std::string_view name(DropReason r) noexcept { return kDropReasonNames[static_cast<std::size_t>(r)]; }
constexpr std::string_view description(DropReason r) noexcept { return kDropReasonText[static_cast<std::size_t>(r)]; }

// One worker's drop counters; only that worker writes them, readers tolerate staleness.
struct alignas(64) DropCounters {
    std::array<uint64_t, kDropReasonCount> count{};

    void add(DropReason r) noexcept { ++count[static_cast<std::size_t>(r)]; }
    uint64_t operator[](DropReason r) const noexcept { return count[static_cast<std::size_t>(r)]; }
    uint64_t total() const noexcept {
        uint64_t t = 0;
        for (uint64_t c : count) t += c;
        return t;
    }
};

}  // namespace pcscf::net
