#pragma once
// Builds IPv4 / IPv6 packets carrying UDP or TCP, with correct IP and transport
// checksums, for tests and benchmarks.
#include <cstdint>
#include <span>
#include <vector>

#include "net/ip_addr.hpp"

namespace pcscf::test {

struct Flow {
    net::IpAddr src, dst;
    uint16_t sport = 0, dport = 0;
    uint8_t proto = 17;     // 17 UDP, 6 TCP
    bool force_v6 = false;  // IPv6 even from ::ffff:a.b.c.d (IpAddr's form of IPv4)
};

// The IP packet (no L2 header) of `flow` with `payload`.
std::vector<uint8_t> make_packet(const Flow& flow, std::span<const uint8_t> payload);
std::vector<uint8_t> make_packet(const Flow& flow, size_t payload_len);

// An Ethernet header (14 bytes) in front of an IP packet.
std::vector<uint8_t> with_ethernet(std::span<const uint8_t> ip_packet);

// Recomputes the IPv4 header checksum after a test edited the header.
void fix_ipv4_checksum(std::vector<uint8_t>& pkt);

}  // namespace pcscf::test
