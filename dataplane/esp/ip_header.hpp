#pragma once
// Reading and patching the IP header of a packet for transport-mode ESP: where the
// upper-layer (or ESP) header starts, which byte names it, and the lengths to fix.
// IPv4 options and IPv6 extension headers are walked, never assumed absent.
#include <cstdint>
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
// header checksum. Fragments are refused (ip_fragment): ESP needs whole datagrams.
std::expected<IpInfo, DropReason> parse_ip(const uint8_t* ip, uint32_t avail) noexcept;

// Rewrites the protocol byte and the length of the header described by `info` after its
// payload grew or shrank by `delta` bytes (IPv4 checksum recomputed). `info` is updated.
void patch_ip(uint8_t* ip, IpInfo& info, uint8_t new_proto, int32_t delta) noexcept;

}  // namespace pcscf::esp
