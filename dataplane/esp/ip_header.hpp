#pragma once
// Reading and patching the IP header of a packet for transport-mode ESP: where the
// upper-layer (or ESP) header starts, which byte names it, and the lengths to fix.
// IPv4 options and IPv6 extension headers are walked, never assumed absent.
#include <cstdint>
#include <cstring>
#include <expected>

#include "dataplane/esp/drop_reason.hpp"
#include "dataplane/esp/ip_addr.hpp"

namespace pcscf::esp {

inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoEsp = 50;

struct IpInfo {
    uint8_t version = 0;        // 4 or 6
    uint8_t proto = 0;          // upper-layer protocol, after any extension headers
    uint16_t l3_len = 0;        // IP header plus options / extension headers
    uint16_t proto_offset = 0;  // offset of the byte that names `proto`
    uint32_t total_len = 0;     // IP header plus payload, as the header says

    IpAddr src(const uint8_t* ip) const noexcept {
        return version == 4 ? IpAddr::v4(ip + 12) : IpAddr::v6(ip + 8);
    }
    IpAddr dst(const uint8_t* ip) const noexcept {
        return version == 4 ? IpAddr::v4(ip + 16) : IpAddr::v6(ip + 24);
    }
};

// Parses the IP header at `ip`, of which `avail` bytes are in the buffer. Checks the IPv4
// header checksum unless the NIC already did (`checksum_verified`). Fragments are
// refused (ip_fragment): ESP needs whole datagrams. Inline: it runs for every packet.
//
// patch_ip() rewrites the protocol byte and the length of the header described by `info`
// after its payload grew or shrank by `delta` bytes, and updates `info`.

namespace detail {

inline constexpr uint32_t kIpv4HeaderLen = 20;  // without options
inline constexpr uint32_t kIpv6HeaderLen = 40;
inline constexpr uint8_t kIpv6Fragment = 44;
inline constexpr int kMaxExtensionHeaders = 16;  // bounds the walk on hostile chains

inline uint16_t load_be16(const uint8_t* p) noexcept { return uint16_t(p[0] << 8 | p[1]); }

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
inline void store_be16(uint8_t* p, uint32_t v) noexcept {
    p[0] = uint8_t(v >> 8);
    p[1] = uint8_t(v);
}

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
        default:
            return false;
    }
}

inline std::expected<IpInfo, DropReason> parse_v4(const uint8_t* ip, uint32_t avail,
                                          bool checksum_verified) noexcept {
    if (avail < kIpv4HeaderLen) return std::unexpected(DropReason::too_short);
    IpInfo info;
    info.version = 4;
    info.l3_len = uint16_t((ip[0] & 0x0f) * 4);
    info.total_len = load_be16(ip + 2);
    info.proto = ip[9];
    info.proto_offset = 9;
    if (info.l3_len < kIpv4HeaderLen || info.l3_len > avail ||
        info.total_len < info.l3_len || info.total_len > avail)
        return std::unexpected(DropReason::bad_ip_header);
    if (!checksum_verified && header_sum(ip, info.l3_len) != 0xffff)
        return std::unexpected(DropReason::bad_ip_header);
    if ((load_be16(ip + 6) & 0x3fff) != 0)  // MF set or a fragment offset
        return std::unexpected(DropReason::ip_fragment);
    return info;
}

inline std::expected<IpInfo, DropReason> parse_v6(const uint8_t* ip, uint32_t avail) noexcept {
    if (avail < kIpv6HeaderLen) return std::unexpected(DropReason::too_short);
    IpInfo info;
    info.version = 6;
    info.total_len = kIpv6HeaderLen + load_be16(ip + 4);
    if (info.total_len > avail) return std::unexpected(DropReason::bad_ip_header);
    uint8_t nh = ip[6];
    uint32_t off = kIpv6HeaderLen;
    info.proto_offset = 6;
    for (int n = 0; is_extension(nh); ++n) {
        if (n == kMaxExtensionHeaders) return std::unexpected(DropReason::bad_ip_header);
        if (off + 8 > info.total_len) return std::unexpected(DropReason::too_short);
        info.proto_offset = uint16_t(off);
        nh = ip[off];
        off += (uint32_t(ip[off + 1]) + 1) * 8;
        if (off > info.total_len) return std::unexpected(DropReason::too_short);
    }
    if (nh == kIpv6Fragment) return std::unexpected(DropReason::ip_fragment);
    info.proto = nh;
    info.l3_len = uint16_t(off);
    return info;
}

}  // namespace detail

inline std::expected<IpInfo, DropReason> parse_ip(const uint8_t* ip, uint32_t avail,
                                                  bool checksum_verified = false) noexcept {
    if (avail < 1) return std::unexpected(DropReason::too_short);
    switch (ip[0] >> 4) {
        case 4: return detail::parse_v4(ip, avail, checksum_verified);
        case 6: return detail::parse_v6(ip, avail);
        default: return std::unexpected(DropReason::bad_ip_header);
    }
}

inline void patch_ip(uint8_t* ip, IpInfo& info, uint8_t new_proto, int32_t delta) noexcept {
    info.total_len = uint32_t(int32_t(info.total_len) + delta);
    info.proto = new_proto;
    if (info.version == 6) {
        ip[info.proto_offset] = new_proto;
        detail::store_be16(ip + 4, info.total_len - detail::kIpv6HeaderLen);
        return;
    }
    // IPv4: update the checksum for the two 16-bit words that change (RFC 1624, eqn. 3),
    // all words in memory order, as the checksum itself is stored.
    uint16_t old_len, old_ttl_proto, sum16;
    std::memcpy(&old_len, ip + 2, 2);
    std::memcpy(&old_ttl_proto, ip + 8, 2);
    std::memcpy(&sum16, ip + 10, 2);
    detail::store_be16(ip + 2, info.total_len);
    ip[9] = new_proto;
    uint16_t new_len, new_ttl_proto;
    std::memcpy(&new_len, ip + 2, 2);
    std::memcpy(&new_ttl_proto, ip + 8, 2);
    uint32_t acc = uint16_t(~sum16) + uint32_t(uint16_t(~old_len)) + new_len +
                   uint16_t(~old_ttl_proto) + new_ttl_proto;
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    const uint16_t sum = uint16_t(~acc);
    std::memcpy(ip + 10, &sum, 2);
}

}  // namespace pcscf::esp
