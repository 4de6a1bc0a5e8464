#include "dataplane/esp/ip_header.hpp"

#include <rte_byteorder.h>
#include <rte_ip.h>

#include <cstring>

namespace pcscf::esp {

namespace {

constexpr uint32_t kIpv6HeaderLen = 40;
constexpr uint8_t kIpv6Fragment = 44;
constexpr int kMaxExtensionHeaders = 16;  // bounds the walk on hostile chains

uint16_t load_be16(const uint8_t* p) noexcept { return uint16_t(p[0] << 8 | p[1]); }
void store_be16(uint8_t* p, uint32_t v) noexcept {
    p[0] = uint8_t(v >> 8);
    p[1] = uint8_t(v);
}

// Extension headers that share the (next header, length in 8-octet units) layout.
bool is_extension(uint8_t nh) noexcept {
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

std::expected<IpInfo, DropReason> parse_v4(const uint8_t* ip, uint32_t avail) noexcept {
    if (avail < sizeof(rte_ipv4_hdr)) return std::unexpected(DropReason::too_short);
    IpInfo info;
    info.version = 4;
    info.l3_len = uint16_t((ip[0] & 0x0f) * 4);
    info.total_len = load_be16(ip + 2);
    info.proto = ip[9];
    info.proto_offset = 9;
    if (info.l3_len < sizeof(rte_ipv4_hdr) || info.l3_len > avail ||
        info.total_len < info.l3_len || info.total_len > avail)
        return std::unexpected(DropReason::bad_ip_header);
    if (rte_raw_cksum(ip, info.l3_len) != 0xffff)
        return std::unexpected(DropReason::bad_ip_header);
    if ((load_be16(ip + 6) & 0x3fff) != 0)  // MF set or a fragment offset
        return std::unexpected(DropReason::ip_fragment);
    return info;
}

std::expected<IpInfo, DropReason> parse_v6(const uint8_t* ip, uint32_t avail) noexcept {
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

}  // namespace

std::expected<IpInfo, DropReason> parse_ip(const uint8_t* ip, uint32_t avail) noexcept {
    if (avail < 1) return std::unexpected(DropReason::too_short);
    switch (ip[0] >> 4) {
        case 4: return parse_v4(ip, avail);
        case 6: return parse_v6(ip, avail);
        default: return std::unexpected(DropReason::bad_ip_header);
    }
}

void patch_ip(uint8_t* ip, IpInfo& info, uint8_t new_proto, int32_t delta) noexcept {
    info.total_len = uint32_t(int32_t(info.total_len) + delta);
    info.proto = new_proto;
    ip[info.proto_offset] = new_proto;
    if (info.version == 4) {
        store_be16(ip + 2, info.total_len);
        store_be16(ip + 10, 0);
        const uint16_t sum = uint16_t(~rte_raw_cksum(ip, info.l3_len));
        std::memcpy(ip + 10, &sum, 2);  // rte_raw_cksum works in memory order
    } else {
        store_be16(ip + 4, info.total_len - kIpv6HeaderLen);
    }
}

}  // namespace pcscf::esp
