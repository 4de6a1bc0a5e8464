#pragma once
// What an inbound burst's packets will look up, read before that burst is processed, so
// that their SA records can be requested a burst ahead (Engine::inbound's `next`). Hints
// only: read with no check but the frame's length, since the call that processes the
// packet checks everything, and a wrong guess costs one prefetch. IPv6 extension headers
// are not walked (a packet with them goes unhinted).
#include <rte_mbuf.h>

#include <cstdint>

#include "net/byte_order.hpp"
#include "net/ip_header.hpp"

namespace pcscf::esp {

// Where the IP header's payload starts and which protocol it is, or false.
inline bool hinted_payload(const rte_mbuf* m, uint16_t l2_len, const uint8_t*& ip, uint32_t& l3_len,
                           uint8_t& proto) noexcept {
    constexpr uint32_t kShortest = 40 + 8;  // an IPv6 header and a UDP header or ESP's
    if (m->data_len < l2_len + kShortest) return false;
    ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, l2_len);
    const bool v4 = (ip[0] >> 4) == 4;
    l3_len = v4 ? (ip[0] & 0x0fu) * 4 : 40;
    proto = v4 ? ip[9] : ip[6];
    return l2_len + l3_len + 8 <= m->data_len;
}

// The SPI of ESP, bare or in UDP (RFC 3948), or 0 (never allocated).
inline uint32_t hinted_spi(const rte_mbuf* m, uint16_t l2_len) noexcept {
    const uint8_t* ip;
    uint32_t at;
    uint8_t proto;
    if (!hinted_payload(m, l2_len, ip, at, proto)) return 0;
    if (proto == net::kProtoUdp) at += net::kUdpHeaderLen;
    else if (proto != net::kProtoEsp) return 0;
    return l2_len + at + 4 <= m->data_len ? net::load_be32(ip + at) : 0;
}

}  // namespace pcscf::esp
