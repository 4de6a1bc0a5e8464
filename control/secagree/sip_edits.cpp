#include "control/secagree/sip_edits.hpp"

#include <algorithm>

namespace pcscf::secagree {

using sip::HeaderKind;

std::expected<void, Refusal> check_via_sent_by(const sip::Via& top, const Arrival& from,
                                               const std::optional<net::IpAddr>& inner) {
    auto sent_by = net::IpAddr::parse(top.host.address());
    if (!sent_by) return std::unexpected(Refusal{403, "Via sent-by is not an IP address"});
    if (!(*sent_by == from.ue) && !(inner && *sent_by == *inner))
        return std::unexpected(Refusal{403, "Via sent-by is not the packet's source address"});
    return {};
}

std::string Hop::host() const { return addr.is_v4() ? addr.to_string() : "[" + addr.to_string() + "]"; }
std::string Hop::host_port() const { return host() + ":" + std::to_string(port); }

bool Ours::names(const sip::Uri& uri) const {
    const auto a = net::IpAddr::parse(uri.host.address());
    return a && (*a == core || std::find(access.begin(), access.end(), *a) != access.end());
}

std::string list_value(std::span<const std::string> values) {
    std::string out;
    for (const auto& v : values) out += (out.empty() ? "" : ", ") + v;
    return out;
}

bool initial(const sip::Message& m) {
    const auto to = sip::to(m);
    return m.is_request() && to && to->tag().empty();
}

bool starts_dialog(const sip::Message& m) {
    return initial(m) && (m.method() == "INVITE" || m.method() == "SUBSCRIBE" || m.method() == "REFER");
}

namespace {
std::string record_route_of(const Hop& h) {
    return "<sip:" + h.host_port() + (h.transport == "TCP" ? ";transport=tcp" : "") + ";lr>";
}

std::string via_of(const Hop& me, std::string_view branch) {
    return "SIP/2.0/" + me.transport + " " + me.host_port() + ";branch=" + std::string(branch);
}

template <class F>
sip::Result<std::string> edit(const sip::Message& m, F&& f) {
    sip::MessageWriter w(m);
    if (auto r = f(w); !r) return std::unexpected(r.error());
    return w.write();
}
}  // namespace

sip::Result<std::string> register_to_core(const sip::Message& m, const sip::Via& top, const Arrival& from,
                                          const Hop& me, std::string_view branch, bool integrity_protected) {
    return edit(m, [&](sip::MessageWriter& w) -> sip::Result<void> {
        w.remove_headers(HeaderKind::security_client);
        w.remove_headers(HeaderKind::security_verify);
        w.remove_headers(HeaderKind::p_asserted_identity);
        for (HeaderKind k : {HeaderKind::require, HeaderKind::proxy_require})
            if (auto r = w.remove_option_tag(k, "sec-agree"); !r) return r;
        if (m.count(HeaderKind::authorization) > 0)
            if (auto r = w.set_param(HeaderKind::authorization, "integrity-protected",
                                     integrity_protected ? "\"yes\"" : "\"no\"");
                !r)
                return r;
        // The UE's Via: where the response must really go (RFC 3261 18.2.1, RFC 3581).
        if (auto r = w.set_param(HeaderKind::via, "received", from.ue.to_string()); !r) return r;
        if (top.has_rport)
            if (auto r = w.set_param(HeaderKind::via, "rport", std::to_string(from.ue_port)); !r) return r;
        const std::string path =
            "<sip:term@" + me.host_port() + (me.transport == "TCP" ? ";transport=tcp" : "") + ";lr>";
        if (auto r = w.add_header(HeaderKind::path, path, sip::Position::top); !r) return r;
        return w.prepend_via(via_of(me, branch));
    });
}

sip::Result<std::string> challenge_to_ue(const sip::Message& m, std::span<const sip::SecurityMechanism> server) {
    return edit(m, [&](sip::MessageWriter& w) -> sip::Result<void> {
        if (auto r = w.remove_params(HeaderKind::www_authenticate, {"ik", "ck"}); !r) return r;
        if (auto r = w.remove_top_via(); !r) return r;
        return w.add_header(HeaderKind::security_server, sip::format_mechanisms(server));
    });
}

sip::Result<std::string> response_to_ue(const sip::Message& m) {
    return edit(m, [](sip::MessageWriter& w) { return w.remove_top_via(); });
}

sip::Result<std::string> response_to_core(const sip::Message& m) {
    return edit(m, [](sip::MessageWriter& w) {
        w.remove_headers(HeaderKind::p_asserted_identity);
        return w.remove_top_via();
    });
}

sip::Result<std::string> relay_request(const sip::Message& m, const Hop& me, std::string_view branch,
                                       const RelayEdits& e) {
    return edit(m, [&](sip::MessageWriter& w) -> sip::Result<void> {
        if (e.from_ue) w.remove_headers(HeaderKind::p_asserted_identity);
        if (!e.asserted.empty()) {
            w.remove_headers(HeaderKind::p_preferred_identity);
            if (auto r = w.add_header(HeaderKind::p_asserted_identity, e.asserted); !r) return r;
        }
        if (!e.service_route.empty()) {
            w.remove_headers(HeaderKind::route);
            if (auto r = w.add_header(HeaderKind::route, list_value(e.service_route), sip::Position::top); !r) return r;
        } else if (auto routes = sip::name_addrs(m, HeaderKind::route); routes) {
            for (size_t i = 0; i < routes->size() && e.ours.names((*routes)[i].uri); ++i)
                if (auto r = w.remove_top_value(HeaderKind::route); !r) return r;
        }
        if (e.record_route) {  // one field, so the order holds wherever the writer puts it
            const Hop& top = e.from_ue ? e.record_route->core : e.record_route->access;
            const Hop& next = e.from_ue ? e.record_route->access : e.record_route->core;
            if (auto r = w.add_header(HeaderKind::record_route, record_route_of(top) + ", " + record_route_of(next),
                                      sip::Position::top);
                !r)
                return r;
        }
        if (auto r = w.decrement_max_forwards(); !r) return std::unexpected(r.error());
        return w.prepend_via(via_of(me, branch));
    });
}

}  // namespace pcscf::secagree
