#pragma once
// Via (RFC 3261 20.42, RFC 3581 rport): sent-protocol, sent-by and the parameters the
// P-CSCF uses to check the source of a request and to route responses.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "sip/error.hpp"
#include "sip/params.hpp"
#include "sip/uri.hpp"

namespace pcscf::sip {

enum class Transport : std::uint8_t { udp, tcp, tls, sctp, ws, wss, other };

struct Via {
    std::string_view text;  // the whole element
    Transport transport = Transport::other;
    std::string_view transport_name;  // as written ("UDP", "tcp", "UNKNOWN")
    Host host;                        // sent-by host
    std::optional<std::uint16_t> port;
    std::string_view branch;    // "" when absent
    std::string_view received;  // "" when absent; checked to be an IP address
    bool has_rport = false;     // ;rport present, with or without a value
    std::optional<std::uint16_t> rport;
    Params params;  // all parameters, the ones above included
};

// One via-parm. The protocol must be SIP/2.0; LWS around the '/' is allowed.
Result<Via> parse_via(std::string_view element);

// A Via header value: one or more comma-separated via-parms.
Result<std::vector<Via>> parse_via_list(std::string_view value);

}  // namespace pcscf::sip
