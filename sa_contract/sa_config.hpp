#pragma once
// What an SA is, as the control plane describes it to a worker: the SA's identity,
// algorithm, expanded key and selectors. The worker keeps only the hot part of this.
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "net/ip_addr.hpp"

namespace pcscf::esp {

// TS 33.203 integrity algorithms. NULL encryption is implied: confidentiality is not used.
enum class Alg : uint8_t { hmac_md5_96 = 1, hmac_sha1_96 = 2 };

enum class Direction : uint8_t { inbound = 0, outbound = 1 };

inline constexpr uint32_t kIcvLen = 12;        // both algorithms truncate to 96 bits
inline constexpr uint32_t kEspHeaderLen = 8;   // SPI + sequence number
inline constexpr uint32_t kEspTrailerLen = 2;  // pad length + next header

// Key length of IK_ESP (TS 33.203 Annex I): 128 bits for MD5, 160 bits for SHA-1.
constexpr uint32_t key_len(Alg a) noexcept { return a == Alg::hmac_md5_96 ? 16 : 20; }

// Names as in TS 33.203 Annex H ("alg=hmac-md5-96").
constexpr std::string_view name(Alg a) noexcept { return a == Alg::hmac_md5_96 ? "hmac-md5-96" : "hmac-sha-1-96"; }
constexpr std::optional<Alg> parse_alg(std::string_view s) noexcept {
    if (s == "hmac-md5-96") return Alg::hmac_md5_96;
    if (s == "hmac-sha-1-96") return Alg::hmac_sha1_96;
    return std::nullopt;
}
constexpr std::string_view name(Direction d) noexcept { return d == Direction::inbound ? "in" : "out"; }

// HMAC key expanded once per SA: the hash states after the (K ^ ipad) and (K ^ opad)
// blocks, so each packet costs only its own blocks plus one outer block.
struct HmacKey {
    std::array<uint8_t, 20> ipad{};
    std::array<uint8_t, 20> opad{};
    friend bool operator==(const HmacKey&, const HmacKey&) = default;
};

struct SaConfig {
    Direction dir = Direction::inbound;
    Alg alg = Alg::hmac_sha1_96;
    uint32_t spi = 0;
    net::IpAddr ue_addr;      // inner source (inbound) / destination (outbound)
    net::IpAddr pcscf_addr;   // the P-CSCF's access address; unspecified = any (inbound only)
    uint16_t ue_port = 0;     // host order; 0 = any (inbound only)
    uint16_t pcscf_port = 0;  // host order; 0 = any (inbound only)
    uint64_t cookie = 0;      // the control plane's handle, echoed in events
    // Where the SA's sequence numbers start (an SA restored after a restart): outbound the
    // last number counted as sent (the next packet gets seq_start + 1); inbound the
    // window's right edge, every number up to it counted as seen. 0 for a new SA.
    uint32_t seq_start = 0;
};

}  // namespace pcscf::esp
