#pragma once
// Typed access to the headers of a parsed Message. Each function parses on demand and
// returns a Result whose error says where: "line 4: header 'Via': Via port is 0, ...".
// Values gathered from several header lines of one kind come back in message order.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "sip/auth.hpp"
#include "sip/error.hpp"
#include "sip/message.hpp"
#include "sip/name_addr.hpp"
#include "sip/scalar.hpp"
#include "sip/security.hpp"
#include "sip/via.hpp"

namespace pcscf::sip {

Result<std::vector<Via>> vias(const Message& m);  // all hops, topmost first; none is an error
Result<Via> top_via(const Message& m);
Result<NameAddr> from(const Message& m);                              // required, exactly once
Result<NameAddr> to(const Message& m);                                // required, exactly once
Result<std::string_view> call_id(const Message& m);                   // required, exactly once
Result<CSeq> cseq(const Message& m);                                  // required, exactly once
Result<std::optional<std::uint32_t>> expires(const Message& m);       // at most once
Result<std::optional<std::uint32_t>> max_forwards(const Message& m);  // at most once
Result<ContactList> contacts(const Message& m);                       // empty when absent

// Route, Record-Route, Path, Service-Route, P-Associated-URI, P-Asserted-Identity: <URI> lists.
Result<std::vector<NameAddr>> name_addrs(const Message& m, HeaderKind kind);

// Require, Proxy-Require, Supported, Unsupported.
Result<std::vector<std::string_view>> option_tags(const Message& m, HeaderKind kind);
bool has_option_tag(const Message& m, HeaderKind kind, std::string_view tag);  // false on error

// Security-Client, -Server, -Verify: all mechanisms of all lines of that kind.
Result<std::vector<SecurityMechanism>> security_mechanisms(const Message& m, HeaderKind kind);

// WWW-Authenticate, Authorization, Proxy-*: one AuthValue per header line.
Result<std::vector<AuthValue>> auth_values(const Message& m, HeaderKind kind);

// What a proxy must be able to rely on before it handles a message (RFC 3261 8.1.1,
// 16.3): Via, From, To, Call-ID and CSeq present once and valid, CSeq method equal to the
// request method, a parsable Request-URI without headers, and Max-Forwards, Expires,
// Contact, the route-like lists and option tags valid where present. Security-* and
// authentication headers are left to the sec-agree logic, which must decide per mechanism.
Result<void> validate(const Message& m);

}  // namespace pcscf::sip
