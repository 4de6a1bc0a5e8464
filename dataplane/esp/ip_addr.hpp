#pragma once
// An IPv4 or IPv6 address in one 16-byte form (IPv4 as ::ffff:a.b.c.d), so SA keys,
// selectors and SIP addresses compare the same way whatever the family.
#include <array>
#include <cstdint>
#include <cstring>
#include <expected>
#include <string>
#include <string_view>

namespace pcscf::esp {

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

    bool is_v4() const noexcept {
        return std::memcmp(bytes.data(), kV4Prefix.data(), kV4Prefix.size()) == 0;
    }
    bool is_unspecified() const noexcept { return *this == IpAddr{}; }
    const uint8_t* v4_bytes() const noexcept { return bytes.data() + 12; }
    std::string to_string() const;

    friend bool operator==(const IpAddr&, const IpAddr&) = default;
};

}  // namespace pcscf::esp
