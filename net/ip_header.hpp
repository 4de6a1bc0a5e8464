#pragma once
// Reading and patching the IP header of a packet for transport-mode ESP: where the
// upper-layer (or ESP) header starts, which byte names it, and the lengths to fix.
// IPv4 options and IPv6 extension headers are walked, never assumed absent.
#include <cstdint>
#include <cstring>
#include <expected>

#include "net/byte_order.hpp"
#include "net/drop_reason.hpp"
#include "net/ip_addr.hpp"

namespace pcscf::net {

inline constexpr uint8_t kProtoIpv4 = 4;  // IPv4 in IP: a tunnel-mode SA's next header
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoEsp = 50;
inline constexpr uint8_t kNoNextHeader = 59;  // RFC 4303 2.6: a dummy packet's next header
inline constexpr uint32_t kUdpHeaderLen = 8;

// Filled by parse_ip(); left uninitialised before, so the engine's per-burst arrays of
// them cost nothing to declare.
struct IpInfo {
    uint8_t version;        // 4 or 6
    uint8_t proto;          // upper-layer protocol, after any extension headers
    uint16_t l3_len;        // IP header plus options / extension headers
    uint16_t proto_offset;  // offset of the byte that names `proto`
    uint32_t total_len;     // IP header plus payload, as the header says

    IpAddr dst(const uint8_t* ip) const noexcept { return version == 4 ? IpAddr::v4(ip + 16) : IpAddr::v6(ip + 24); }
    // Whether the source (destination) is `a`, family included: an IPv6 packet from
    // ::ffff:a.b.c.d is not from the IPv4 address a.b.c.d.
    bool src_is(const uint8_t* ip, const IpAddr& a) const noexcept {
        return version == 4 ? a.is_v4_of(ip + 12) : !a.is_v4() && IpAddr::v6(ip + 8) == a;
    }
    bool dst_is(const uint8_t* ip, const IpAddr& a) const noexcept {
        return version == 4 ? a.is_v4_of(ip + 16) : !a.is_v4() && IpAddr::v6(ip + 24) == a;
    }
};

// parse_ip() reads the IP header at `ip`, of which `avail` bytes are in the buffer, into
// `info` and returns kPass, or the reason to drop. Checks the IPv4 header checksum unless
// the NIC already did (`checksum_verified`). Fragments are refused (ip_fragment): ESP
// needs whole datagrams. Inline: it runs for every packet.
//
// patch_ip() rewrites the protocol byte and the length of the header described by `info`
// after its payload grew or shrank by `delta` bytes, and updates `info`.
//
// Both fill their results field by field and never read back a header field they just
// wrote: a load that spans smaller stores still in flight cannot be forwarded and stalls
// the core for a dozen cycles, several times per packet.

namespace detail {

inline constexpr uint32_t kIpv4HeaderLen = 20;  // without options
inline constexpr uint32_t kIpv6HeaderLen = 40;
inline constexpr uint8_t kIpv6Fragment = 44;
inline constexpr int kMaxExtensionHeaders = 16;  // bounds the walk on hostile chains

// Ones'-complement sum of an IPv4 header (a multiple of 4 bytes) in memory order, as
// rte_raw_cksum computes it but four bytes at a time: this runs for every IPv4 packet.
inline uint16_t header_sum(const uint8_t* p, uint32_t len) noexcept {
    uint64_t acc = 0;
    for (uint32_t i = 0; i < len; i += 4) {
        uint32_t w;
        std::memcpy(&w, p + i, 4);
        acc += w;
    }
    acc = (acc & 0xffffffff) + (acc >> 32);
    acc = (acc & 0xffffffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    return uint16_t(acc);
}

// A 16-bit word as memory holds it, from its two bytes.
inline uint16_t mem16(uint8_t first, uint8_t second) noexcept {
    const uint8_t b[2] = {first, second};
    uint16_t v;
    std::memcpy(&v, b, 2);
    return v;
}
inline uint16_t load16(const uint8_t* p) noexcept {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}
inline void store16(uint8_t* p, uint16_t v) noexcept { std::memcpy(p, &v, 2); }

// Extension headers that share the (next header, length in 8-octet units) layout.
inline bool is_extension(uint8_t nh) noexcept {
    switch (nh) {
        case 0:    // hop-by-hop options
        case 43:   // routing
        case 60:   // destination options
        case 135:  // mobility
        case 139:  // HIP
        case 140:  // shim6
        case 253:
        case 254:  // experimentation
            return true;
        default: return false;
    }
}

inline DropReason parse_v4(const uint8_t* ip, uint32_t avail, bool checksum_verified, IpInfo& info) noexcept {
    if (avail < kIpv4HeaderLen) return DropReason::too_short;
    const uint32_t l3_len = (ip[0] & 0x0fu) * 4;
    const uint32_t total_len = load_be16(ip + 2);
    if (l3_len < kIpv4HeaderLen || l3_len > avail || total_len < l3_len || total_len > avail)
        return DropReason::bad_ip_header;
    if (!checksum_verified && header_sum(ip, l3_len) != 0xffff) return DropReason::bad_ip_header;
    if ((load_be16(ip + 6) & 0x3fff) != 0)  // MF set or a fragment offset
        return DropReason::ip_fragment;
    info.version = 4;
    info.proto = ip[9];
    info.l3_len = uint16_t(l3_len);
    info.proto_offset = 9;
    info.total_len = total_len;
    return kPass;
}

inline DropReason parse_v6(const uint8_t* ip, uint32_t avail, IpInfo& info) noexcept {
    if (avail < kIpv6HeaderLen) return DropReason::too_short;
    const uint32_t total_len = kIpv6HeaderLen + load_be16(ip + 4);
    if (total_len > avail) return DropReason::bad_ip_header;
    uint8_t nh = ip[6];
    uint32_t off = kIpv6HeaderLen;
    uint32_t proto_offset = 6;
    for (int n = 0; is_extension(nh); ++n) {
        if (n == kMaxExtensionHeaders) return DropReason::bad_ip_header;
        if (off + 8 > total_len) return DropReason::too_short;
        proto_offset = off;
        nh = ip[off];
        off += (uint32_t(ip[off + 1]) + 1) * 8;
        if (off > total_len) return DropReason::too_short;
    }
    if (nh == kIpv6Fragment) return DropReason::ip_fragment;
    info.version = 6;
    info.proto = nh;
    info.l3_len = uint16_t(off);
    info.proto_offset = uint16_t(proto_offset);
    info.total_len = total_len;
    return kPass;
}

}  // namespace detail

inline DropReason parse_ip(const uint8_t* ip, uint32_t avail, IpInfo& info, bool checksum_verified = false) noexcept {
    if (avail < 1) return DropReason::too_short;
    switch (ip[0] >> 4) {
        case 4: return detail::parse_v4(ip, avail, checksum_verified, info);
        case 6: return detail::parse_v6(ip, avail, info);
        default: return DropReason::bad_ip_header;
    }
}

inline std::expected<IpInfo, DropReason> parse_ip(const uint8_t* ip, uint32_t avail) noexcept {
    IpInfo info;
    const DropReason why = parse_ip(ip, avail, info);
    if (why != kPass) return std::unexpected(why);
    return info;
}

inline void patch_ip(uint8_t* ip, IpInfo& info, uint8_t new_proto, int32_t delta) noexcept {
    info.total_len = uint32_t(int32_t(info.total_len) + delta);
    info.proto = new_proto;
    if (info.version == 6) {
        ip[info.proto_offset] = new_proto;
        const uint32_t payload = info.total_len - detail::kIpv6HeaderLen;
        detail::store16(ip + 4, detail::mem16(uint8_t(payload >> 8), uint8_t(payload)));
        return;
    }
    // IPv4: update the checksum for the two 16-bit words that change (RFC 1624, eqn. 3),
    // all words in memory order, as the checksum itself is stored.
    const uint16_t old_len = detail::load16(ip + 2);
    const uint16_t old_ttl_proto = detail::load16(ip + 8);
    const uint16_t sum16 = detail::load16(ip + 10);
    const uint16_t new_len = detail::mem16(uint8_t(info.total_len >> 8), uint8_t(info.total_len));
    const uint16_t new_ttl_proto = detail::mem16(ip[8], new_proto);
    uint32_t acc = uint16_t(~sum16) + uint32_t(uint16_t(~old_len)) + new_len + uint16_t(~old_ttl_proto) + new_ttl_proto;
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    detail::store16(ip + 2, new_len);
    ip[9] = new_proto;
    detail::store16(ip + 10, uint16_t(~acc));
}

// Replaces the IPv4 address at `ip + at` (12: the source, 16: the destination) with
// `addr` (4 bytes, network order) and updates, incrementally (RFC 1624, eqn. 3), the
// header checksum and the UDP or TCP checksum at `l4` (`proto`), whose pseudo-header
// holds the address. A UDP checksum of 0 (none sent, RFC 768) stays 0, and one that
// comes out 0 is sent as 0xffff. Words in memory order, as in patch_ip().
inline void set_v4_addr(uint8_t* ip, uint32_t at, uint32_t addr, uint8_t* l4, uint8_t proto) noexcept {
    uint8_t now[4];
    std::memcpy(now, &addr, 4);
    const uint32_t delta = uint16_t(~detail::load16(ip + at)) + uint32_t(uint16_t(~detail::load16(ip + at + 2))) +
                           detail::load16(now) + detail::load16(now + 2);
    const auto update = [delta](uint8_t* field) noexcept {
        uint32_t acc = uint16_t(~detail::load16(field)) + delta;
        acc = (acc & 0xffff) + (acc >> 16);
        acc = (acc & 0xffff) + (acc >> 16);
        return uint16_t(~acc);
    };
    detail::store16(ip + 10, update(ip + 10));
    if (proto == kProtoTcp) {
        detail::store16(l4 + 16, update(l4 + 16));
    } else if (proto == kProtoUdp && detail::load16(l4 + 6) != 0) {
        const uint16_t sum = update(l4 + 6);
        detail::store16(l4 + 6, sum == 0 ? 0xffff : sum);
    }
    std::memcpy(ip + at, now, 4);
}

}  // namespace pcscf::net
