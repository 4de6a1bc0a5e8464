#include "sip/field_scanner.hpp"

#include <algorithm>
#include <array>
#include <string>

#include "sip/scalar.hpp"
#include "sip/text.hpp"

namespace pcscf::sip::detail {

namespace {

// Bytes the field loop must decide on (CR, LF, other CTLs, quotes, escapes, the colon);
// runs of any other byte are skipped with one table lookup a byte.
constexpr auto special_bytes = [] {
    std::array<bool, 256> table{};
    for (int c = 0; c < 256; ++c) table[c] = text::is_ctl(static_cast<char>(c)) || c == '"' || c == '\\' || c == ':';
    return table;
}();

std::string at_line(std::uint32_t line) { return "line " + std::to_string(line) + ": "; }

}  // namespace

Result<std::size_t> find_line_end(std::string_view text, std::size_t from, std::size_t max_len, std::uint32_t line) {
    for (std::size_t i = from; i < text.size(); ++i) {
        if (i - from > max_len)
            return fail(at_line(line) + "line longer than " + std::to_string(max_len) + " bytes", ErrorKind::too_large);
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '\r') {
            if (i + 1 < text.size() && text[i + 1] == '\n') return i;
            if (i + 1 < text.size()) return fail(at_line(line) + "CR not followed by LF");
            break;
        }
        if (c == '\n') return fail(at_line(line) + "LF without CR (lines must end in CRLF)");
        if (text::is_ctl(text[i])) return fail(at_line(line) + "control character " + quote(text.substr(i, 1)));
    }
    return fail(at_line(line) + "message ends inside the header section (no empty line)");
}

Result<std::size_t> content_length(const RawField& field, bool seen_before, std::size_t max) {
    const auto where = field_context(field.line, field.name);
    if (seen_before) return fail(where + ": Content-Length appears more than once");
    auto n = parse_content_length(field.value, max);
    if (!n) return std::unexpected(in_context(n.error(), where));
    return *n;
}

Error missing_content_length() {
    return {"no Content-Length header (mandatory on stream transports, RFC 3261 18.3)", ErrorKind::malformed};
}

Result<std::optional<RawField>> FieldScanner::next() {
    const std::size_t start = offset_;
    if (start + 1 < text_.size() && text_[start] == '\r' && text_[start + 1] == '\n') {
        offset_ = start + 2;
        ++line_;
        return std::nullopt;
    }
    if (start < text_.size() && text::is_ws(text_[start]))
        return fail(at_line(line_) + "continuation line with no header field before it");

    // A field is a line plus every following line that starts with SP or HT (folding).
    // Control characters are allowed only as quoted-pairs ("\" CTL inside quotes).
    RawField field;
    field.line = line_;
    bool in_quotes = false;
    std::size_t colon = std::string_view::npos;
    std::size_t i = start;
    const std::size_t stop = std::min(text_.size(), start + limits_.max_field + 1);
    for (;;) {
        while (i < stop && !special_bytes[static_cast<unsigned char>(text_[i])]) ++i;
        if (i >= text_.size()) return fail(at_line(line_) + "message ends inside the header section (no empty line)");
        if (i - start > limits_.max_field)
            return fail(
                at_line(field.line) + "header field longer than " + std::to_string(limits_.max_field) + " bytes",
                ErrorKind::too_large);
        const auto c = static_cast<unsigned char>(text_[i]);
        if (c == '\r' || c == '\n') {
            if (c == '\n' || i + 1 >= text_.size() || text_[i + 1] != '\n') {
                if (c == '\r' && i + 1 >= text_.size())
                    return fail(at_line(line_) + "message ends inside the header section (no empty line)");
                return fail(at_line(line_) +
                            (c == '\n' ? "LF without CR (lines must end in CRLF)" : "CR not followed by LF"));
            }
            ++line_;
            if (i + 2 < text_.size() && text::is_ws(text_[i + 2])) {
                i += 2;  // folded: the field goes on
                continue;
            }
            if (i + 2 >= text_.size())
                return fail(at_line(line_) + "message ends inside the header section (no empty line)");
            field.raw = text_.substr(start, i + 2 - start);
            offset_ = i + 2;
            break;
        }
        if (c == '"' && colon != std::string_view::npos) {
            in_quotes = !in_quotes;
        } else if (c == '\\' && in_quotes && i + 1 < text_.size() && text_[i + 1] != '\r' && text_[i + 1] != '\n') {
            ++i;  // quoted-pair: any byte but CR and LF
        } else if (c == ':' && colon == std::string_view::npos) {
            colon = i;
        } else if (text::is_ctl(text_[i])) {
            return fail(at_line(line_) + "control character " + quote(text_.substr(i, 1)) + " in a header field");
        }
        ++i;
    }

    if (colon == std::string_view::npos)
        return fail(at_line(field.line) + "header line " + quote(field.raw) + " has no ':'");
    std::string_view name = text_.substr(start, colon - start);
    while (!name.empty() && text::is_ws(name.back())) name.remove_suffix(1);  // HCOLON = *( SP / HTAB ) ":" SWS
    if (!text::is_token(name)) return fail(at_line(field.line) + "invalid header name " + quote(name));
    field.name = name;
    const std::size_t value_start = colon + 1;
    field.value = text::trim_lws(text_.substr(value_start, offset_ - 2 - value_start));
    return field;
}

}  // namespace pcscf::sip::detail
