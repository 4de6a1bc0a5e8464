#pragma once
// Lexical building blocks of RFC 3261 section 25: character classes, linear white space
// (folding included), tokens, quoted strings, numbers and comma-separated lists.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sip/error.hpp"

namespace pcscf::sip::text {

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) noexcept { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
constexpr bool is_alnum(char c) noexcept { return is_digit(c) || is_alpha(c); }
constexpr bool is_hex(char c) noexcept { return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }
constexpr bool is_ws(char c) noexcept { return c == ' ' || c == '\t'; }
// CTL of RFC 5234 except HT, which SIP admits wherever it admits SP.
constexpr bool is_ctl(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
}

// token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
constexpr bool is_token_char(char c) noexcept {
    switch (c) {
        case '-':
        case '.':
        case '!':
        case '%':
        case '*':
        case '_':
        case '+':
        case '`':
        case '\'':
        case '~': return true;
        default: return is_alnum(c);
    }
}

bool iequals(std::string_view a, std::string_view b) noexcept;
bool is_token(std::string_view s) noexcept;
int hex_value(char c) noexcept;  // -1 when not a hex digit

// Strips LWS (SP, HT and CRLF followed by SP/HT) from both ends.
std::string_view trim_lws(std::string_view s) noexcept;

// Decimal digits only (leading zeros allowed, no sign), at most `max`. `what` names the
// field in the error: "CSeq number '36893488147419103232' exceeds 2147483647".
Result<std::uint64_t> parse_number(std::string_view digits, std::uint64_t max, std::string_view what);

// Splits a header value at `sep` where it is not inside a quoted string or <...>, trims
// each element and rejects empty elements, unterminated quotes or brackets and more than
// `max_items` elements.
Result<std::vector<std::string_view>> split_list(std::string_view value, char sep, std::size_t max_items,
                                                 std::string_view what);

// split_list, then `parse` on each element; the error names the element ("what 2: ...").
template <class T, class Parse>
Result<std::vector<T>> parse_list(std::string_view value, std::size_t max_items, std::string_view what, Parse parse) {
    auto items = split_list(value, ',', max_items, what);
    if (!items) return std::unexpected(items.error());
    std::vector<T> out;
    out.reserve(items->size());
    for (std::size_t i = 0; i < items->size(); ++i) {
        auto v = parse((*items)[i]);
        if (!v)
            return std::unexpected(items->size() == 1
                                       ? v.error()
                                       : in_context(v.error(), std::string(what) + " " + std::to_string(i + 1)));
        out.push_back(std::move(*v));
    }
    return out;
}

// A read position in one header value, with the separators of RFC 3261 (SWS around them).
class Cursor {
public:
    explicit Cursor(std::string_view text) noexcept : s_(text) {}

    bool done() const noexcept { return p_ >= s_.size(); }
    char peek() const noexcept { return done() ? '\0' : s_[p_]; }
    std::size_t pos() const noexcept { return p_; }
    std::string_view text() const noexcept { return s_; }
    std::string_view rest() const noexcept { return s_.substr(p_); }
    std::string_view since(std::size_t start) const noexcept { return s_.substr(start, p_ - start); }
    void advance(std::size_t n = 1) noexcept { p_ = p_ + n > s_.size() ? s_.size() : p_ + n; }

    bool skip_lws() noexcept;           // true when anything was skipped
    bool eat(char c) noexcept;          // consumes c when it is next
    bool eat_sep(char c) noexcept;      // SWS c SWS; leaves the cursor alone when c is absent
    std::string_view token() noexcept;  // longest run of token characters, maybe empty

    template <class Pred>
    std::string_view take_while(Pred pred) noexcept {
        const std::size_t start = p_;
        while (p_ < s_.size() && pred(s_[p_])) ++p_;
        return s_.substr(start, p_ - start);
    }

    // At a '"': consumes the quoted string and returns what is between the quotes
    // (quoted-pairs are checked, not decoded).
    Result<std::string_view> quoted_string();

    // "at 'rest...'" or "at end", for error messages.
    std::string where() const;

private:
    std::string_view s_;
    std::size_t p_ = 0;
};

}  // namespace pcscf::sip::text
