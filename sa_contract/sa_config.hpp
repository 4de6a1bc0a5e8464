#pragma once
// What an SA is, as the control plane describes it to a worker: the SA's identity,
// algorithm, expanded key and selectors. The worker keeps only the hot part of this.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "net/ip_addr.hpp"

namespace pcscf::esp {

// TS 33.203 Annex H integrity algorithms ("alg").
enum class Alg : uint8_t { hmac_md5_96 = 1, hmac_sha1_96 = 2 };

// TS 33.203 Annex H encryption algorithms ("ealg"); null: integrity only (RFC 2410).
enum class Ealg : uint8_t { null = 0, aes_cbc = 1, des_ede3_cbc = 2 };

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
// The explicit IV that follows the ESP header: one cipher block for CBC (RFC 3602 for
// AES-128, RFC 2451 for 3DES), none for null.
constexpr uint32_t iv_len(Ealg e) noexcept { return e == Ealg::aes_cbc ? 16 : e == Ealg::des_ede3_cbc ? 8 : 0; }
// What payload + padding + trailer must be a multiple of: the cipher's block, and at
// least 4 so the ICV is aligned (RFC 4303 2.4).
constexpr uint32_t pad_block(Ealg e) noexcept { return e == Ealg::null ? 4 : iv_len(e); }
// Length of CK_ESP (TS 33.203 Annex I): 128 bits for AES-CBC, 192 for 3DES.
constexpr uint32_t cipher_key_len(Ealg e) noexcept {
    return e == Ealg::aes_cbc ? 16 : e == Ealg::des_ede3_cbc ? 24 : 0;
}
constexpr std::string_view name(Ealg e) noexcept {
    return e == Ealg::aes_cbc ? "aes-cbc" : e == Ealg::des_ede3_cbc ? "des-ede3-cbc" : "null";
}
constexpr std::optional<Ealg> parse_ealg(std::string_view s) noexcept {
    if (s == "null") return Ealg::null;
    if (s == "aes-cbc") return Ealg::aes_cbc;
    if (s == "des-ede3-cbc") return Ealg::des_ede3_cbc;
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

// CK_ESP as negotiated, cipher_key_len(ealg) bytes; each worker expands it into its own
// key schedule when it installs the SA. Empty for null encryption.
struct CipherKey {
    std::array<uint8_t, 24> bytes{};
    uint8_t len = 0;
    std::span<const uint8_t> span() const noexcept { return {bytes.data(), len}; }
    friend bool operator==(const CipherKey&, const CipherKey&) = default;
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
    Ealg ealg = Ealg::null;  // last, so that older aggregate initialisations keep meaning null
};

}  // namespace pcscf::esp
