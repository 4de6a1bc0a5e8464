#include "sip/writer.hpp"

#include <algorithm>

#include "sip/accessors.hpp"
#include "sip/limits.hpp"
#include "sip/params.hpp"
#include "sip/scalar.hpp"
#include "sip/text.hpp"
#include "sip/uri.hpp"

namespace pcscf::sip {

namespace {

constexpr std::size_t npos = std::string_view::npos;

Result<void> check_value(std::string_view value) {
    for (const char c : value)
        if (text::is_ctl(c))
            return fail("refusing to write a header value with control character " + quote(std::string_view(&c, 1)) +
                        ": " + quote(value));
    return {};
}

// A header the writer may add: a known kind other than Content-Length, a clean value.
Result<void> check_addable(HeaderKind kind, std::string_view value) {
    if (kind == HeaderKind::other) return fail("adding a header needs a known kind or a name");
    if (kind == HeaderKind::content_length) return fail("Content-Length is written from the body, not added");
    return check_value(value);
}

std::string field_line(std::string_view name, std::string_view value) {
    std::string line(name);
    line += ": ";
    line += value;
    line += "\r\n";
    return line;
}

std::string join(const std::vector<std::string_view>& parts, std::string_view sep) {
    std::string out;
    for (const auto p : parts) {
        if (!out.empty()) out += sep;
        out += p;
    }
    return out;
}

std::string_view param_name(std::string_view param) { return text::trim_lws(param.substr(0, param.find('='))); }

bool named(std::string_view param, std::initializer_list<std::string_view> names) {
    const auto n = param_name(param);
    return std::any_of(names.begin(), names.end(), [&](std::string_view x) { return text::iequals(n, x); });
}

// An auth value split into its scheme and its comma-separated auth-params.
struct AuthParts {
    std::string_view scheme;
    std::vector<std::string_view> params;
    std::string write() const { return std::string(scheme) + " " + join(params, ", "); }
};

Result<AuthParts> split_auth(std::string_view value) {
    text::Cursor c(text::trim_lws(value));
    AuthParts parts;
    parts.scheme = c.token();
    if (parts.scheme.empty()) return fail("no authentication scheme in " + quote(value));
    c.skip_lws();
    if (c.done()) return parts;
    auto params = text::split_list(c.rest(), ',', limits::max_params, "auth-params");
    if (!params) return std::unexpected(params.error());
    parts.params = std::move(*params);
    return parts;
}

// Applies `edit` to the ;parameters of each comma-separated element (all, or only the
// first); `edit` may drop some and add others, and returns whether it changed anything.
// The element's head (URI, sent-by, mechanism name) is kept as it is.
template <class Edit>
Result<std::optional<std::string>> edit_elements(std::string_view value, bool first_only, Edit edit) {
    auto elements = text::split_list(value, ',', limits::max_list, "header value");
    if (!elements) return std::unexpected(elements.error());
    bool changed = false;
    std::string out;
    for (std::size_t i = 0; i < elements->size(); ++i) {
        const auto element = (*elements)[i];
        if (!out.empty()) out += ", ";
        if (first_only && i > 0) {
            out += element;
            continue;
        }
        auto parts = text::split_list(element, ';', limits::max_params + 1, "header parameters");
        if (!parts) return std::unexpected(parts.error());
        std::vector<std::string_view> params(parts->begin() + 1, parts->end());
        std::vector<std::string> added;
        changed |= edit(params, added);
        out += parts->front();
        for (const auto p : params) out.append(";").append(p);
        for (const auto& a : added) out.append(";").append(a);
    }
    if (!changed) return std::nullopt;
    return out;
}

}  // namespace

MessageWriter::MessageWriter(const Message& message) : message_(message), slots_(message.headers().size()) {}

Result<MessageWriter> MessageWriter::response_to(const Message& request, std::uint16_t code, std::string_view reason,
                                                 std::string_view to_tag) {
    if (!request.is_request()) return fail("a response answers a request, not a response");
    if (code < 100 || code > 699) return fail("status code " + std::to_string(code) + " is not 100..699");
    if (auto r = check_value(reason); !r) return std::unexpected(r.error());
    if (!to_tag.empty() && !text::is_token(to_tag)) return fail("To tag " + quote(to_tag) + " is not a token");
    auto to_header = to(request);
    if (!to_header) return std::unexpected(to_header.error());
    MessageWriter w(request);
    for (const auto& h : request.headers())
        if (h.kind != HeaderKind::via && h.kind != HeaderKind::from && h.kind != HeaderKind::to &&
            h.kind != HeaderKind::call_id && h.kind != HeaderKind::cseq)
            w.slots_[w.index_of(h)].removed = true;
    if (to_header->tag().empty()) {
        if (to_tag.empty() && code != 100)
            return fail("a response to a request without To tag needs one (RFC 3261 8.2.6.2)");
        if (!to_tag.empty())
            if (auto r = w.set_param(HeaderKind::to, "tag", to_tag); !r) return std::unexpected(r.error());
    }
    w.start_line_ = "SIP/2.0 " + std::to_string(code) + " " + std::string(reason);
    w.body_ = std::string();
    return w;
}

std::size_t MessageWriter::index_of(const HeaderField& h) const noexcept {
    return static_cast<std::size_t>(&h - message_.headers().data());
}

std::string_view MessageWriter::current_value(std::size_t i) const {
    return slots_[i].replaced ? std::string_view(slots_[i].value) : message_.headers()[i].value;
}

void MessageWriter::replace_value(std::size_t i, std::string value) {
    slots_[i].replaced = true;
    slots_[i].value = std::move(value);
}

std::size_t MessageWriter::live_first(HeaderKind kind) const {
    for (const auto& h : message_.all(kind)) {
        const auto i = index_of(h);
        if (!slots_[i].removed) return i;
    }
    return npos;
}

template <class Match>
void MessageWriter::remove_added(Match match) {
    for (auto& slot : slots_) {
        std::erase_if(slot.before, match);
        std::erase_if(slot.after, match);
    }
    std::erase_if(at_end_, match);
}

void MessageWriter::remove_headers(HeaderKind kind) {
    for (const auto& h : message_.all(kind)) slots_[index_of(h)].removed = true;
    remove_added([kind](const Added& a) { return a.kind == kind; });
}

void MessageWriter::remove_headers(std::string_view name) {
    const auto kind = header_kind(name);
    if (kind != HeaderKind::other) return remove_headers(kind);
    for (const auto& h : message_.all(HeaderKind::other))
        if (text::iequals(h.name, name)) slots_[index_of(h)].removed = true;
    remove_added([name](const Added& a) {
        const std::string_view line = a.line;
        return a.kind == HeaderKind::other && line.size() > name.size() && line[name.size()] == ':' &&
               text::iequals(line.substr(0, name.size()), name);
    });
}

Result<void> MessageWriter::remove_params(HeaderKind kind, std::initializer_list<std::string_view> names) {
    for (const auto& h : message_.all(kind)) {
        const auto i = index_of(h);
        if (slots_[i].removed) continue;
        if (is_auth_kind(kind)) {
            auto parts = split_auth(current_value(i));
            if (!parts) return std::unexpected(parts.error());
            const auto before = parts->params.size();
            std::erase_if(parts->params, [&](std::string_view p) { return named(p, names); });
            if (parts->params.size() != before) replace_value(i, parts->write());
            continue;
        }
        auto edited = edit_elements(
            current_value(i), false, [&](std::vector<std::string_view>& params, std::vector<std::string>&) {
                return std::erase_if(params, [&](std::string_view p) { return named(p, names); }) != 0;
            });
        if (!edited) return std::unexpected(edited.error());
        if (*edited) replace_value(i, std::move(**edited));
    }
    return {};
}

Result<void> MessageWriter::remove_option_tag(HeaderKind kind, std::string_view tag) {
    for (const auto& h : message_.all(kind)) {
        const auto i = index_of(h);
        if (slots_[i].removed || text::trim_lws(current_value(i)).empty()) continue;
        auto tags = text::split_list(current_value(i), ',', limits::max_list, "option tags");
        if (!tags) return std::unexpected(tags.error());
        if (std::erase_if(*tags, [&](std::string_view t) { return text::iequals(t, tag); }) == 0) continue;
        if (tags->empty()) slots_[i].removed = true;
        else replace_value(i, join(*tags, ", "));
    }
    return {};
}

Result<void> MessageWriter::set_param(HeaderKind kind, std::string_view name, std::string_view value) {
    if (!text::is_token(name)) return fail("parameter name " + quote(name) + " is not a token");
    if (!value.empty() && !is_param_value(value))
        return fail("parameter value " + quote(value) + " is neither a token, a host nor a quoted string");
    const auto i = live_first(kind);
    if (i == npos)
        return fail("no '" + std::string(header_name(kind)) + "' header to add ;" + std::string(name) + " to");
    const std::string param = value.empty() ? std::string(name) : std::string(name) + "=" + std::string(value);
    if (is_auth_kind(kind)) {
        auto parts = split_auth(current_value(i));
        if (!parts) return std::unexpected(parts.error());
        std::erase_if(parts->params, [&](std::string_view p) { return named(p, {name}); });
        parts->params.push_back(param);
        replace_value(i, parts->write());
        return {};
    }
    auto edited = edit_elements(current_value(i), true,
                                [&](std::vector<std::string_view>& params, std::vector<std::string>& added) {
                                    std::erase_if(params, [&](std::string_view p) { return named(p, {name}); });
                                    added.push_back(param);
                                    return true;
                                });
    if (!edited) return std::unexpected(edited.error());
    replace_value(i, std::move(**edited));
    return {};
}

Result<void> MessageWriter::add_header(HeaderKind kind, std::string_view value, Position where) {
    if (auto r = check_addable(kind, value); !r) return r;
    Added line{kind, field_line(header_name(kind), value)};
    const auto* first = message_.first(kind);
    if (first == nullptr) {
        if (kind == HeaderKind::via && !slots_.empty())
            slots_.front().before.insert(slots_.front().before.begin(), std::move(line));
        else at_end_.push_back(std::move(line));
        return {};
    }
    if (where == Position::top) {
        auto& before = slots_[index_of(*first)].before;
        before.insert(before.begin(), std::move(line));
    } else {
        const HeaderField* last = first;
        for (const auto& h : message_.all(kind)) last = &h;
        slots_[index_of(*last)].after.push_back(std::move(line));
    }
    return {};
}

Result<void> MessageWriter::add_header(std::string_view name, std::string_view value) {
    if (!text::is_token(name)) return fail("header name " + quote(name) + " is not a token");
    if (const auto kind = header_kind(name); kind != HeaderKind::other) return add_header(kind, value);
    if (auto r = check_value(value); !r) return r;
    at_end_.push_back({HeaderKind::other, field_line(name, value)});
    return {};
}

Result<void> MessageWriter::set_header(HeaderKind kind, std::string_view value) {
    if (auto r = check_addable(kind, value); !r) return r;
    const auto i = live_first(kind);
    remove_headers(kind);
    if (i == npos) return add_header(kind, value);
    slots_[i].removed = false;
    replace_value(i, std::string(value));
    return {};
}

Result<void> MessageWriter::remove_top_value(HeaderKind kind) {
    const auto i = live_first(kind);
    if (i == npos)
        return fail("no " + std::string(kind == HeaderKind::other ? "header" : header_name(kind)) + " to remove");
    if (is_auth_kind(kind)) {  // commas separate auth-params there, not values
        slots_[i].removed = true;
        return {};
    }
    auto elements = text::split_list(current_value(i), ',', limits::max_list, header_name(kind));
    if (!elements) return std::unexpected(elements.error());
    if (elements->size() == 1) {
        slots_[i].removed = true;
        return {};
    }
    elements->erase(elements->begin());
    replace_value(i, join(*elements, ", "));
    return {};
}

Result<void> MessageWriter::set_request_uri(std::string_view uri) {
    if (!message_.is_request()) return fail("a response has no Request-URI");
    if (auto parsed = parse_uri(uri); !parsed) return std::unexpected(in_context(parsed.error(), "new Request-URI"));
    start_line_ = std::string(message_.method()) + " " + std::string(uri) + " " + std::string(message_.version());
    return {};
}

Result<std::uint32_t> MessageWriter::decrement_max_forwards() {
    const auto i = live_first(HeaderKind::max_forwards);
    if (i == npos) {
        constexpr std::uint32_t initial = 70;
        if (auto r = add_header(HeaderKind::max_forwards, std::to_string(initial)); !r)
            return std::unexpected(r.error());
        return initial;
    }
    if (message_.count(HeaderKind::max_forwards) > 1) return fail("Max-Forwards appears more than once");
    auto n = parse_max_forwards(current_value(i));
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return fail("Max-Forwards is 0 (too many hops)");
    replace_value(i, std::to_string(*n - 1));
    return *n - 1;
}

Result<void> MessageWriter::set_body(std::string body, std::string_view content_type) {
    if (!content_type.empty()) {
        if (auto r = set_header(HeaderKind::content_type, content_type); !r) return r;
    } else if (body.empty()) {
        remove_headers(HeaderKind::content_type);
    }
    body_ = std::move(body);
    return {};
}

std::string MessageWriter::write() const {
    const std::string_view body = body_ ? std::string_view(*body_) : message_.body();
    const auto length = std::to_string(body.size());
    std::string out;
    out.reserve(message_.bytes().size() + 512);
    out += start_line_ ? std::string_view(*start_line_) : message_.start_line();
    out += "\r\n";
    const auto* cl = message_.first(HeaderKind::content_length);
    const auto headers = message_.headers();
    for (std::size_t i = 0; i < headers.size(); ++i) {
        const auto& slot = slots_[i];
        for (const auto& added : slot.before) out += added.line;
        const bool dropped = headers[i].kind == HeaderKind::content_length || slot.removed;
        if (&headers[i] == cl) out += field_line(headers[i].name, length);  // always, with the real length
        else if (!dropped && slot.replaced) out += field_line(headers[i].name, slot.value);
        else if (!dropped) out += headers[i].raw;
        for (const auto& added : slot.after) out += added.line;
    }
    for (const auto& added : at_end_) out += added.line;
    if (cl == nullptr) out += field_line(header_name(HeaderKind::content_length), length);
    out += "\r\n";
    out += body;
    return out;
}

}  // namespace pcscf::sip
