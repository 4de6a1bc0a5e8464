#pragma once
// The operator's policy for the ipsec-3gpp algorithm pair (TS 33.203 Annex H: an integrity
// "alg" and an encryption "ealg"), as pcscf-espd's --allowed-algorithms,
// --preferred-algorithms and --alg-priority give it.
//
// A pair is allowed when both its names are and Annex H allows the pair (esp::transform):
// an HMAC (hmac-sha-256-128, the operator's extension, included) with null, aes-cbc or
// des-ede3-cbc; aes-gmac with null; aes-gcm, whose integrity
// is built in, with alg=null. "null" in the options is the ealg (integrity without
// confidentiality): alg=null is no choice of its own, aes-gcm implies it. Pairs rank by
// their ealg's place in the encryption order first, then by their alg's place in the
// integrity order: the choice of confidentiality (or none) is the bigger difference
// between two pairs, so it decides. The P-CSCF takes the best-ranked pair the UE offered (TS 33.203 7.2), and lists
// every allowed pair best first in Security-Server: a UE that picks the first pair of that
// list it supports (TS 33.203 7.2, RFC 3329 2.3.1) picks the same one.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control/error.hpp"
#include "sa_contract/sa_config.hpp"

namespace pcscf::secagree {

struct AlgPair {
    esp::Alg alg = esp::Alg::hmac_sha1_96;
    esp::Ealg ealg = esp::Ealg::null;
    friend bool operator==(const AlgPair&, const AlgPair&) = default;
};

struct AlgorithmPolicy {
    // The allowed algorithms of each family, most preferred first. algs never holds
    // Alg::null (aes-gcm's pair has it); either may be empty, never both.
    std::vector<esp::Alg> algs{esp::Alg::hmac_sha1_96, esp::Alg::aes_gmac, esp::Alg::hmac_md5_96};
    std::vector<esp::Ealg> ealgs{esp::Ealg::aes_gcm, esp::Ealg::aes_cbc, esp::Ealg::des_ede3_cbc, esp::Ealg::null};

    // 0 for the best pair; nullopt when the pair is not allowed.
    std::optional<size_t> rank(AlgPair p) const;
    // Every allowed pair, best first.
    std::vector<AlgPair> pairs() const;
    friend bool operator==(const AlgorithmPolicy&, const AlgorithmPolicy&) = default;
};

// The option texts as given; nullopt for an option not given (its default applies).
struct AlgorithmOptions {
    std::optional<std::string> allowed;       // --allowed-algorithms
    std::optional<std::string> preferred;     // --preferred-algorithms
    std::optional<std::string> alg_priority;  // --alg-priority (the integrity order alone)
};

inline constexpr std::string_view kDefaultAllowedAlgorithms =
    "hmac-sha-1-96,hmac-md5-96,aes-gmac,aes-gcm,aes-cbc,des-ede3-cbc,null";
// AEAD first: aes-gcm encrypts and authenticates in one pass with a 128-bit tag, and its
// CBC rivals need a second algorithm (and 3DES a 64-bit block). Among integrity-only pairs
// HMAC-SHA-1-96 stays ahead of AES-GMAC: HMAC-SHA-1 is still a sound MAC (its strength does
// not rest on SHA-1's broken collision resistance, RFC 6194), RFC 8221 keeps it a MUST- for
// ESP where AES-GMAC is a MAY, and every Annex H UE implements it; GMAC's gain is speed.
// hmac-md5-96 comes last (RFC 8221: MUST NOT). hmac-sha-256-128 (RFC 4868) is not
// allowed by default: no release of TS 33.203 gives it an Annex H name or an Annex I key,
// so only an operator who knows its UEs use this name and IK_ESP (IK || 128 zero bits,
// sa_contract/hmac_key.hpp) allows it; allowed, it comes first among the HMACs.
inline constexpr std::string_view kDefaultPreferredAlgorithms =
    "aes-gcm,aes-cbc,des-ede3-cbc,null,hmac-sha-256-128,hmac-sha-1-96,aes-gmac,hmac-md5-96";

// Comma-separated Annex H names of both families. --allowed-algorithms says which may be
// used; --preferred-algorithms orders them (allowed names it leaves out follow, in the
// order --allowed-algorithms gives them; its default orders whatever is allowed). --alg-priority, the older option,
// gives the integrity algorithms alone, in order: those allowed, the others not; the other two options may then name
// only encryption algorithms. Every mistake is an Errc::invalid error that starts with the option's name: an unknown or
// repeated name, nothing allowed, an allowed name that forms no pair with the others allowed (aes-gmac without null,
// an HMAC without an ealg it goes with, aes-cbc without an HMAC, ...), a preferred name that is not allowed.
ctl::Expected<AlgorithmPolicy> parse_algorithm_policy(const AlgorithmOptions& o);

// "hmac-sha-1-96,hmac-md5-96" / "aes-cbc,des-ede3-cbc,null": each family's order, as
// telemetry shows it.
std::string integrity_order(const AlgorithmPolicy& p);
std::string encryption_order(const AlgorithmPolicy& p);

}  // namespace pcscf::secagree
