#include "sip/text.hpp"

#include <algorithm>

namespace pcscf::sip {

std::string quote(std::string_view text) {
    constexpr std::size_t max_shown = 40;
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "'";
    for (std::size_t i = 0; i < text.size() && i < max_shown; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xf];
        }
    }
    if (text.size() > max_shown) out += "...";
    out += '\'';
    return out;
}

}  // namespace pcscf::sip

namespace pcscf::sip::text {

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return x == y || (is_alpha(x) && (x | 0x20) == (y | 0x20));
           });
}

bool is_token(std::string_view s) noexcept { return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char); }

int hex_value(char c) noexcept {
    if (is_digit(c)) return c - '0';
    if (is_hex(c)) return (c | 0x20) - 'a' + 10;
    return -1;
}

namespace {

// Length of the LWS that starts at s[i] (0 when none).
std::size_t lws_at(std::string_view s, std::size_t i) noexcept {
    const std::size_t start = i;
    for (;;) {
        if (i < s.size() && is_ws(s[i])) {
            ++i;
        } else if (i + 2 < s.size() && s[i] == '\r' && s[i + 1] == '\n' && is_ws(s[i + 2])) {
            i += 3;
        } else {
            return i - start;
        }
    }
}

}  // namespace

std::string_view trim_lws(std::string_view s) noexcept {
    s.remove_prefix(lws_at(s, 0));
    for (;;) {
        if (!s.empty() && (is_ws(s.back()))) {
            s.remove_suffix(1);
        } else if (s.size() >= 2 && s.ends_with("\r\n")) {
            s.remove_suffix(2);  // only reachable when the value ended in a fold
        } else {
            return s;
        }
    }
}

Result<std::uint64_t> parse_number(std::string_view digits, std::uint64_t max, std::string_view what) {
    if (digits.empty()) return fail(std::string(what) + " is empty");
    if (!std::all_of(digits.begin(), digits.end(), is_digit)) {
        const bool negative = digits.front() == '-';
        return fail(std::string(what) + " " + quote(digits) + (negative ? " is negative" : " is not a decimal number"));
    }
    std::uint64_t value = 0;
    for (const char c : digits) {
        const auto d = static_cast<std::uint64_t>(c - '0');
        if (value > max / 10 || (value == max / 10 && d > max % 10))  // value * 10 + d > max
            return fail(std::string(what) + " " + quote(digits) + " exceeds " + std::to_string(max));
        value = value * 10 + d;
    }
    return value;
}

Result<std::vector<std::string_view>> split_list(std::string_view value, char sep, std::size_t max_items,
                                                 std::string_view what) {
    std::vector<std::string_view> items;
    std::size_t start = 0;
    bool in_quotes = false;
    bool in_angle = false;
    auto push = [&](std::size_t end) -> Result<void> {
        const auto item = trim_lws(value.substr(start, end - start));
        if (item.empty())
            return fail(std::string(what) + ": empty element in " + (sep == ',' ? "comma" : "separator") +
                        "-separated list " + quote(value));
        if (items.size() == max_items)
            return fail(std::string(what) + ": more than " + std::to_string(max_items) + " elements",
                        ErrorKind::too_large);
        items.push_back(item);
        return {};
    };
    // Most lists (Via, Security-Client, option tags) hold no quotes and no '<': split at
    // each separator, found with memchr, instead of walking every byte.
    if (value.find('"') == std::string_view::npos && value.find('<') == std::string_view::npos) {
        for (std::size_t end; (end = value.find(sep, start)) != std::string_view::npos; start = end + 1)
            if (auto r = push(end); !r) return std::unexpected(r.error());
        if (auto r = push(value.size()); !r) return std::unexpected(r.error());
        return items;
    }
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        if (in_quotes) {
            if (c == '\\') ++i;  // quoted-pair: the next byte is taken literally
            else if (c == '"') in_quotes = false;
        } else if (in_angle) {
            in_angle = c != '>';
        } else if (c == '"') {
            in_quotes = true;
        } else if (c == '<') {
            in_angle = true;
        } else if (c == sep) {
            if (auto r = push(i); !r) return std::unexpected(r.error());
            start = i + 1;
        }
    }
    if (in_quotes) return fail(std::string(what) + ": unterminated quoted string in " + quote(value));
    if (in_angle) return fail(std::string(what) + ": '<' without '>' in " + quote(value));
    if (auto r = push(value.size()); !r) return std::unexpected(r.error());
    return items;
}

bool Cursor::skip_lws() noexcept {
    const std::size_t n = lws_at(s_, p_);
    p_ += n;
    return n != 0;
}

bool Cursor::eat(char c) noexcept {
    if (peek() != c || done()) return false;
    ++p_;
    return true;
}

bool Cursor::eat_sep(char c) noexcept {
    const std::size_t saved = p_;
    skip_lws();
    if (!eat(c)) {
        p_ = saved;
        return false;
    }
    skip_lws();
    return true;
}

std::string_view Cursor::token() noexcept { return take_while(is_token_char); }

Result<std::string_view> Cursor::quoted_string() {
    const std::size_t open = p_;
    if (!eat('"')) return fail("expected '\"' " + where());
    const std::size_t start = p_;
    while (p_ < s_.size()) {
        const char c = s_[p_];
        if (c == '"') {
            ++p_;
            return s_.substr(start, p_ - 1 - start);
        }
        if (c == '\\') {
            // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
            if (p_ + 1 >= s_.size()) break;
            const auto e = static_cast<unsigned char>(s_[p_ + 1]);
            if (e == '\r' || e == '\n' || e > 0x7f)
                return fail("invalid escape in quoted string " + quote(s_.substr(open)));
            p_ += 2;
            continue;
        }
        if (c == '\r') {
            if (lws_at(s_, p_) == 0) return fail("line break inside quoted string " + quote(s_.substr(open)));
            p_ += lws_at(s_, p_);
            continue;
        }
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7f)
            return fail("control character inside quoted string " + quote(s_.substr(open)));
        ++p_;
    }
    return fail("unterminated quoted string " + quote(s_.substr(open)));
}

std::string Cursor::where() const { return done() ? "at end" : "at " + quote(rest()); }

}  // namespace pcscf::sip::text
