#pragma once
// Fragmentation after ESP: a protected packet that exceeds the access MTU (a large SIP
// message plus the ESP header and trailer) leaves as IP fragments, per RFC 4303 3.3.5.
// The split is DPDK's librte_ip_frag; each fragment is then made one contiguous mbuf with
// the original link header, so any PMD can send it without multi-segment support.
//
// IPv4 packets with DF set are fragmented anyway (DF cleared): the datagram the kernel
// handed us fitted its MTU, and it is our ESP overhead that pushed it over. IPv6 packets
// with extension headers are not split (librte_ip_frag places its fragment header right
// after the fixed header) and are dropped as fragmentation_failed.
#include <rte_mbuf.h>

#include <cstdint>
#include <span>

#include "dataplane/esp/drop_reason.hpp"

namespace pcscf::ipfrag {

class Fragmenter {
public:
    // `direct` holds each fragment's headers and, after the copy, its payload (data room of
    // at least the MTU plus link header); `indirect` is a pool of zero-size mbufs.
    Fragmenter(rte_mempool* direct, rte_mempool* indirect) noexcept
        : direct_(direct), indirect_(indirect) {}

    // Splits an Ethernet frame so each IP packet is at most `mtu` bytes. Returns the number
    // of frames written to `out`, or 0 with `why` set. Always consumes `frame`.
    uint16_t fragment(rte_mbuf* frame, uint16_t l2_len, uint16_t mtu, std::span<rte_mbuf*> out,
                      esp::DropReason& why) noexcept;

private:
    rte_mempool* direct_;
    rte_mempool* indirect_;
};

}  // namespace pcscf::ipfrag
