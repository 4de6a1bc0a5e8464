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

// TS 33.203 Annex H integrity algorithms ("alg"). aes-gmac (RFC 4543) is a combined
// transform that goes with ealg=null; null goes with ealg=aes-gcm only. hmac-sha-256-128
// (RFC 4868) is in no release of Annex H: an operator's extension, paired like the other
// HMACs. Not 0, so that a zeroed value is no algorithm.
enum class Alg : uint8_t { hmac_md5_96 = 1, hmac_sha1_96 = 2, aes_gmac = 3, null = 4, hmac_sha256_128 = 5 };

// TS 33.203 Annex H encryption algorithms ("ealg"); null: integrity only (RFC 2410).
// aes-gcm (RFC 4106) is a combined transform that goes with alg=null.
enum class Ealg : uint8_t { null = 0, aes_cbc = 1, des_ede3_cbc = 2, aes_gcm = 3 };

enum class Direction : uint8_t { inbound = 0, outbound = 1 };

// How an SA carries packets (Annex H "mod"): transport mode (TS 33.203 7.1), or tunnel
// mode inside UDP for a UE behind a NAT (TS 33.203 Annex M, RFC 3948).
enum class Mode : uint8_t { transport = 0, udp_enc_tun = 1 };
inline constexpr uint16_t kNatTPort = 4500;  // the P-CSCF's end of the UDP encapsulation (RFC 3948 2)
constexpr std::string_view name(Mode m) noexcept { return m == Mode::transport ? "trans" : "UDP-enc-tun"; }

// What an SA does to a packet, from its (alg, ealg) pair.
// Every transform but hmac keeps a block in the worker's key pool (cipher_keys.hpp).
enum class Transform : uint8_t {
    hmac = 0,      // HMAC-MD5-96 or HMAC-SHA-1-96 over ESP header .. trailer, no cipher
    cbc_hmac = 1,  // CBC encryption, then the HMAC over the ciphertext (RFC 4303 3.3.2)
    gcm = 2,       // AES-GCM-128, 16-byte ICV (RFC 4106)
    gmac = 3,      // AES-GMAC-128, 16-byte ICV, payload in clear (RFC 4543)
    // HMAC-SHA-256-128 (RFC 4868), no cipher: as hmac, but its hash states (2 x 32 bytes)
    // do not fit the SA record's first line and live in its key block.
    hmac_sha256 = 4,
};

inline constexpr uint32_t kIcvLen = 12;        // HMAC-MD5-96 and HMAC-SHA-1-96 (RFC 2403, 2404)
inline constexpr uint32_t kSha256IcvLen = 16;  // HMAC-SHA-256-128 (RFC 4868 2.3)
inline constexpr uint32_t kAeadIcvLen = 16;    // AES-GCM and AES-GMAC as Annex H uses them
inline constexpr uint32_t kMaxIcvLen = 16;
inline constexpr uint32_t kAeadIvLen = 8;      // RFC 4106 3.1, RFC 4543 3.1
inline constexpr uint32_t kAeadKeyLen = 20;    // AES-128 key || 4-byte salt (RFC 4106 8.1)
inline constexpr uint32_t kEspHeaderLen = 8;   // SPI + sequence number
inline constexpr uint32_t kEspTrailerLen = 2;  // pad length + next header

constexpr bool is_hmac(Alg a) noexcept {
    return a == Alg::hmac_md5_96 || a == Alg::hmac_sha1_96 || a == Alg::hmac_sha256_128;
}
constexpr bool is_cbc(Ealg e) noexcept { return e == Ealg::aes_cbc || e == Ealg::des_ede3_cbc; }

// The pairs Annex H allows: an HMAC with null or a CBC cipher, aes-gcm with alg=null,
// aes-gmac with ealg=null. Anything else (or a value outside the enums) is none.
constexpr std::optional<Transform> transform(Alg a, Ealg e) noexcept {
    if (is_hmac(a)) {
        if (e == Ealg::null) return a == Alg::hmac_sha256_128 ? Transform::hmac_sha256 : Transform::hmac;
        if (is_cbc(e)) return Transform::cbc_hmac;
        return std::nullopt;
    }
    if (a == Alg::null && e == Ealg::aes_gcm) return Transform::gcm;
    if (a == Alg::aes_gmac && e == Ealg::null) return Transform::gmac;
    return std::nullopt;
}
constexpr bool is_aead(Transform t) noexcept { return t == Transform::gcm || t == Transform::gmac; }
// An HMAC without a cipher (ealg=null).
constexpr bool hmac_only(Transform t) noexcept { return t == Transform::hmac || t == Transform::hmac_sha256; }
// The ICV of an SA's packets: 12 bytes for the 96-bit HMACs, 16 for the others.
constexpr uint32_t icv_len(Alg a, Transform t) noexcept {
    return is_aead(t) ? kAeadIcvLen : a == Alg::hmac_sha256_128 ? kSha256IcvLen : kIcvLen;
}

// Length of IK_ESP for an HMAC (TS 33.203 Annex I): 128 bits for MD5, 160 for SHA-1, and
// 256 for SHA-256 (RFC 4868 2.1.1); 0 for the others, whose keys travel as cipher keys
// (see cipher_key_len).
constexpr uint32_t key_len(Alg a) noexcept {
    return a == Alg::hmac_md5_96 ? 16 : a == Alg::hmac_sha1_96 ? 20 : a == Alg::hmac_sha256_128 ? 32 : 0;
}

// Names as in TS 33.203 Annex H ("alg=hmac-md5-96").
constexpr std::string_view name(Alg a) noexcept {
    switch (a) {
        case Alg::hmac_md5_96: return "hmac-md5-96";
        case Alg::hmac_sha1_96: return "hmac-sha-1-96";
        case Alg::aes_gmac: return "aes-gmac";
        case Alg::null: return "null";
        case Alg::hmac_sha256_128: return "hmac-sha-256-128";
    }
    return "?";
}
constexpr std::optional<Alg> parse_alg(std::string_view s) noexcept {
    if (s == "hmac-md5-96") return Alg::hmac_md5_96;
    if (s == "hmac-sha-1-96") return Alg::hmac_sha1_96;
    if (s == "hmac-sha-256-128") return Alg::hmac_sha256_128;
    if (s == "aes-gmac") return Alg::aes_gmac;
    if (s == "null") return Alg::null;
    return std::nullopt;
}
// The explicit IV that follows the ESP header: one cipher block for CBC (RFC 3602 for
// AES-128, RFC 2451 for 3DES), 8 bytes for AES-GCM, none for null.
constexpr uint32_t iv_len(Ealg e) noexcept {
    return e == Ealg::aes_cbc ? 16 : e == Ealg::des_ede3_cbc || e == Ealg::aes_gcm ? kAeadIvLen : 0;
}
// The same for a pair: AES-GMAC has an IV with ealg=null.
constexpr uint32_t iv_len(Alg a, Ealg e) noexcept { return a == Alg::aes_gmac ? kAeadIvLen : iv_len(e); }
// What payload + padding + trailer must be a multiple of: the CBC cipher's block, and at
// least 4 so the ICV is aligned (RFC 4303 2.4; RFC 4106 3.2 and 4543 3.2 for the AEADs).
constexpr uint32_t pad_block(Ealg e) noexcept { return is_cbc(e) ? iv_len(e) : 4; }
// Length of CK_ESP (TS 33.203 Annex I): 128 bits for AES-CBC, 192 for 3DES; for AES-GCM
// the key and salt (kAeadKeyLen).
constexpr uint32_t cipher_key_len(Ealg e) noexcept {
    return e == Ealg::aes_cbc ? 16 : e == Ealg::des_ede3_cbc ? 24 : e == Ealg::aes_gcm ? kAeadKeyLen : 0;
}
// What SaRecord::cipher carries for a pair: the ealg's key, or AES-GMAC's key and salt.
constexpr uint32_t cipher_key_len(Alg a, Ealg e) noexcept {
    return a == Alg::aes_gmac ? kAeadKeyLen : cipher_key_len(e);
}
constexpr std::string_view name(Ealg e) noexcept {
    switch (e) {
        case Ealg::null: return "null";
        case Ealg::aes_cbc: return "aes-cbc";
        case Ealg::des_ede3_cbc: return "des-ede3-cbc";
        case Ealg::aes_gcm: return "aes-gcm";
    }
    return "?";
}
constexpr std::optional<Ealg> parse_ealg(std::string_view s) noexcept {
    if (s == "null") return Ealg::null;
    if (s == "aes-cbc") return Ealg::aes_cbc;
    if (s == "des-ede3-cbc") return Ealg::des_ede3_cbc;
    if (s == "aes-gcm") return Ealg::aes_gcm;
    return std::nullopt;
}
constexpr std::string_view name(Direction d) noexcept { return d == Direction::inbound ? "in" : "out"; }

// HMAC key expanded once per SA: the hash states after the (K ^ ipad) and (K ^ opad)
// blocks, so each packet costs only its own blocks plus one outer block. MD5's states
// take the first 16 bytes, SHA-1's 20, SHA-256's all 32.
struct HmacKey {
    std::array<uint8_t, 32> ipad{};
    std::array<uint8_t, 32> opad{};
    friend bool operator==(const HmacKey&, const HmacKey&) = default;
};

// MD5's and SHA-1's states as an SA table keeps them, in its record's first line.
struct HmacKey160 {
    std::array<uint8_t, 20> ipad{};
    std::array<uint8_t, 20> opad{};
    static HmacKey160 of(const HmacKey& k) noexcept {
        HmacKey160 s;
        for (size_t i = 0; i < s.ipad.size(); ++i) s.ipad[i] = k.ipad[i], s.opad[i] = k.opad[i];
        return s;
    }
    friend bool operator==(const HmacKey160&, const HmacKey160&) = default;
};

// The SA's cipher key, cipher_key_len(alg, ealg) bytes: CK_ESP for a CBC cipher; the
// AES key and salt for AES-GCM (from CK) and AES-GMAC (from IK). Each worker expands it
// into its own key schedule when it installs the SA. Empty for an HMAC without a cipher.
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
    Ealg ealg = Ealg::null;  // after the others, so that older aggregate initialisations keep meaning null
    // UDP-enc-tun (TS 33.203 Annex M, RFC 3948), IPv4 only. ue_addr is then the UE's public
    // address (the NAT's, which the SIP layer knows it by), ue_inner the UE's own address
    // in the inner header, and encap_port the NAT's public UDP port for the UE's port
    // 4500 (0 = not known yet). Inbound: the outer source must be ue_addr (any port while
    // encap_port is 0), the inner source ue_inner; the inner packet is delivered with its
    // source rewritten to ue_addr. Outbound: the inner destination becomes ue_inner and the
    // packet goes in UDP from kNatTPort to ue_addr:encap_port; while encap_port is 0 it is
    // dropped as natt_port_unknown. `update` rewrites all three.
    Mode mode = Mode::transport;
    uint16_t encap_port = 0;  // host order
    net::IpAddr ue_inner{};   // {}: aggregate initialisations that stop before it stay warning-free
};

}  // namespace pcscf::esp
