#pragma once
// Transport-mode ESP inserts or removes the ESP header, and with a CBC cipher the IV
// after it (8 + 0, 8 or 16 bytes), between the IP header and its payload, so the L2 + IP
// headers (a few dozen bytes) move by that much. Eight bytes at a time, inline: this runs
// for every packet and a memmove call costs more than the copy itself.
#include <cstdint>
#include <cstring>

namespace pcscf::esp {

namespace detail {
inline uint64_t load8(const uint8_t* p) noexcept {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}
inline void store8(uint8_t* p, uint64_t v) noexcept { std::memcpy(p, &v, 8); }
}  // namespace detail

// Moves p[0, len) to p[By, By + len); len >= 8, By a multiple of 8.
template <uint32_t By>
inline void shift_forward(uint8_t* p, uint32_t len) noexcept {
    static_assert(By >= 8 && By % 8 == 0);
    // Words are moved from the end down, each read before anything overwrites it (every
    // store lands at least 8 bytes above its load); the first 8 bytes are read up front so
    // a length that is not a multiple of 8 needs no byte loop (the last word written
    // overlaps the one before with the same bytes).
    const uint64_t head = detail::load8(p);
    for (uint32_t i = len; i >= 16; i -= 8) detail::store8(p + i - 8 + By, detail::load8(p + i - 8));
    detail::store8(p + By + (len & 7), detail::load8(p + (len & 7)));
    detail::store8(p + By, head);
}

// Moves p[By, By + len) to p[0, len); len >= 8, By a multiple of 8.
template <uint32_t By>
inline void shift_back(uint8_t* p, uint32_t len) noexcept {
    static_assert(By >= 8 && By % 8 == 0);
    const uint64_t tail = detail::load8(p + By + len - 8);  // the last 8 bytes of the source
    for (uint32_t i = 0; i + 8 <= len; i += 8) detail::store8(p + i, detail::load8(p + i + By));
    detail::store8(p + len - 8, tail);
}

inline void shift_forward_8(uint8_t* p, uint32_t len) noexcept { shift_forward<8>(p, len); }
inline void shift_back_8(uint8_t* p, uint32_t len) noexcept { shift_back<8>(p, len); }

// The same by the ESP header plus a CBC IV: by = 16 (3DES) or 24 (AES).
inline void shift_forward(uint8_t* p, uint32_t len, uint32_t by) noexcept {
    if (by == 16) shift_forward<16>(p, len);
    else shift_forward<24>(p, len);
}
inline void shift_back(uint8_t* p, uint32_t len, uint32_t by) noexcept {
    if (by == 16) shift_back<16>(p, len);
    else shift_back<24>(p, len);
}

}  // namespace pcscf::esp
