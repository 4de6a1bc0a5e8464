#include "sip/params.hpp"

#include <algorithm>

#include "sip/limits.hpp"

namespace pcscf::sip {

const Param* find_param(const Params& params, std::string_view name) noexcept {
    const auto it =
        std::find_if(params.begin(), params.end(), [&](const Param& p) { return text::iequals(p.name, name); });
    return it == params.end() ? nullptr : &*it;
}

namespace {

// gen-value = token / host / quoted-string; a host adds '[', ']' and ':' to the token set.
constexpr bool is_value_char(char c) noexcept { return text::is_token_char(c) || c == '[' || c == ']' || c == ':'; }

}  // namespace

Result<void> parse_params(text::Cursor& cursor, Params& out, std::string_view what) {
    while (cursor.eat_sep(';')) {
        Param p;
        p.name = cursor.token();
        if (p.name.empty()) return fail(std::string(what) + ": expected a parameter name after ';' " + cursor.where());
        if (cursor.eat_sep('=')) {
            p.has_value = true;
            if (cursor.peek() == '"') {
                auto q = cursor.quoted_string();
                if (!q) return fail(std::string(what) + ": parameter " + quote(p.name) + ": " + q.error().message);
                p.value = *q;
                p.quoted = true;
            } else {
                p.value = cursor.take_while(is_value_char);
                if (p.value.empty())
                    return fail(std::string(what) + ": parameter " + quote(p.name) + " has '=' but no value " +
                                cursor.where());
            }
        }
        if (find_param(out, p.name) != nullptr)
            return fail(std::string(what) + ": duplicate parameter " + quote(p.name));
        if (out.size() == limits::max_params)
            return fail(std::string(what) + ": more than " + std::to_string(limits::max_params) + " parameters",
                        ErrorKind::too_large);
        out.push_back(p);
    }
    return {};
}

bool is_param_value(std::string_view value) {
    if (value.starts_with('"')) {
        text::Cursor c(value);
        return c.quoted_string().has_value() && c.done();
    }
    return !value.empty() && std::all_of(value.begin(), value.end(), is_value_char);
}

std::string format_param(std::string_view name, std::string_view value, bool has_value, bool quoted) {
    std::string out(name);
    if (has_value) {
        out += '=';
        if (quoted) out += '"';
        out += value;
        if (quoted) out += '"';
    }
    return out;
}

}  // namespace pcscf::sip
