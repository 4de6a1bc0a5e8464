#pragma once
// IP reassembly in front of the ESP engine. Large SIP messages over UDP arrive as IPv4 or
// IPv6 fragments (of ESP, or of plain SIP to the unprotected port); the engine needs the
// whole datagram in one buffer. DPDK's librte_ip_frag keeps the flow table and chains the
// pieces; we then copy the chain into one mbuf from a pool of large buffers.
//
// RFC 791 (and RFC 8200 4.5) tell datagrams apart by source, destination, Identification
// and protocol; librte_ip_frag's key has no protocol, so each protocol reassembled here has
// a table of its own: ESP (the engine needs it whole), UDP and TCP (their ports decide
// whether a plain packet may pass). Fragments of any other protocol are not ours to
// reassemble: the caller passes them on as they are (wanted()).
//
// One Reassembler per worker and direction, used only by that worker's lcore.
// Limits: at most RTE_LIBRTE_IP_FRAG_MAX_FRAG (8 in Debian's DPDK) fragments per datagram;
// an IPv6 fragment header must follow the fixed header directly (what librte_ip_frag reads).
#include <rte_ip_frag.h>
#include <rte_mbuf.h>

#include <array>
#include <cstdint>
#include <expected>
#include <string>

#include "net/drop_reason.hpp"

namespace pcscf::ipfrag {

struct ReassemblyConfig {
    uint32_t max_flows = 4096;      // datagrams being reassembled at once, per protocol
    uint32_t timeout_ms = 2000;     // a datagram whose fragments do not all arrive is dropped
    uint32_t max_datagram = 65535;  // largest reassembled IP datagram accepted
};

class Reassembler {
public:
    // `big_pool` supplies the contiguous buffers; its data room must hold an Ethernet
    // header plus `max_datagram`.
    static std::expected<Reassembler, std::string> create(const ReassemblyConfig& cfg, rte_mempool* big_pool,
                                                          int socket);
    Reassembler(Reassembler&& o) noexcept;
    Reassembler& operator=(Reassembler&&) = delete;
    ~Reassembler();

    // Whether the IP fragment in `frame` is of a protocol reassembled here (ESP, UDP, TCP).
    // A malformed one is: add() counts it.
    static bool wanted(const rte_mbuf* frame, uint16_t l2_len) noexcept;

    // Takes an Ethernet frame holding an IP fragment (l2_len bytes of link header) that
    // wanted() took. Returns the whole datagram, contiguous and with the link header of
    // its first fragment, once the last piece arrives; nullptr while incomplete or when
    // something was dropped, each dropped mbuf counted in `drops`. Always consumes `frame`.
    rte_mbuf* add(rte_mbuf* frame, uint16_t l2_len, uint64_t now_tsc, net::DropCounters& drops) noexcept;
    // Drops datagrams older than the timeout (counted as reassembly_timeout).
    void expire(uint64_t now_tsc, net::DropCounters& drops) noexcept;

private:
    static constexpr size_t kTables = 3;  // ESP, UDP, TCP
    Reassembler(std::array<rte_ip_frag_tbl*, kTables> t, rte_mempool* big, uint32_t max_datagram) noexcept
        : tables_(t), big_(big), max_datagram_(max_datagram) {}
    rte_mbuf* linearize(rte_mbuf* chain, net::DropCounters& drops) noexcept;
    void free_dropped(net::DropCounters& drops, net::DropReason why) noexcept;

    std::array<rte_ip_frag_tbl*, kTables> tables_{};
    rte_ip_frag_death_row death_row_{};
    rte_mempool* big_ = nullptr;
    uint32_t max_datagram_ = 0;
};

}  // namespace pcscf::ipfrag
