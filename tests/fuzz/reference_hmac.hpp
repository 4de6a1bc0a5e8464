#pragma once
// HMAC-MD5-96, HMAC-SHA-1-96 and HMAC-SHA-256-128 (RFC 2403, 2404, 4868) by OpenSSL's
// libcrypto: an implementation apart from the engine's IPsec-MB path, to check the
// engine's ICVs against.
#include <cstdint>
#include <span>
#include <vector>

#include "sa_contract/sa_config.hpp"

namespace pcscf::fuzz {

// The ICV, icv_len(alg, ...) bytes.
std::vector<uint8_t> reference_icv(esp::Alg alg, std::span<const uint8_t> key, std::span<const uint8_t> data);

}  // namespace pcscf::fuzz
