#include "sip/auth.hpp"

#include <algorithm>
#include <string>

#include "sip/limits.hpp"
#include "sip/text.hpp"

namespace pcscf::sip {

namespace {

Result<AkaKey> parse_key(const AuthParam& p) {
    if (p.value.size() != 32)
        return fail("parameter " + quote(p.name) + " must be 32 hex digits (16 bytes), has " +
                    std::to_string(p.value.size()) + " characters");
    AkaKey key{};
    for (std::size_t i = 0; i < key.size(); ++i) {
        const int hi = text::hex_value(p.value[2 * i]);
        const int lo = text::hex_value(p.value[2 * i + 1]);
        if (hi < 0 || lo < 0) return fail("parameter " + quote(p.name) + " is not hexadecimal: " + quote(p.value));
        key[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return key;
}

Result<AuthParam> parse_auth_param(std::string_view item) {
    text::Cursor c(item);
    AuthParam p;
    p.name = c.token();
    if (p.name.empty()) return fail("expected a parameter name " + c.where());
    if (!c.eat_sep('=')) return fail("parameter " + quote(p.name) + " has no '=' value");
    if (c.peek() == '"') {
        auto q = c.quoted_string();
        if (!q) return std::unexpected(in_context(q.error(), "parameter " + quote(p.name)));
        p.value = *q;
        p.quoted = true;
    } else {
        p.value = c.token();
        if (p.value.empty()) return fail("parameter " + quote(p.name) + " has no value " + c.where());
    }
    c.skip_lws();
    if (!c.done()) return fail("parameter " + quote(p.name) + ": unexpected " + quote(c.rest()));
    return p;
}

}  // namespace

bool AuthValue::is_digest() const noexcept { return text::iequals(scheme, "Digest"); }

std::optional<std::string_view> AuthValue::get(std::string_view name) const noexcept {
    for (const auto& p : params)
        if (text::iequals(p.name, name)) return p.value;
    return std::nullopt;
}

Result<AuthValue> parse_auth(std::string_view value) {
    AuthValue out;
    text::Cursor c(text::trim_lws(value));
    out.scheme = c.token();
    if (out.scheme.empty()) return fail("no authentication scheme in " + quote(value));
    if (!c.skip_lws() || c.done()) return fail("authentication scheme " + quote(out.scheme) + " has no parameters");
    auto items = text::split_list(c.rest(), ',', limits::max_params, "auth-params");
    if (!items) return std::unexpected(items.error());
    for (const auto item : *items) {
        auto p = parse_auth_param(item);
        if (!p) return std::unexpected(p.error());
        if (out.get(p->name)) return fail("duplicate parameter " + quote(p->name));
        out.params.push_back(*p);
    }
    for (const auto& p : out.params) {
        auto* key = text::iequals(p.name, "ik") ? &out.ik : text::iequals(p.name, "ck") ? &out.ck : nullptr;
        if (key != nullptr) {
            auto k = parse_key(p);
            if (!k) return std::unexpected(k.error());
            *key = *k;
        } else if (text::iequals(p.name, "nc")) {
            if (p.value.size() != 8 || !std::all_of(p.value.begin(), p.value.end(), text::is_hex))
                return fail("nc " + quote(p.value) + " is not 8 hex digits");
        }
    }
    return out;
}

}  // namespace pcscf::sip
