#include "sip/via.hpp"

#include <string>

#include "sip/limits.hpp"
#include "sip/scalar.hpp"
#include "sip/text.hpp"

namespace pcscf::sip {

namespace {

Transport transport_of(std::string_view name) noexcept {
    constexpr std::pair<std::string_view, Transport> known[] = {{"UDP", Transport::udp}, {"TCP", Transport::tcp},
                                                                {"TLS", Transport::tls}, {"SCTP", Transport::sctp},
                                                                {"WS", Transport::ws},   {"WSS", Transport::wss}};
    for (const auto& [n, t] : known)
        if (text::iequals(n, name)) return t;
    return Transport::other;
}

Result<void> interpret_params(Via& via) {
    if (const auto* p = find_param(via.params, "branch")) {
        if (!p->has_value || p->quoted) return fail("Via branch must be a token");
        via.branch = p->value;
    }
    if (const auto* p = find_param(via.params, "received")) {
        if (!p->has_value || !is_ip_address(p->value))
            return fail("Via received=" + quote(p->value) + " is not an IP address");
        via.received = p->value;
    }
    if (const auto* p = find_param(via.params, "rport")) {
        via.has_rport = true;
        if (p->has_value) {
            auto port = parse_port(p->value, "Via rport");
            if (!port) return std::unexpected(port.error());
            via.rport = *port;
        }
    }
    if (const auto* p = find_param(via.params, "ttl")) {
        if (auto r = text::parse_number(p->value, 255, "Via ttl"); !r) return std::unexpected(r.error());
    }
    return {};
}

}  // namespace

Result<Via> parse_via(std::string_view element) {
    Via via;
    via.text = text::trim_lws(element);
    text::Cursor c(via.text);
    // sent-protocol = protocol-name SLASH protocol-version SLASH transport
    const auto name = c.token();
    if (!c.eat_sep('/')) return fail("Via " + quote(via.text) + " does not start with SIP/2.0/<transport>");
    const auto version = c.token();
    if (!text::iequals(name, "SIP") || version != "2.0")
        return fail("Via protocol " + quote(name) + "/" + quote(version) + " is not SIP/2.0", ErrorKind::unsupported);
    if (!c.eat_sep('/')) return fail("Via " + quote(via.text) + " has no transport");
    via.transport_name = c.token();
    if (via.transport_name.empty()) return fail("Via " + quote(via.text) + " has no transport");
    via.transport = transport_of(via.transport_name);
    if (!c.skip_lws()) return fail("Via needs white space before sent-by " + c.where());
    auto sent_by = take_host_port(c, "Via sent-by", "Via port", true);
    if (!sent_by) return std::unexpected(sent_by.error());
    via.host = sent_by->host;
    via.port = sent_by->port;
    if (auto r = parse_params(c, via.params, "Via"); !r) return std::unexpected(r.error());
    c.skip_lws();
    if (!c.done()) return fail("Via: unexpected " + quote(c.rest()) + " after sent-by");
    if (auto r = interpret_params(via); !r) return std::unexpected(r.error());
    return via;
}

Result<std::vector<Via>> parse_via_list(std::string_view value) {
    return text::parse_list<Via>(value, limits::max_list, "Via", parse_via);
}

}  // namespace pcscf::sip
