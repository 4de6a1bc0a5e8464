#pragma once
// URIs as SIP carries them: sip/sips (user, password, host, port, uri-parameters, headers),
// tel (number and parameters) and any other scheme kept whole (RFC 4475 3.3.2: valid, to be
// answered 416 by whoever must route on it).

#include <cstdint>
#include <optional>
#include <string_view>

#include "sip/error.hpp"
#include "sip/params.hpp"
#include "sip/text.hpp"

namespace pcscf::sip {

enum class HostKind : std::uint8_t { name, ipv4, ipv6 };

struct Host {
    std::string_view text;  // as written; an IPv6 reference keeps its brackets
    HostKind kind = HostKind::name;
    // The address without brackets, as inet_pton wants it.
    std::string_view address() const noexcept {
        return kind == HostKind::ipv6 ? text.substr(1, text.size() - 2) : text;
    }
    bool operator==(const Host&) const = default;
};

// host = hostname / IPv4address / IPv6reference; consumes it from the cursor.
Result<Host> take_host(text::Cursor& cursor);

struct HostPort {
    Host host;
    std::optional<std::uint16_t> port;
};

// host [":" port]; SWS may surround the ':' when `lws_around_colon` (Via sent-by). A host
// error is put in `host_context`, followed by `subject` quoted when there is one (built
// only on an error); a port error names `port_name` ("Via port is 0").
Result<HostPort> take_host_port(text::Cursor& cursor, std::string_view host_context, std::string_view port_name,
                                bool lws_around_colon, std::string_view subject = {});

// IPv4 or IPv6 address text, with or without brackets (Via received=).
bool is_ip_address(std::string_view text) noexcept;

enum class UriScheme : std::uint8_t { sip, sips, tel, other };

struct Uri {
    std::string_view text;  // the whole URI
    UriScheme scheme = UriScheme::other;
    std::string_view scheme_name;  // as written
    std::string_view user;         // sip/sips user (escapes not decoded); tel: the number
    std::string_view password;
    Host host;  // sip/sips only
    std::optional<std::uint16_t> port;
    Params params;             // uri-parameters (sip/sips/tel): lr, transport, user, ...
    std::string_view headers;  // after '?', not decoded
    std::string_view opaque;   // other schemes: everything after the ':'
    bool has_headers() const noexcept { return !headers.empty(); }
};

Result<Uri> parse_uri(std::string_view text);

// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) followed by ':' starts `text`.
bool has_scheme(std::string_view text) noexcept;

}  // namespace pcscf::sip
