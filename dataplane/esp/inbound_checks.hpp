#pragma once
// Two checks of inbound ESP that any receiver does per packet, shared by the engine and
// the benchmark's ideal loop (bench/ideal_esp.hpp), so the bound checks exactly alike.
#include <cstdint>
#include <cstring>

namespace pcscf::esp {

// Constant time, so the position of the first wrong byte does not leak. For a 12-byte
// ICV the two words overlap.
inline bool icv_equal(const uint8_t* a, const uint8_t* b, uint32_t len) noexcept {
    uint64_t a0, b0, a1, b1;
    std::memcpy(&a0, a, 8);
    std::memcpy(&b0, b, 8);
    std::memcpy(&a1, a + len - 8, 8);
    std::memcpy(&b1, b + len - 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

// RFC 4303 2.4: with no cipher-specified padding, pad bytes are 1, 2, 3, ...
inline bool padding_ok(const uint8_t* pad, uint32_t len) noexcept {
    for (uint32_t k = 0; k < len; ++k)
        if (pad[k] != k + 1) return false;
    return true;
}

}  // namespace pcscf::esp
