#pragma once
// Security-Client / Security-Server / Security-Verify (RFC 3329) with the ipsec-3gpp
// mechanism of TS 33.203 Annex H. Parsed mechanisms own their text: the P-CSCF keeps SM1's
// offer and the Security-Server it sent until SM7 arrives in another buffer.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sip/error.hpp"

namespace pcscf::sip {

// The Annex H names. Which alg goes with which ealg (alg=null with ealg=aes-gcm only,
// alg=aes-gmac with ealg=null only) is not the grammar's business: the P-CSCF's policy
// never chooses a pair Annex H does not allow (control/secagree/algorithm_policy.hpp).
// hmac-sha-256-128 (RFC 4868) is in no release of Annex H: an operator's extension.
enum class IntegrityAlg : std::uint8_t { hmac_md5_96, hmac_sha_1_96, aes_gmac, null, hmac_sha_256_128 };
enum class EncryptionAlg : std::uint8_t { null, des_ede3_cbc, aes_cbc, aes_gcm };

// Annex H "mod": transport mode (TS 33.203 7.1), or tunnel mode in UDP for a UE behind a
// NAT (TS 33.203 Annex M, RFC 3948). "tun" is not implemented.
enum class Mode : std::uint8_t { trans, udp_enc_tun };

std::string_view to_string(IntegrityAlg alg) noexcept;   // "hmac-md5-96"
std::string_view to_string(EncryptionAlg alg) noexcept;  // "null"
std::string_view to_string(Mode mod) noexcept;           // "trans", "UDP-enc-tun"

// The ipsec-3gpp parameters. prot is always esp; mod trans or UDP-enc-tun: other values
// are rejected as unsupported.
struct Ipsec3gpp {
    IntegrityAlg alg = IntegrityAlg::hmac_md5_96;
    EncryptionAlg ealg = EncryptionAlg::null;  // a missing ealg means null
    std::uint32_t spi_c = 0;                   // 1..4294967295
    std::uint32_t spi_s = 0;
    std::uint16_t port_c = 0;  // 1..65535
    std::uint16_t port_s = 0;
    Mode mod = Mode::trans;  // a missing mod means trans; last, so older aggregate initialisations keep meaning trans
    bool operator==(const Ipsec3gpp&) const = default;
};

struct MechanismParam {
    std::string name;
    std::string value;
    bool has_value = false;
    bool quoted = false;
};

struct SecurityMechanism {
    std::string name;                    // "ipsec-3gpp", "digest", "tls", ...
    std::optional<Ipsec3gpp> ipsec;      // set when name is ipsec-3gpp with values we implement
    std::string unsupported;             // ipsec-3gpp we cannot use: why ("unknown alg ..."); else ""
    std::optional<std::uint16_t> q;      // preference in thousandths (q=0.1 -> 100)
    std::vector<MechanismParam> params;  // parameters not interpreted above, in order; all of
                                         // them (q aside) when the mechanism is not usable

    // Semantic equality: names and parameter names compared without case, parameters in any
    // order, defaults applied (no ealg == ealg=null), numbers by value (spi-c=0565817 ==
    // spi-c=565817), token values without case, quoted values exactly.
    friend bool operator==(const SecurityMechanism& a, const SecurityMechanism& b);
};

// One sec-mechanism. For ipsec-3gpp: alg, spi-c, spi-s, port-c and port-s are required;
// duplicates, SPI 0 or > 4294967295, ports 0 or > 65535 and q outside 0..1 are errors.
// An alg/ealg we do not implement, prot other than esp or mod other than trans and
// UDP-enc-tun (compared without case) is not an error: the mechanism comes back without `ipsec` and with `unsupported`
// saying why, so a UE's offer list is read whole and the P-CSCF picks among the usable ones.
Result<SecurityMechanism> parse_security_mechanism(std::string_view element);

// A header value with one or more comma-separated mechanisms; an error names the element
// ("mechanism 2: ...") when there are several.
Result<std::vector<SecurityMechanism>> parse_security_list(std::string_view value);

// The same mechanisms in any order (the check of SM7 against SM1 and SM6, TS 33.203 7.2).
bool same_mechanisms(std::span<const SecurityMechanism> a, std::span<const SecurityMechanism> b);

// Canonical text: ipsec-3gpp;alg=..;ealg=..;prot=esp;mod=<trans|UDP-enc-tun>;spi-c=..;spi-s=..;port-c=..;
// port-s=..[;other params][;q=..]; other mechanisms as name[;params][;q=..].
std::string format_mechanism(const SecurityMechanism& mechanism);
std::string format_mechanisms(std::span<const SecurityMechanism> mechanisms);  // ", " between

}  // namespace pcscf::sip
