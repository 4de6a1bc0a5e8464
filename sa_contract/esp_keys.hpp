#pragma once
// ESP keys from the IMS AKA keys CK_IM and IK_IM (TS 33.203 Annex I) for every alg/ealg
// pair of Annex H, and the TS 33.220 Annex B KDF the AES-GCM/AES-GMAC salts come from.
// Control-path code: nothing here runs per packet. SHA-256 comes from IPsec-MB.
#include <array>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>

#include "sa_contract/sa_config.hpp"

struct IMB_MGR;

namespace pcscf::esp {

using AkaKey = std::span<const uint8_t, 16>;  // CK_IM or IK_IM, 128 bits

// TS 33.220 B.2.0: HMAC-SHA-256(key, S), S = FC || P0 || L0 || ... || Pn || Ln, each Li
// the length of Pi in two octets, big-endian. The key may be up to 64 bytes; an empty
// parameter, or one over 0xffff bytes, is refused.
std::expected<std::array<uint8_t, 32>, std::string> kdf_33220(IMB_MGR* mgr, std::span<const uint8_t> key, uint8_t fc,
                                                              std::span<const std::span<const uint8_t>> params);

// HMAC-SHA-256 (RFC 2104) for keys up to the 64-byte block.
std::expected<std::array<uint8_t, 32>, std::string> hmac_sha256(IMB_MGR* mgr, std::span<const uint8_t> key,
                                                                std::span<const uint8_t> msg);

// Annex I, integrity keys for the HMACs (hmac-sha-256-128 by the same rule): ik_esp() in
// hmac_key.hpp.

// Annex I, encryption keys.
std::array<uint8_t, 16> ck_esp_aes_cbc(AkaKey ck) noexcept;  // CK_ESP = CK_IM
// des-ede3-cbc (Rel-6 to Rel-11 Annex I): CK_IM = CK1 || CK2 (64 bits each), CK_ESP =
// CK1 || CK2 || CK1, every byte's low bit set to odd parity (DES does not use those bits,
// so a peer that leaves them alone encrypts the same). Refused, as RFC 2451 2.3 advises,
// when CK1 and CK2 are the same DES key (3DES would be single DES) or either is a DES
// weak or semi-weak key: odds of 2^-52 or so, for which the SA set-up fails.
std::expected<std::array<uint8_t, 24>, std::string> derive_ck_esp_3des(AkaKey ck);

// AES-GCM (RFC 4106) and AES-GMAC (RFC 4543), Rel-12+ Annex I: the 128-bit key is CK_IM
// (GCM) or IK_IM (GMAC); the 4-byte salt is the 32 least significant bits (the last four
// octets) of KDF(CK_IM || IK_IM, S) with S = FC || label || length(label).
inline constexpr uint8_t kFcAesGmacSalt = 0x58;  // P0 = "AES_GMAC_SALT"
inline constexpr uint8_t kFcAesGcmSalt = 0x59;   // P0 = "AES_GCM_SALT"

struct AeadKey {
    std::array<uint8_t, 16> key{};
    std::array<uint8_t, 4> salt{};
    friend bool operator==(const AeadKey&, const AeadKey&) = default;
};

// fc selects the algorithm: kFcAesGcmSalt or kFcAesGmacSalt; any other value is an error.
std::expected<AeadKey, std::string> derive_aead_key_salt(IMB_MGR* mgr, AkaKey ck, AkaKey ik, uint8_t fc);
inline std::expected<AeadKey, std::string> derive_gcm_key_salt(IMB_MGR* mgr, AkaKey ck, AkaKey ik) {
    return derive_aead_key_salt(mgr, ck, ik, kFcAesGcmSalt);
}
inline std::expected<AeadKey, std::string> derive_gmac_key_salt(IMB_MGR* mgr, AkaKey ck, AkaKey ik) {
    return derive_aead_key_salt(mgr, ck, ik, kFcAesGmacSalt);
}

// What SaRecord::cipher carries for a pair (sa_config.hpp): CK_ESP for a CBC ealg, key
// || salt for aes-gcm (from CK) and aes-gmac (from IK), nothing for an HMAC with
// ealg=null. Errors: a pair Annex H does not allow, a 3DES key refused as weak.
std::expected<CipherKey, std::string> cipher_key(IMB_MGR* mgr, Alg alg, Ealg ealg, AkaKey ck, AkaKey ik);

}  // namespace pcscf::esp
