#pragma once
// Big-endian fields and the Internet checksum (RFC 1071), byte by byte: the fuzz models'
// own reading of headers, apart from the engine's word tricks.
#include <cstddef>
#include <cstdint>

namespace pcscf::fuzz {

inline uint32_t be16(const uint8_t* p) { return uint32_t(p[0]) << 8 | p[1]; }
inline uint32_t be32(const uint8_t* p) { return be16(p) << 16 | be16(p + 2); }
inline void put16(uint8_t* p, uint32_t v) {
    p[0] = uint8_t(v >> 8);
    p[1] = uint8_t(v);
}

// The ones'-complement sum of 16-bit words (an IPv4 header verifies when it is 0xffff).
inline uint32_t ones_sum(const uint8_t* p, size_t n) {
    uint32_t acc = 0;
    for (size_t i = 0; i + 1 < n; i += 2) acc += be16(p + i);
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return acc;
}

// Recomputes the checksum of the IPv4 header at `ip` (`len` bytes).
inline void set_ipv4_checksum(uint8_t* ip, size_t len) {
    put16(ip + 10, 0);
    put16(ip + 10, ~ones_sum(ip, len));
}

}  // namespace pcscf::fuzz
