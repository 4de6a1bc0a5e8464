#pragma once
// Fragmentation after ESP: a protected packet that exceeds the access MTU (a large SIP
// message plus the ESP header and trailer) leaves as IP fragments, per RFC 4303 3.3.5.
// The split is DPDK's librte_ip_frag; each fragment is then made one contiguous mbuf with
// the original link header, so any PMD can send it without multi-segment support.
//
// IPv4 packets with DF set are fragmented anyway (DF cleared): the datagram the kernel
// handed us fitted its MTU, and it is our ESP overhead that pushed it over. IPv6 packets
// with extension headers are not split (librte_ip_frag places its fragment header right
// after the fixed header) and are dropped as unsplittable.
//
// Each datagram split gets an Identification of its own. The kernel leaves it 0 on the
// DF datagrams it hands us (RFC 6864: an atomic datagram's ID means nothing) and
// librte_ip_frag writes 0 into every IPv6 fragment header, so two large replies in flight
// to one UE would carry the same ID: the UE would mix their pieces and drop both. Workers
// draw from disjoint sequences (worker + k * workers, from a random k), since plain
// packets to one UE may leave through any worker. IPv4 uses the low 16 bits (disjoint
// there too for a power-of-two worker count, otherwise until the counters wrap).
#include <rte_mbuf.h>

#include <cstdint>
#include <span>

#include "net/drop_reason.hpp"

namespace pcscf::ipfrag {

class Fragmenter {
public:
    // `direct` holds each fragment's headers and, after the copy, its payload (data room of
    // at least the MTU plus link header); `indirect` is a pool of zero-size mbufs.
    // `worker` of `workers` chooses the Identification sequence (see above).
    Fragmenter(rte_mempool* direct, rte_mempool* indirect, uint32_t worker = 0, uint32_t workers = 1) noexcept;

    // Splits an Ethernet frame so each IP packet is at most `mtu` bytes. Returns the number
    // of frames written to `out`, or 0 with `why` set. Always consumes `frame`.
    uint16_t fragment(rte_mbuf* frame, uint16_t l2_len, uint16_t mtu, std::span<rte_mbuf*> out,
                      net::DropReason& why) noexcept;

private:
    rte_mempool* direct_;
    rte_mempool* indirect_;
    uint32_t next_id_;
    uint32_t id_step_;
};

}  // namespace pcscf::ipfrag
