#pragma once
// Network-order loads and stores of header fields at any alignment (memcpy, no aliasing
// casts). Inline: packet paths call them for every packet.
#include <rte_byteorder.h>

#include <cstdint>
#include <cstring>

namespace pcscf::net {

inline uint16_t load_be16(const uint8_t* p) noexcept { return uint16_t(p[0] << 8 | p[1]); }

inline uint32_t load_be32(const uint8_t* p) noexcept {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return rte_be_to_cpu_32(v);
}

inline void store_be16(uint8_t* p, uint16_t v) noexcept {
    p[0] = uint8_t(v >> 8);
    p[1] = uint8_t(v);
}

inline void store_be32(uint8_t* p, uint32_t v) noexcept {
    v = rte_cpu_to_be_32(v);
    std::memcpy(p, &v, 4);
}

}  // namespace pcscf::net
