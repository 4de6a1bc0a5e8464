#pragma once
// A fuzz input read front to back as the choices of a scenario. Past the end every read
// gives zeros, so any input, however short, is a whole scenario, and the fuzzer's
// mutations of a byte change one choice.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

namespace pcscf::fuzz {

class FuzzInput {
public:
    FuzzInput(const uint8_t* data, size_t size) noexcept : data_(data), size_(size) {}

    bool empty() const noexcept { return at_ >= size_; }
    size_t remaining() const noexcept { return empty() ? 0 : size_ - at_; }

    uint8_t u8() noexcept { return at_ < size_ ? data_[at_++] : 0; }
    uint16_t u16() noexcept { return uint16_t(u8() << 8 | u8()); }
    uint32_t u32() noexcept { return uint32_t(u16()) << 16 | u16(); }
    bool flag() noexcept { return u8() & 1; }
    // A choice among n (n <= 256).
    uint32_t below(uint32_t n) noexcept { return n == 0 ? 0 : u8() % n; }
    // Up to n bytes of the input (fewer at its end).
    std::span<const uint8_t> bytes(size_t n) noexcept {
        n = std::min(n, remaining());
        const std::span<const uint8_t> out(data_ + at_, n);
        at_ += n;
        return out;
    }

private:
    const uint8_t* data_;
    size_t size_;
    size_t at_ = 0;
};

}  // namespace pcscf::fuzz
