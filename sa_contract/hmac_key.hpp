#pragma once
// Integrity keys: IK_ESP from the AKA key IK (TS 33.203 Annex I) and its expansion into
// the inner/outer HMAC hash states (RFC 2104), done once per SA.
#include <array>
#include <cstdint>
#include <expected>
#include <span>
#include <string>

#include "sa_contract/sa_config.hpp"

struct IMB_MGR;

namespace pcscf::esp {

// A raw integrity key of key_len(alg) bytes.
struct EspKey {
    std::array<uint8_t, 32> bytes{};
    uint32_t len = 0;
    std::span<const uint8_t> span() const noexcept { return {bytes.data(), len}; }
};

// Annex I: IK_ESP = IK for HMAC-MD5-96; IK followed by 32 zero bits for HMAC-SHA-1-96.
// HMAC-SHA-256-128, which no release of Annex I covers, by the same rule: IK followed by
// 128 zero bits, the 256 bits RFC 4868 2.1.1 asks for. HMAC pads a key with zeros to the
// hash's block (RFC 2104 2), so each of these MACs equals the HMAC keyed with IK itself.
EspKey ik_esp(Alg alg, std::span<const uint8_t, 16> ik) noexcept;

// Precomputes the HMAC states for an SA key, which must be exactly key_len(alg) bytes
// (RFC 2403 / RFC 2404 / RFC 4868).
std::expected<HmacKey, std::string> expand_key(IMB_MGR* mgr, Alg alg, std::span<const uint8_t> key);

// The RFC 2104 states for any key up to the 64-byte block (longer keys must be hashed
// first, which ESP keys never need).
std::expected<HmacKey, std::string> hmac_states(IMB_MGR* mgr, Alg alg, std::span<const uint8_t> key);

}  // namespace pcscf::esp
