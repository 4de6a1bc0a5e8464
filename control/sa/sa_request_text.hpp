#pragma once
// SAs described in text, as operators type them: "dir=in,alg=hmac-sha-1-96,key=<hex>,
// spi=<n>,ue=<addr>,ue_port=<n>,pcscf=<addr>,pcscf_port=<n>", with "ealg=aes-cbc,
// ekey=<hex>" (CK_ESP, TS 33.203 Annex I) for an SA that encrypts (ealg=null without).
// The AEADs take no key, only ekey, 20 bytes of AES key || salt: "alg=null,ealg=aes-gcm,
// ekey=<40 hex>" and "alg=aes-gmac,ealg=null,ekey=<40 hex>".
// Used by the telemetry command /pcscf/sa/add and by pcscf-espctl.
#include <expected>
#include <string>
#include <string_view>

#include "control/sa/sa_manager.hpp"

namespace pcscf::ctl {

Expected<SaRequest> parse_sa_request(std::string_view text);  // Errc::invalid, saying why

}  // namespace pcscf::ctl
