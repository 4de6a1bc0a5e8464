#pragma once
// An IPv4 or IPv6 address in one 16-byte form (IPv4 as ::ffff:a.b.c.d), so SA keys,
// selectors and SIP addresses compare the same way whatever the family.
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <expected>
#include <functional>
#include <string>
#include <string_view>

namespace pcscf::net {

static_assert(std::endian::native == std::endian::little, "x86: the word tricks below");

struct IpAddr {
    std::array<uint8_t, 16> bytes{};

    static constexpr std::array<uint8_t, 12> kV4Prefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    static IpAddr v4(const void* four_bytes) noexcept {
        IpAddr a;
        std::memcpy(a.bytes.data(), kV4Prefix.data(), kV4Prefix.size());
        std::memcpy(a.bytes.data() + 12, four_bytes, 4);
        return a;
    }
    static IpAddr v6(const void* sixteen_bytes) noexcept {
        IpAddr a;
        std::memcpy(a.bytes.data(), sixteen_bytes, 16);
        return a;
    }
    // Parses dotted IPv4 or IPv6 text (brackets allowed: "[2001::1]").
    static std::expected<IpAddr, std::string> parse(std::string_view text);

    // The comparisons run per packet: two 8-byte words, no library call.
    bool is_v4() const noexcept { return word(0) == 0 && uint32_t(word(1)) == kV4MarkerLow32; }
    bool is_unspecified() const noexcept { return (word(0) | word(1)) == 0; }
    const uint8_t* v4_bytes() const noexcept { return bytes.data() + 12; }
    // Whether this is the IPv4 address a header holds at `four_bytes`: one compare of
    // each word, without building the mapped form first.
    bool is_v4_of(const void* four_bytes) const noexcept {
        uint32_t a;
        std::memcpy(&a, four_bytes, 4);
        return word(0) == 0 && word(1) == (uint64_t{a} << 32 | kV4MarkerLow32);
    }
    std::string to_string() const;

    friend bool operator==(const IpAddr& a, const IpAddr& b) noexcept {
        return ((a.word(0) ^ b.word(0)) | (a.word(1) ^ b.word(1))) == 0;
    }
    // Byte order, so control-plane maps can key on addresses (IPv4 sorts before IPv6).
    friend auto operator<=>(const IpAddr& a, const IpAddr& b) noexcept { return a.bytes <=> b.bytes; }

private:
    uint64_t word(int i) const noexcept {
        uint64_t w;
        std::memcpy(&w, bytes.data() + 8 * i, 8);
        return w;
    }
    // Bytes 8..11 of a v4-mapped address (0, 0, 0xff, 0xff) as the low half of word(1).
    static constexpr uint32_t kV4MarkerLow32 = 0xffff0000u;
};

}  // namespace pcscf::net

template <>
struct std::hash<pcscf::net::IpAddr> {
    size_t operator()(const pcscf::net::IpAddr& a) const noexcept {
        uint64_t w[2];
        std::memcpy(w, a.bytes.data(), 16);
        return std::hash<uint64_t>{}(w[0] * 0x9e3779b97f4a7c15ull ^ w[1]);
    }
};
