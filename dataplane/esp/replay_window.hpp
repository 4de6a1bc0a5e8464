#pragma once
// Anti-replay (RFC 4303 3.4.3) with the bitmap ring of RFC 6479: the window is kept as a
// ring of 64-bit words, at least one word more than the window needs, so sliding right
// clears whole words instead of shifting the map. The ring's length is a power of two, so
// a sequence number's word is a mask away, not a division per packet. 32-bit sequence
// numbers (no ESN: TS 33.203).
//
// Threading: the state belongs to the SA's owning worker; no atomics.
#include <algorithm>
#include <bit>
#include <cstdint>

namespace pcscf::esp {

class ReplayWindow {
public:
    static constexpr uint32_t kMinSize = 64;
    static constexpr uint32_t kMaxSize = 1u << 16;

    // `size` is the number of sequence numbers accepted behind the highest one seen.
    explicit constexpr ReplayWindow(uint32_t size) noexcept
        : size_(size), words_(std::bit_ceil((size + 63) / 64 + 1)) {}

    static constexpr bool valid_size(uint32_t size) noexcept { return size >= kMinSize && size <= kMaxSize; }
    constexpr uint32_t size() const noexcept { return size_; }
    constexpr uint32_t words() const noexcept { return words_; }

    // Pre-check before the ICV is verified: would `seq` be accepted?
    bool check(uint32_t last, const uint64_t* map, uint32_t seq) const noexcept {
        if (seq == 0) return false;  // sequence numbers start at 1
        if (seq > last) return true;
        if (last - seq >= size_) return false;
        return (map[word(seq)] & bit(seq)) == 0;
    }

    // After the ICV verified: accept `seq` and slide the window. Returns false (and changes
    // nothing) if `seq` is a replay, e.g. a duplicate earlier in the same burst.
    bool update(uint32_t& last, uint64_t* map, uint32_t seq) const noexcept {
        if (!check(last, map, seq)) return false;
        if (seq > last) {
            const uint32_t from = last >> 6, to = seq >> 6;
            const uint32_t clear = std::min(to - from, words_);
            for (uint32_t i = 1; i <= clear; ++i) map[(from + i) & (words_ - 1)] = 0;
            last = seq;
        }
        map[word(seq)] |= bit(seq);
        return true;
    }

    // The word of the map that holds `seq`'s bit.
    uint32_t word(uint32_t seq) const noexcept { return (seq >> 6) & (words_ - 1); }

private:
    static constexpr uint64_t bit(uint32_t seq) noexcept { return uint64_t{1} << (seq & 63); }

    uint32_t size_;
    uint32_t words_;
};

}  // namespace pcscf::esp
