#pragma once
// WWW-Authenticate challenges and Authorization credentials (RFC 3261 25.1, RFC 2617,
// RFC 3310 AKA, TS 24.229 / TS 33.203 additions ik, ck and integrity-protected).

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "sip/error.hpp"

namespace pcscf::sip {

struct AuthParam {
    std::string_view name;
    std::string_view value;  // without the quotes (escapes not decoded)
    bool quoted = false;
};

using AkaKey = std::array<std::uint8_t, 16>;

// One challenge or one set of credentials: scheme and auth-params. Other schemes than
// Digest are kept generically (RFC 4475 3.3.7).
struct AuthValue {
    std::string_view scheme;
    std::vector<AuthParam> params;
    std::optional<AkaKey> ik;  // from ik="<32 hex digits>", checked when present
    std::optional<AkaKey> ck;  // from ck="<32 hex digits>"

    bool is_digest() const noexcept;
    // Case-insensitive parameter lookup.
    std::optional<std::string_view> get(std::string_view name) const noexcept;

    std::optional<std::string_view> realm() const noexcept { return get("realm"); }
    std::optional<std::string_view> nonce() const noexcept { return get("nonce"); }
    std::optional<std::string_view> algorithm() const noexcept { return get("algorithm"); }
    std::optional<std::string_view> qop() const noexcept { return get("qop"); }
    std::optional<std::string_view> opaque() const noexcept { return get("opaque"); }
    std::optional<std::string_view> username() const noexcept { return get("username"); }
    std::optional<std::string_view> uri() const noexcept { return get("uri"); }
    std::optional<std::string_view> response() const noexcept { return get("response"); }
    std::optional<std::string_view> cnonce() const noexcept { return get("cnonce"); }
    std::optional<std::string_view> nc() const noexcept { return get("nc"); }
    std::optional<std::string_view> auts() const noexcept { return get("auts"); }
    std::optional<std::string_view> integrity_protected() const noexcept { return get("integrity-protected"); }
};

// scheme LWS auth-param *(COMMA auth-param). Rejects a missing scheme or parameters,
// duplicate parameters, ik/ck that are not 16 bytes of hex, and nc that is not 8 hex digits.
Result<AuthValue> parse_auth(std::string_view value);

}  // namespace pcscf::sip
