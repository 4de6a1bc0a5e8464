#pragma once
// HMAC-MD5-96 and HMAC-SHA-1-96 (RFC 2403, RFC 2404) by OpenSSL's libcrypto: an
// implementation apart from the engine's IPsec-MB path, to check the engine's ICVs against.
#include <array>
#include <cstdint>
#include <span>

#include "sa_contract/sa_config.hpp"

namespace pcscf::fuzz {

std::array<uint8_t, esp::kIcvLen> reference_icv(esp::Alg alg, std::span<const uint8_t> key,
                                                std::span<const uint8_t> data);

}  // namespace pcscf::fuzz
