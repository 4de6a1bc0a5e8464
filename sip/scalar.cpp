#include "sip/scalar.hpp"

#include <algorithm>
#include <string>

#include "sip/limits.hpp"
#include "sip/text.hpp"

namespace pcscf::sip {

namespace {

Result<std::uint64_t> whole_number(std::string_view value, std::uint64_t max, std::string_view what) {
    return text::parse_number(text::trim_lws(value), max, what);
}

// word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" /
//           "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}")
constexpr bool is_word_char(char c) noexcept {
    switch (c) {
        case '(':
        case ')':
        case '<':
        case '>':
        case ':':
        case '\\':
        case '"':
        case '/':
        case '[':
        case ']':
        case '?':
        case '{':
        case '}': return true;
        default: return text::is_token_char(c);
    }
}

}  // namespace

Result<CSeq> parse_cseq(std::string_view value) {
    text::Cursor c(text::trim_lws(value));
    const auto digits = c.take_while(text::is_digit);
    if (digits.empty()) return fail("CSeq " + quote(value) + " does not start with a sequence number");
    auto number = text::parse_number(digits, 0x7fffffff, "CSeq number");
    if (!number) return std::unexpected(number.error());
    if (!c.skip_lws()) return fail("CSeq " + quote(value) + " needs white space between number and method");
    CSeq out;
    out.number = static_cast<std::uint32_t>(*number);
    out.method = c.token();
    if (out.method.empty()) return fail("CSeq " + quote(value) + " has no method");
    if (!c.done()) return fail("CSeq: unexpected text after the method " + c.where());
    return out;
}

Result<std::string_view> parse_call_id(std::string_view value) {
    const auto id = text::trim_lws(value);
    if (id.empty()) return fail("Call-ID is empty");
    const auto at = id.find('@');
    const auto left = id.substr(0, at);
    const auto right = at == std::string_view::npos ? std::string_view("x") : id.substr(at + 1);
    const auto word = [](std::string_view w) { return !w.empty() && std::all_of(w.begin(), w.end(), is_word_char); };
    if (!word(left) || !word(right)) return fail("Call-ID " + quote(id) + " is not word [\"@\" word]");
    return id;
}

Result<std::uint32_t> parse_expires(std::string_view value) {
    auto n = whole_number(value, 0xffffffffULL, "expires value");
    if (!n) return std::unexpected(n.error());
    return static_cast<std::uint32_t>(*n);
}

Result<std::uint32_t> parse_max_forwards(std::string_view value) {
    auto n = whole_number(value, 255, "Max-Forwards");
    if (!n) return std::unexpected(n.error());
    return static_cast<std::uint32_t>(*n);
}

Result<std::size_t> parse_content_length(std::string_view value, std::size_t max) {
    const auto digits = text::trim_lws(value);
    auto n = text::parse_number(digits, max, "Content-Length");
    if (!n) {
        // all digits but too many: a size problem (513 / close), not a syntax one
        auto e = n.error();
        if (!digits.empty() && std::all_of(digits.begin(), digits.end(), text::is_digit)) e.kind = ErrorKind::too_large;
        return std::unexpected(std::move(e));
    }
    return static_cast<std::size_t>(*n);
}

Result<std::uint16_t> parse_qvalue(std::string_view value) {
    // qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
    const auto v = text::trim_lws(value);
    const auto bad = [&] { return fail("q-value " + quote(v) + " is not between 0 and 1 with at most 3 decimals"); };
    if (v.empty() || (v[0] != '0' && v[0] != '1')) return bad();
    unsigned thousandths = v[0] == '1' ? 1000 : 0;
    if (v.size() > 1) {
        if (v[1] != '.' || v.size() > 5) return bad();
        unsigned scale = 100;
        for (const char c : v.substr(2)) {
            if (!text::is_digit(c)) return bad();
            thousandths += static_cast<unsigned>(c - '0') * scale;
            scale /= 10;
        }
        if (thousandths > 1000) return bad();
    }
    return static_cast<std::uint16_t>(thousandths);
}

Result<std::vector<std::string_view>> parse_option_tags(std::string_view value) {
    if (text::trim_lws(value).empty()) return std::vector<std::string_view>{};
    auto tags = text::split_list(value, ',', limits::max_list, "option-tag list");
    if (!tags) return tags;
    for (const auto tag : *tags)
        if (!text::is_token(tag)) return fail("option tag " + quote(tag) + " is not a token");
    return tags;
}

Result<std::uint16_t> parse_port(std::string_view digits, std::string_view what) {
    auto n = text::parse_number(digits, 65535, what);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return fail(std::string(what) + " is 0, not a usable port");
    return static_cast<std::uint16_t>(*n);
}

}  // namespace pcscf::sip
