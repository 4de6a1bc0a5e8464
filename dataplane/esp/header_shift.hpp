#pragma once
// Transport-mode ESP inserts or removes 8 bytes between the IP header and its payload,
// so the L2 + IP headers (a few dozen bytes) move by 8. Eight bytes at a time, inline:
// this runs for every packet and a memmove call costs more than the copy itself.
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

// Moves p[0, len) to p[8, 8 + len); len >= 8.
inline void shift_forward_8(uint8_t* p, uint32_t len) noexcept {
    // Words are moved from the end down, each read before anything overwrites it; the
    // first 8 bytes are read up front so a length that is not a multiple of 8 needs no
    // byte loop (the last word written overlaps the one before with the same bytes).
    const uint64_t head = detail::load8(p);
    for (uint32_t i = len; i >= 16; i -= 8) detail::store8(p + i, detail::load8(p + i - 8));
    detail::store8(p + 8 + (len & 7), detail::load8(p + (len & 7)));
    detail::store8(p + 8, head);
}

// Moves p[8, 8 + len) to p[0, len); len >= 8.
inline void shift_back_8(uint8_t* p, uint32_t len) noexcept {
    const uint64_t tail = detail::load8(p + len);  // the last 8 bytes of the source
    for (uint32_t i = 0; i + 8 <= len; i += 8) detail::store8(p + i, detail::load8(p + i + 8));
    detail::store8(p + len - 8, tail);
}

}  // namespace pcscf::esp
