#pragma once
// The header fields the P-CSCF looks at, by kind. A message indexes its headers by kind so
// that finding one is O(1); any other header is kept as HeaderKind::other with its name.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pcscf::sip {

// X(enumerator, canonical name, compact form or 0)
#define PCSCF_SIP_HEADER_KINDS(X)                                        \
    X(via, "Via", 'v')                                                   \
    X(from, "From", 'f')                                                 \
    X(to, "To", 't')                                                     \
    X(call_id, "Call-ID", 'i')                                           \
    X(cseq, "CSeq", 0)                                                   \
    X(contact, "Contact", 'm')                                           \
    X(expires, "Expires", 0)                                             \
    X(max_forwards, "Max-Forwards", 0)                                   \
    X(route, "Route", 0)                                                 \
    X(record_route, "Record-Route", 0)                                   \
    X(path, "Path", 0)                                                   \
    X(service_route, "Service-Route", 0)                                 \
    X(p_associated_uri, "P-Associated-URI", 0)                           \
    X(authorization, "Authorization", 0)                                 \
    X(www_authenticate, "WWW-Authenticate", 0)                           \
    X(proxy_authorization, "Proxy-Authorization", 0)                     \
    X(proxy_authenticate, "Proxy-Authenticate", 0)                       \
    X(authentication_info, "Authentication-Info", 0)                     \
    X(require, "Require", 0)                                             \
    X(proxy_require, "Proxy-Require", 0)                                 \
    X(supported, "Supported", 'k')                                       \
    X(unsupported, "Unsupported", 0)                                     \
    X(content_length, "Content-Length", 'l')                             \
    X(content_type, "Content-Type", 'c')                                 \
    X(content_encoding, "Content-Encoding", 'e')                         \
    X(security_client, "Security-Client", 0)                             \
    X(security_server, "Security-Server", 0)                             \
    X(security_verify, "Security-Verify", 0)                             \
    X(p_access_network_info, "P-Access-Network-Info", 0)                 \
    X(p_asserted_identity, "P-Asserted-Identity", 0)                     \
    X(p_preferred_identity, "P-Preferred-Identity", 0)                   \
    X(p_visited_network_id, "P-Visited-Network-ID", 0)                   \
    X(p_charging_vector, "P-Charging-Vector", 0)                         \
    X(p_charging_function_addresses, "P-Charging-Function-Addresses", 0) \
    X(user_agent, "User-Agent", 0)                                       \
    X(server, "Server", 0)                                               \
    X(allow, "Allow", 0)                                                 \
    X(allow_events, "Allow-Events", 'u')                                 \
    X(event, "Event", 'o')                                               \
    X(subscription_state, "Subscription-State", 0)                       \
    X(subject, "Subject", 's')                                           \
    X(accept, "Accept", 0)                                               \
    X(accept_contact, "Accept-Contact", 'a')                             \
    X(reject_contact, "Reject-Contact", 'j')                             \
    X(request_disposition, "Request-Disposition", 'd')                   \
    X(refer_to, "Refer-To", 'r')                                         \
    X(referred_by, "Referred-By", 'b')                                   \
    X(session_expires, "Session-Expires", 'x')                           \
    X(min_expires, "Min-Expires", 0)                                     \
    X(identity, "Identity", 'y')                                         \
    X(identity_info, "Identity-Info", 'n')                               \
    X(date, "Date", 0)                                                   \
    X(retry_after, "Retry-After", 0)                                     \
    X(warning, "Warning", 0)

enum class HeaderKind : std::uint8_t {
    other,  // a header this table does not know; look it up by name
#define PCSCF_SIP_ENUM(e, name, compact) e,
    PCSCF_SIP_HEADER_KINDS(PCSCF_SIP_ENUM)
#undef PCSCF_SIP_ENUM
};

#define PCSCF_SIP_COUNT(e, name, compact) +1
inline constexpr std::size_t header_kind_count = 1 PCSCF_SIP_HEADER_KINDS(PCSCF_SIP_COUNT);
#undef PCSCF_SIP_COUNT

// Kind of a header name: case-insensitive, compact forms included ("v", "I", "l", ...).
HeaderKind header_kind(std::string_view name) noexcept;

// Canonical long name ("Call-ID"); "" for HeaderKind::other.
std::string_view header_name(HeaderKind kind) noexcept;

// WWW-Authenticate and its kin carry comma-separated auth-params instead of ;params.
constexpr bool is_auth_kind(HeaderKind kind) noexcept {
    return kind == HeaderKind::authorization || kind == HeaderKind::www_authenticate ||
           kind == HeaderKind::proxy_authorization || kind == HeaderKind::proxy_authenticate ||
           kind == HeaderKind::authentication_info;
}

}  // namespace pcscf::sip
