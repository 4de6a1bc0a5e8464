#pragma once
// Sorting the frames a worker receives. From the access port: ESP for the P-CSCF, bare
// or in UDP to port 4500 (RFC 3948: ESP, NAT keep-alives, anything else), goes to the
// engine, fragments to reassembly, plain packets to a protected port are dropped,
// everything else (ARP, ND, ICMP, SIP to the unprotected port) goes to the kernel. From
// the kernel: packets from a protected port are protected with ESP, fragments are
// reassembled first, everything else goes out as it is. Frames are untagged Ethernet: on
// a VLAN access link the worker takes the tag off before sorting (access_vlan.hpp).
#include <rte_mbuf.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "dataplane/service/service_config.hpp"
#include "net/ip_header.hpp"
#include "net/mbuf_ip.hpp"
#include "sa_contract/sa_config.hpp"

namespace pcscf::dp {

inline constexpr uint16_t kEthLen = 14;
inline constexpr uint16_t kEtherIpv4 = 0x0800, kEtherIpv6 = 0x86dd;

// The P-CSCF's own access addresses (a handful: one IPv4, one IPv6, maybe a few more).
class LocalAddrs {
public:
    static constexpr size_t kMax = kMaxLocalAddrs;
    bool add(const net::IpAddr& a) noexcept {
        if (n_ == kMax) return false;
        v_[n_++] = a;
        return true;
    }
    bool contains(const net::IpAddr& a) const noexcept {
        for (size_t i = 0; i < n_; ++i)
            if (v_[i] == a) return true;
        return false;
    }
    size_t size() const noexcept { return n_; }

private:
    std::array<net::IpAddr, kMax> v_{};
    size_t n_ = 0;
};

enum class FrameKind : uint8_t {
    esp,              // access: ESP (or UDP to port 4500) to a local address
    protect,          // tap: UDP/TCP from a protected port
    fragment,         // an IP fragment: reassemble, then sort again
    protected_plain,  // access: plain UDP/TCP to a protected port (drop)
    pass,             // to the other side as it is
    drop,             // malformed; `reason` says why
};

struct FrameInfo {
    FrameKind kind = FrameKind::pass;
    net::DropReason reason = net::DropReason::too_short;
    uint32_t spi = 0;  // esp: the SPI, 0 when there is none (UDP keep-alive, non-ESP marker)
    net::IpAddr peer;  // protect: the destination (the UE)
};

namespace detail {
inline uint16_t be16(const uint8_t* p) noexcept { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t be32(const uint8_t* p) noexcept { return uint32_t(be16(p)) << 16 | be16(p + 2); }

// The IP packet of an Ethernet frame, or `pass` for anything that is not IPv4/IPv6.
inline bool ip_of(const rte_mbuf* m, const uint8_t*& ip, net::IpInfo& info, FrameInfo& out) noexcept {
    if (m->nb_segs != 1 || m->data_len < kEthLen + 1) {
        out.kind = m->nb_segs != 1 ? FrameKind::pass : FrameKind::drop;
        return false;
    }
    const uint8_t* eth = rte_pktmbuf_mtod(m, const uint8_t*);
    const uint16_t type = be16(eth + 12);
    if (type != kEtherIpv4 && type != kEtherIpv6) {
        out.kind = FrameKind::pass;
        return false;
    }
    ip = eth + kEthLen;
    const net::DropReason why = net::parse_ip_of(m, ip, m->data_len - kEthLen, info);
    if (why != net::kPass) {
        out.kind = why == net::DropReason::ip_fragment ? FrameKind::fragment : FrameKind::drop;
        out.reason = why;
        return false;
    }
    return true;
}
}  // namespace detail

inline FrameInfo classify_access(const rte_mbuf* m, const LocalAddrs& local, PortRange protected_ports) noexcept {
    FrameInfo out;
    const uint8_t* ip;
    net::IpInfo info;
    if (!detail::ip_of(m, ip, info, out)) return out;
    if (!local.contains(info.dst(ip))) return out;  // multicast ND, broadcast...: the kernel's
    const uint8_t* l4 = ip + info.l3_len;
    const uint32_t l4_len = info.total_len - info.l3_len;
    if (info.proto == net::kProtoEsp) {
        if (l4_len < 8) {
            out.kind = FrameKind::drop;
            out.reason = net::DropReason::too_short;
            return out;
        }
        out.kind = FrameKind::esp;
        out.spi = detail::be32(l4);
        return out;
    }
    // UDP to port 4500 (RFC 3948 2): the engine's, never the kernel's. The SPI after the
    // UDP header names the owner; a keep-alive or a non-ESP marker has none (0), and the
    // worker that received it has its engine count it. The engine checks the rest.
    if (unlikely(info.proto == net::kProtoUdp && l4_len >= 4 && detail::be16(l4 + 2) == esp::kNatTPort)) {
        out.kind = FrameKind::esp;
        if (l4_len >= net::kUdpHeaderLen + 4) out.spi = detail::be32(l4 + net::kUdpHeaderLen);
        return out;
    }
    if ((info.proto == net::kProtoUdp || info.proto == net::kProtoTcp) && l4_len >= 4 &&
        protected_ports.contains(detail::be16(l4 + 2)))
        out.kind = FrameKind::protected_plain;
    return out;
}

// After classify_*() the IPv4 header checksum is known good (the NIC or the parse checked
// it): saying so in the mbuf spares the engine summing the header again.
inline void mark_ip_checked(rte_mbuf* m) noexcept {
    m->ol_flags = (m->ol_flags & ~RTE_MBUF_F_RX_IP_CKSUM_MASK) | RTE_MBUF_F_RX_IP_CKSUM_GOOD;
}

inline FrameInfo classify_tap(const rte_mbuf* m, PortRange protected_ports) noexcept {
    FrameInfo out;
    const uint8_t* ip;
    net::IpInfo info;
    if (!detail::ip_of(m, ip, info, out)) {
        if (out.kind == FrameKind::drop) out.kind = FrameKind::pass;  // the kernel's own output
        return out;
    }
    const uint8_t* l4 = ip + info.l3_len;
    if ((info.proto == net::kProtoUdp || info.proto == net::kProtoTcp) && info.total_len - info.l3_len >= 4 &&
        protected_ports.contains(detail::be16(l4))) {
        out.kind = FrameKind::protect;
        out.peer = info.dst(ip);
    }
    return out;
}

}  // namespace pcscf::dp
