#include "sip/name_addr.hpp"

#include <string>

#include "sip/limits.hpp"
#include "sip/scalar.hpp"
#include "sip/text.hpp"

namespace pcscf::sip {

namespace {

// Offset of the first '<' outside a quoted string, or npos.
std::size_t find_angle(std::string_view s) noexcept {
    bool in_quotes = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (in_quotes && s[i] == '\\') ++i;
        else if (s[i] == '"') in_quotes = !in_quotes;
        else if (!in_quotes && s[i] == '<') return i;
    }
    return std::string_view::npos;
}

// display-name = *(token LWS) / quoted-string
Result<void> take_display_name(text::Cursor& c, NameAddr& out) {
    if (c.peek() == '"') {
        auto q = c.quoted_string();
        if (!q) return std::unexpected(in_context(q.error(), "display name"));
        out.display_name = *q;
        out.display_quoted = true;
        c.skip_lws();
        return {};
    }
    const std::size_t start = c.pos();
    std::size_t end = start;
    while (c.peek() != '<') {
        if (c.token().empty())
            return fail("display name has invalid character " + quote(c.rest().substr(0, 1)) + " (quote it)");
        end = c.pos();
        c.skip_lws();
    }
    out.display_name = c.text().substr(start, end - start);
    return {};
}

}  // namespace

Result<NameAddr> parse_name_addr(std::string_view element, AddrForm form) {
    NameAddr out;
    out.text = text::trim_lws(element);
    text::Cursor c(out.text);
    if (out.text.empty()) return fail("empty address");
    if (out.text.front() == '"' || find_angle(out.text) != std::string_view::npos) {
        if (auto r = take_display_name(c, out); !r) return std::unexpected(r.error());
        if (!c.eat('<')) return fail("expected '<' after the display name " + c.where());
        const auto close = c.rest().find('>');
        if (close == std::string_view::npos) return fail("'<' without '>' in " + quote(out.text));
        auto uri = parse_uri(c.rest().substr(0, close));
        if (!uri) return std::unexpected(uri.error());
        out.uri = std::move(*uri);
        out.angle_brackets = true;
        c.advance(close + 1);
    } else {
        if (form == AddrForm::name_addr_only) return fail("address " + quote(out.text) + " must be enclosed in <>");
        // addr-spec: the URI ends at the first ';' or white space
        const auto uri_text = c.take_while([](char ch) { return ch != ';' && ch != ' ' && ch != '\t' && ch != '\r'; });
        if (uri_text.find('?') != std::string_view::npos || uri_text.find(',') != std::string_view::npos)
            return fail("URI " + quote(uri_text) + " with '?' or ',' must be enclosed in <>");
        auto uri = parse_uri(uri_text);
        if (!uri) return std::unexpected(uri.error());
        out.uri = std::move(*uri);
    }
    if (auto r = parse_params(c, out.params, "address parameters"); !r) return std::unexpected(r.error());
    c.skip_lws();
    if (!c.done()) return fail("unexpected " + quote(c.rest()) + " after the address");
    return out;
}

Result<std::vector<NameAddr>> parse_name_addr_list(std::string_view value, AddrForm form) {
    return text::parse_list<NameAddr>(value, limits::max_list, "address",
                                      [form](std::string_view element) { return parse_name_addr(element, form); });
}

Result<ContactList> parse_contact_list(std::string_view value) {
    ContactList out;
    if (text::trim_lws(value) == "*") {
        out.star = true;
        return out;
    }
    auto list = parse_name_addr_list(value, AddrForm::any);
    if (!list) return std::unexpected(list.error());
    for (const auto& contact : *list) {
        if (const auto* e = find_param(contact.params, "expires")) {
            if (auto r = parse_expires(e->value); !r)
                return std::unexpected(in_context(r.error(), "Contact parameter expires"));
        }
        if (const auto* q = find_param(contact.params, "q")) {
            if (auto r = parse_qvalue(q->value); !r)
                return std::unexpected(in_context(r.error(), "Contact parameter q"));
        }
    }
    out.contacts = std::move(*list);
    return out;
}

}  // namespace pcscf::sip
