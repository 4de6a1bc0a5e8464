#pragma once
// The checks every packet starts with, in both directions: one contiguous segment, an
// IP header after the L2 header, and the NIC's verdict on the IPv4 checksum if it gave one.
#include <rte_branch_prediction.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include <span>

#include "net/ip_header.hpp"

namespace pcscf::net {

// parse_ip() of the header at `ip` in `m`, taking the NIC's verdict on the IPv4
// checksum: BAD drops the packet, GOOD spares summing the header again.
inline DropReason parse_ip_of(const rte_mbuf* m, const uint8_t* ip, uint32_t avail, IpInfo& info) noexcept {
    const uint64_t cksum = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
    if (unlikely(cksum == RTE_MBUF_F_RX_IP_CKSUM_BAD)) return DropReason::bad_ip_header;
    return parse_ip(ip, avail, info, cksum == RTE_MBUF_F_RX_IP_CKSUM_GOOD);
}

// Fills `info` and `ip` and returns kPass, or the reason to drop.
inline DropReason parse_mbuf_ip(const rte_mbuf* m, uint16_t l2_len, uint8_t*& ip, IpInfo& info) noexcept {
    if (unlikely(m->nb_segs != 1)) return DropReason::multi_segment;
    if (unlikely(l2_len >= m->data_len)) return DropReason::too_short;
    ip = rte_pktmbuf_mtod_offset(m, uint8_t*, l2_len);
    return parse_ip_of(m, ip, m->data_len - l2_len, info);
}

// Packet data and mbuf headers are usually not in cache yet when a burst arrives: fetch
// the headers kAhead packets ahead and the packet data half as far ahead.
inline constexpr uint32_t kPrefetchAhead = 8;

// A prefetch that takes the line for writing (PREFETCHW; DPDK 22.11's
// rte_prefetch0_write is still experimental).
inline void prefetch_for_write(const void* p) noexcept { __builtin_prefetch(p, 1, 3); }

// Both lines are rewritten (lengths, offsets, headers), so they are fetched for writing:
// a line another core wrote last would otherwise come shared, and the first store would
// wait for a second round trip to take it.
inline void prefetch_ahead(std::span<rte_mbuf*> pkts, uint32_t i) noexcept {
    if (i + kPrefetchAhead < pkts.size()) prefetch_for_write(pkts[i + kPrefetchAhead]);
    if (i + kPrefetchAhead / 2 < pkts.size()) prefetch_for_write(rte_pktmbuf_mtod(pkts[i + kPrefetchAhead / 2], void*));
}

inline void prefetch_first(std::span<rte_mbuf*> pkts) noexcept {
    for (uint32_t i = 0; i < kPrefetchAhead && i < pkts.size(); ++i) {
        prefetch_for_write(pkts[i]);
        if (i < kPrefetchAhead / 2) prefetch_for_write(rte_pktmbuf_mtod(pkts[i], void*));
    }
}

// Requests every cache line of [begin, end).
inline void prefetch_lines(const void* begin, const void* end) noexcept {
    const auto line = reinterpret_cast<uintptr_t>(begin) & ~uintptr_t(RTE_CACHE_LINE_SIZE - 1);
    for (auto* p = reinterpret_cast<const uint8_t*>(line); p < end; p += RTE_CACHE_LINE_SIZE) rte_prefetch0(p);
}

// Requests the cache lines of [begin, end) after the one holding `begin` (already read),
// at most an Ethernet MTU's worth: the lines of a reassembled 64 KiB datagram would push
// out those fetched for the rest of the burst. The multi-buffer HMAC reads 16 packets at
// once, one stream each: more streams than the hardware prefetcher follows, so without
// this each of its loads waits on memory.
inline void prefetch_rest(const uint8_t* begin, const uint8_t* end) noexcept {
    constexpr uint32_t kMaxBytes = 1536;
    if (end > begin + kMaxBytes) end = begin + kMaxBytes;
    const auto line = reinterpret_cast<uintptr_t>(begin) & ~uintptr_t(RTE_CACHE_LINE_SIZE - 1);
    prefetch_lines(reinterpret_cast<const uint8_t*>(line) + RTE_CACHE_LINE_SIZE, end);
}

}  // namespace pcscf::net
