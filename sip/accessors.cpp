#include "sip/accessors.hpp"

#include <algorithm>
#include <iterator>
#include <string>

#include "sip/limits.hpp"
#include "sip/text.hpp"

namespace pcscf::sip {

namespace {

std::string context(const HeaderField& h) { return field_context(h.line, h.name); }

// The one field of a single-valued kind; absent is an error only when `required`.
Result<const HeaderField*> single(const Message& m, HeaderKind kind, bool required) {
    const auto* h = m.first(kind);
    if (h == nullptr) {
        if (required) return fail("missing '" + std::string(header_name(kind)) + "' header");
        return nullptr;
    }
    if (h->next_same != HeaderField::none)
        return fail(context(m.headers()[h->next_same]) + ": '" + std::string(header_name(kind)) + "' appears " +
                    std::to_string(m.count(kind)) + " times, once allowed");
    return h;
}

// Parses one required single field with `parse`, adding the field's context to errors.
template <class Parse>
auto parse_single(const Message& m, HeaderKind kind, Parse parse)
    -> Result<typename decltype(parse(std::string_view{}))::value_type> {
    auto h = single(m, kind, true);
    if (!h) return std::unexpected(h.error());
    auto v = parse((*h)->value);
    if (!v) return std::unexpected(in_context(v.error(), context(**h)));
    return v;
}

template <class Parse>
auto parse_optional(const Message& m, HeaderKind kind, Parse parse)
    -> Result<std::optional<typename decltype(parse(std::string_view{}))::value_type>> {
    auto h = single(m, kind, false);
    if (!h) return std::unexpected(h.error());
    if (*h == nullptr) return std::nullopt;
    auto v = parse((*h)->value);
    if (!v) return std::unexpected(in_context(v.error(), context(**h)));
    return *v;
}

// Concatenates the list values of every field of `kind` parsed with `parse`.
template <class T, class Parse>
Result<std::vector<T>> gather(const Message& m, HeaderKind kind, std::size_t max, Parse parse) {
    std::vector<T> out;
    for (const auto& h : m.all(kind)) {
        auto v = parse(h.value);
        if (!v) return std::unexpected(in_context(v.error(), context(h)));
        if (out.size() + v->size() > max)
            return fail(context(h) + ": more than " + std::to_string(max) + " values in all", ErrorKind::too_large);
        std::move(v->begin(), v->end(), std::back_inserter(out));
    }
    return out;
}

bool is_name_addr_list_kind(HeaderKind kind) noexcept {
    switch (kind) {
        case HeaderKind::route:
        case HeaderKind::record_route:
        case HeaderKind::path:
        case HeaderKind::service_route:
        case HeaderKind::p_associated_uri:
        case HeaderKind::p_asserted_identity:
        case HeaderKind::p_preferred_identity: return true;
        default: return false;
    }
}

}  // namespace

Result<std::vector<Via>> vias(const Message& m) {
    auto out = gather<Via>(m, HeaderKind::via, limits::max_list, parse_via_list);
    if (out && out->empty()) return fail("missing 'Via' header");
    return out;
}

Result<Via> top_via(const Message& m) {
    const auto* h = m.first(HeaderKind::via);
    if (h == nullptr) return fail("missing 'Via' header");
    auto list = parse_via_list(h->value);
    if (!list) return std::unexpected(in_context(list.error(), context(*h)));
    return std::move(list->front());
}

Result<NameAddr> from(const Message& m) {
    return parse_single(m, HeaderKind::from, [](std::string_view v) { return parse_name_addr(v); });
}

Result<NameAddr> to(const Message& m) {
    return parse_single(m, HeaderKind::to, [](std::string_view v) { return parse_name_addr(v); });
}

Result<std::string_view> call_id(const Message& m) { return parse_single(m, HeaderKind::call_id, parse_call_id); }

Result<CSeq> cseq(const Message& m) { return parse_single(m, HeaderKind::cseq, parse_cseq); }

Result<std::optional<std::uint32_t>> expires(const Message& m) {
    return parse_optional(m, HeaderKind::expires, parse_expires);
}

Result<std::optional<std::uint32_t>> max_forwards(const Message& m) {
    return parse_optional(m, HeaderKind::max_forwards, parse_max_forwards);
}

Result<ContactList> contacts(const Message& m) {
    ContactList out;
    for (const auto& h : m.all(HeaderKind::contact)) {
        auto list = parse_contact_list(h.value);
        if (!list) return std::unexpected(in_context(list.error(), context(h)));
        if (list->star && (m.count(HeaderKind::contact) > 1))
            return fail(context(h) + ": 'Contact: *' must be the only Contact");
        out.star = list->star;
        if (out.contacts.size() + list->contacts.size() > limits::max_list)
            return fail(context(h) + ": more than " + std::to_string(limits::max_list) + " contacts",
                        ErrorKind::too_large);
        std::move(list->contacts.begin(), list->contacts.end(), std::back_inserter(out.contacts));
    }
    return out;
}

Result<std::vector<NameAddr>> name_addrs(const Message& m, HeaderKind kind) {
    if (!is_name_addr_list_kind(kind)) return fail("'" + std::string(header_name(kind)) + "' is not a list of <URI>s");
    return gather<NameAddr>(m, kind, limits::max_list,
                            [](std::string_view v) { return parse_name_addr_list(v, AddrForm::name_addr_only); });
}

Result<std::vector<std::string_view>> option_tags(const Message& m, HeaderKind kind) {
    return gather<std::string_view>(m, kind, limits::max_list, parse_option_tags);
}

bool has_option_tag(const Message& m, HeaderKind kind, std::string_view tag) {
    auto tags = option_tags(m, kind);
    return tags && std::any_of(tags->begin(), tags->end(), [&](std::string_view t) { return text::iequals(t, tag); });
}

Result<std::vector<SecurityMechanism>> security_mechanisms(const Message& m, HeaderKind kind) {
    return gather<SecurityMechanism>(m, kind, limits::max_mechanisms, parse_security_list);
}

Result<std::vector<AuthValue>> auth_values(const Message& m, HeaderKind kind) {
    return gather<AuthValue>(m, kind, limits::max_list, [](std::string_view v) {
        auto a = parse_auth(v);
        if (!a) return Result<std::vector<AuthValue>>(std::unexpected(a.error()));
        return Result<std::vector<AuthValue>>(std::vector<AuthValue>{std::move(*a)});
    });
}

Result<void> validate(const Message& m) {
    if (auto r = vias(m); !r) return std::unexpected(r.error());
    if (auto r = from(m); !r) return std::unexpected(r.error());
    if (auto r = to(m); !r) return std::unexpected(r.error());
    if (auto r = call_id(m); !r) return std::unexpected(r.error());
    auto seq = cseq(m);
    if (!seq) return std::unexpected(seq.error());
    if (m.is_request()) {
        if (seq->method != m.method())
            return fail("CSeq method " + quote(seq->method) + " differs from the request method " + quote(m.method()));
        auto uri = parse_uri(m.request_uri());
        if (!uri) return std::unexpected(in_context(uri.error(), "Request-URI"));
        if (uri->has_headers())
            return fail("Request-URI " + quote(m.request_uri()) + " carries headers ('?'), not allowed");
    }
    if (auto r = max_forwards(m); !r) return std::unexpected(r.error());
    if (auto r = expires(m); !r) return std::unexpected(r.error());
    if (auto r = contacts(m); !r) return std::unexpected(r.error());
    for (const auto kind : {HeaderKind::route, HeaderKind::record_route, HeaderKind::path, HeaderKind::service_route,
                            HeaderKind::p_associated_uri})
        if (auto r = name_addrs(m, kind); !r) return std::unexpected(r.error());
    for (const auto kind : {HeaderKind::require, HeaderKind::proxy_require, HeaderKind::supported})
        if (auto r = option_tags(m, kind); !r) return std::unexpected(r.error());
    return {};
}

}  // namespace pcscf::sip
