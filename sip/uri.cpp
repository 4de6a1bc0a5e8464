#include "sip/uri.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstring>
#include <string>

#include "sip/limits.hpp"
#include "sip/scalar.hpp"

namespace pcscf::sip {

namespace {

constexpr bool is_mark(char c) noexcept {
    switch (c) {
        case '-':
        case '_':
        case '.':
        case '!':
        case '~':
        case '*':
        case '\'':
        case '(':
        case ')': return true;
        default: return false;
    }
}
constexpr bool is_unreserved(char c) noexcept { return text::is_alnum(c) || is_mark(c); }
constexpr bool is_in(char c, std::string_view set) noexcept { return set.find(c) != std::string_view::npos; }

constexpr bool is_user_char(char c) noexcept { return is_unreserved(c) || is_in(c, "&=+$,;?/"); }
constexpr bool is_password_char(char c) noexcept { return is_unreserved(c) || is_in(c, "&=+$,"); }
constexpr bool is_param_char(char c) noexcept { return is_unreserved(c) || is_in(c, "[]/:&+$"); }
constexpr bool is_header_char(char c) noexcept { return is_unreserved(c) || is_in(c, "[]/?:+$=&"); }
// tel: digits, hex digits, "*", "#", "+" and the visual separators of RFC 3966
constexpr bool is_tel_char(char c) noexcept { return text::is_hex(c) || is_in(c, "*#+-.()"); }
constexpr bool is_host_char(char c) noexcept { return text::is_alnum(c) || c == '-' || c == '.'; }

// Characters of `pred` and %HH escapes; an '%' not followed by two hex digits is an error.
template <class Pred>
Result<std::string_view> take_escaped(text::Cursor& c, Pred pred, std::string_view what) {
    const std::size_t start = c.pos();
    while (!c.done()) {
        if (c.peek() == '%') {
            const auto r = c.rest();
            if (r.size() < 3 || !text::is_hex(r[1]) || !text::is_hex(r[2]))
                return fail(std::string(what) + ": invalid %-escape " + quote(r.substr(0, 3)));
            c.advance(3);
        } else if (pred(c.peek())) {
            c.advance();
        } else {
            break;
        }
    }
    return c.since(start);
}

bool parse_ip(int family, std::string_view text) noexcept {
    std::array<char, 64> buf{};
    if (text.empty() || text.size() >= buf.size()) return false;
    std::memcpy(buf.data(), text.data(), text.size());
    std::array<unsigned char, 16> out{};
    return inet_pton(family, buf.data(), out.data()) == 1;
}

// hostname = *( domainlabel "." ) toplabel [ "." ]; a numeric toplabel means IPv4.
Result<HostKind> classify_host(std::string_view host) {
    auto labels = host;
    if (labels.ends_with('.')) labels.remove_suffix(1);
    std::string_view top;
    while (true) {
        const auto dot = labels.find('.');
        const auto label = labels.substr(0, dot);
        if (label.empty() || label.front() == '-' || label.back() == '-')
            return fail("invalid host name " + quote(host));
        top = label;
        if (dot == std::string_view::npos) break;
        labels.remove_prefix(dot + 1);
    }
    if (text::is_alpha(top.front())) return HostKind::name;
    if (parse_ip(AF_INET, host)) return HostKind::ipv4;
    return fail("invalid host " + quote(host) + " (neither a name nor an IPv4 address)");
}

Result<void> take_uri_params(text::Cursor& c, Params& out, std::string_view uri) {
    while (c.eat(';')) {
        Param p;
        auto name = take_escaped(c, is_param_char, "URI parameter");
        if (!name) return std::unexpected(name.error());
        p.name = *name;
        if (p.name.empty()) return fail("URI " + quote(uri) + " has an empty parameter name");
        if (c.eat('=')) {
            auto value = take_escaped(c, is_param_char, "URI parameter");
            if (!value) return std::unexpected(value.error());
            if (value->empty()) return fail("URI parameter " + quote(p.name) + " has '=' but no value");
            p.value = *value;
            p.has_value = true;
        }
        if (find_param(out, p.name) != nullptr)
            return fail("URI " + quote(uri) + " has parameter " + quote(p.name) + " twice");
        if (out.size() == limits::max_params)
            return fail("URI " + quote(uri) + " has more than " + std::to_string(limits::max_params) + " parameters",
                        ErrorKind::too_large);
        out.push_back(p);
    }
    return {};
}

Result<void> parse_sip_uri(std::string_view rest, Uri& u) {
    const auto at = rest.find('@');
    if (at != std::string_view::npos) {
        text::Cursor user(rest.substr(0, at));
        auto name = take_escaped(user, is_user_char, "URI user");
        if (!name) return std::unexpected(name.error());
        u.user = *name;
        if (u.user.empty()) return fail("URI " + quote(u.text) + " has an empty user part");
        if (user.eat(':')) {
            auto password = take_escaped(user, is_password_char, "URI password");
            if (!password) return std::unexpected(password.error());
            u.password = *password;
        }
        if (!user.done()) return fail("URI user part has invalid character " + quote(user.rest().substr(0, 1)));
        rest.remove_prefix(at + 1);
    }
    text::Cursor c(rest);
    auto host_port = take_host_port(c, "URI", "URI port", false, u.text);
    if (!host_port) return std::unexpected(host_port.error());
    u.host = host_port->host;
    u.port = host_port->port;
    if (auto r = take_uri_params(c, u.params, u.text); !r) return r;
    if (c.eat('?')) {
        auto headers = take_escaped(c, is_header_char, "URI headers");
        if (!headers) return std::unexpected(headers.error());
        u.headers = *headers;
        if (u.headers.empty()) return fail("URI " + quote(u.text) + " has an empty header part after '?'");
    }
    if (!c.done()) return fail("unexpected " + quote(c.rest()) + " in URI " + quote(u.text));
    return {};
}

}  // namespace

Result<Host> take_host(text::Cursor& c) {
    if (c.peek() == '[') {
        const auto close = c.rest().find(']');
        if (close == std::string_view::npos) return fail("IPv6 reference without ']' " + c.where());
        const auto ref = c.rest().substr(0, close + 1);
        if (!parse_ip(AF_INET6, ref.substr(1, ref.size() - 2))) return fail("invalid IPv6 address " + quote(ref));
        c.advance(ref.size());
        return Host{ref, HostKind::ipv6};
    }
    const auto name = c.take_while(is_host_char);
    if (name.empty()) return fail("expected a host " + c.where());
    auto kind = classify_host(name);
    if (!kind) return std::unexpected(kind.error());
    return Host{name, *kind};
}

Result<HostPort> take_host_port(text::Cursor& c, std::string_view host_context, std::string_view port_name,
                                bool lws_around_colon, std::string_view subject) {
    auto host = take_host(c);
    if (!host)
        return std::unexpected(in_context(host.error(), subject.empty()
                                                            ? std::string(host_context)
                                                            : std::string(host_context) + " " + quote(subject)));
    HostPort out{*host, std::nullopt};
    if (lws_around_colon ? c.eat_sep(':') : c.eat(':')) {
        auto port = parse_port(c.take_while(text::is_digit), port_name);
        if (!port) return std::unexpected(port.error());
        out.port = *port;
    }
    return out;
}

bool is_ip_address(std::string_view text) noexcept {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
        return parse_ip(AF_INET6, text.substr(1, text.size() - 2));
    return parse_ip(AF_INET, text) || parse_ip(AF_INET6, text);
}

bool has_scheme(std::string_view text) noexcept {
    const auto colon = text.find(':');
    bool ok = colon != std::string_view::npos && colon > 0 && text::is_alpha(text[0]);
    for (std::size_t i = 1; ok && i < colon; ++i) ok = text::is_alnum(text[i]) || is_in(text[i], "+-.");
    return ok;
}

Result<Uri> parse_uri(std::string_view text) {
    Uri u;
    u.text = text;
    if (!has_scheme(text)) return fail("URI " + quote(text) + " has no valid scheme");
    const auto colon = text.find(':');
    u.scheme_name = text.substr(0, colon);
    const auto rest = text.substr(colon + 1);
    if (text::iequals(u.scheme_name, "sip") || text::iequals(u.scheme_name, "sips")) {
        u.scheme = u.scheme_name.size() == 3 ? UriScheme::sip : UriScheme::sips;
        if (auto r = parse_sip_uri(rest, u); !r) return std::unexpected(r.error());
        return u;
    }
    if (text::iequals(u.scheme_name, "tel")) {
        u.scheme = UriScheme::tel;
        text::Cursor c(rest);
        u.user = c.take_while(is_tel_char);
        if (u.user.empty()) return fail("tel URI " + quote(text) + " has no number");
        if (auto r = take_uri_params(c, u.params, text); !r) return std::unexpected(r.error());
        if (!c.done()) return fail("unexpected " + quote(c.rest()) + " in tel URI " + quote(text));
        return u;
    }
    u.opaque = rest;
    if (rest.empty()) return fail("URI " + quote(text) + " is empty after its scheme");
    for (const char ch : rest) {
        if (text::is_ctl(ch) || ch == ' ' || ch == '\t' || ch == '<' || ch == '>' || ch == '"')
            return fail("URI " + quote(text) + " contains " + quote(std::string_view(&ch, 1)));
    }
    return u;
}

}  // namespace pcscf::sip
