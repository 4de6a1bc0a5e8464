#include "control/proxy/reg_event.hpp"

namespace pcscf::proxy {

namespace {

// The value of attribute `name` in the tag that starts at `tag` (up to its '>'), or "".
std::string_view attribute(std::string_view tag, std::string_view name) {
    const std::string key = " " + std::string(name) + "=";
    const size_t at = tag.find(key);
    if (at == std::string_view::npos || at + key.size() >= tag.size()) return {};
    const char quote = tag[at + key.size()];
    if (quote != '"' && quote != '\'') return {};
    const size_t start = at + key.size() + 1, end = tag.find(quote, start);
    return end == std::string_view::npos ? std::string_view{} : tag.substr(start, end - start);
}

// The element `name` at or after `from`: its start tag, and its whole text (up to its end
// tag, or the start tag alone when it is empty or never closed).
struct Element {
    std::string_view tag, whole;
    size_t next = std::string_view::npos;
};
Element find_element(std::string_view doc, std::string_view name, size_t from) {
    const std::string open = "<" + std::string(name);
    for (size_t at = doc.find(open, from); at != std::string_view::npos; at = doc.find(open, at + 1)) {
        const size_t after = at + open.size();
        if (after >= doc.size() || (doc[after] != ' ' && doc[after] != '>' && doc[after] != '/')) continue;
        const size_t tag_end = doc.find('>', after);
        if (tag_end == std::string_view::npos) return {};
        Element e;
        e.tag = doc.substr(at, tag_end - at + 1);
        const size_t close =
            e.tag.ends_with("/>") ? std::string_view::npos : doc.find("</" + std::string(name), tag_end);
        e.whole = close == std::string_view::npos ? e.tag : doc.substr(at, close - at);
        e.next = tag_end + 1;
        return e;
    }
    return {};
}

}  // namespace

std::string subscriber_uri(const Endpoint& me) { return "sip:pcscf@" + me.to_string(); }

std::string subscribe_request(const SubscribeRequest& r) {
    const std::string me = subscriber_uri(r.me);
    std::string m = "SUBSCRIBE " + r.impu + " SIP/2.0\r\nVia: SIP/2.0/" + (r.tcp ? "TCP " : "UDP ") + r.me.to_string() +
                    ";branch=" + r.branch + "\r\nMax-Forwards: 70\r\n";
    if (!r.service_route.empty()) m += "Route: " + r.service_route + "\r\n";
    m += "From: <" + me + ">;tag=" + r.tag + "\r\nTo: <" + r.impu + ">\r\nCall-ID: " + r.call_id +
         "\r\nCSeq: 1 SUBSCRIBE\r\nContact: <" + me + (r.tcp ? ";transport=tcp" : "") +
         ">\r\nEvent: reg\r\nExpires: 600000\r\nAccept: application/reginfo+xml\r\nP-Asserted-Identity: <" + me +
         ">\r\nContent-Length: 0\r\n\r\n";
    return m;
}

bool registration_ended(std::string_view doc, std::string_view aor) {
    for (Element reg = find_element(doc, "registration", 0); !reg.tag.empty();
         reg = find_element(doc, "registration", reg.next)) {
        if (attribute(reg.tag, "aor") != aor) continue;
        if (attribute(reg.tag, "state") == "terminated") return true;
        bool any = false, all_terminated = true;
        for (Element c = find_element(reg.whole, "contact", 0); !c.tag.empty();
             c = find_element(reg.whole, "contact", c.next)) {
            any = true;
            all_terminated = all_terminated && attribute(c.tag, "state") == "terminated";
        }
        return any && all_terminated;
    }
    return false;
}

}  // namespace pcscf::proxy
