#include "sip/message.hpp"

#include <algorithm>
#include <string>

#include "sip/field_scanner.hpp"
#include "sip/text.hpp"
#include "sip/uri.hpp"

namespace pcscf::sip {

namespace {

// SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT; only 2.0 is spoken.
Result<void> check_version(std::string_view v) {
    const auto dot = v.find('.');
    const bool well_formed = v.size() > 4 && text::iequals(v.substr(0, 4), "SIP/") && dot != std::string_view::npos &&
                             dot > 4 && dot + 1 < v.size() &&
                             text::parse_number(v.substr(4, dot - 4), 999, "").has_value() &&
                             text::parse_number(v.substr(dot + 1), 999, "").has_value();
    if (!well_formed) return fail("invalid SIP version " + quote(v));
    if (v.substr(4) != "2.0") return fail("unsupported SIP version " + quote(v), ErrorKind::unsupported);
    return {};
}

}  // namespace

Result<Message> parse_message(std::string_view bytes, Framing framing, const Limits& limits) {
    if (bytes.size() > limits.max_message)
        return fail("message of " + std::to_string(bytes.size()) + " bytes exceeds the maximum of " +
                        std::to_string(limits.max_message),
                    ErrorKind::too_large);
    Message m;
    std::size_t pos = 0;
    std::uint32_t line = 1;
    while (bytes.substr(pos, 2) == "\r\n") {  // RFC 3261 7.5: ignore CRLFs before the start line
        pos += 2;
        ++line;
    }
    if (pos == bytes.size()) return fail("empty message");
    const std::size_t begin = pos;

    auto eol = detail::find_line_end(bytes, pos, limits.max_field, line);
    if (!eol) return std::unexpected(eol.error());
    const std::string_view start = bytes.substr(pos, *eol - pos);
    m.start_line_ = start;
    const std::string where = "line " + std::to_string(line) + ": ";
    const auto sp1 = start.find(' ');
    if (sp1 == std::string_view::npos)
        return fail(where + "start line " + quote(start) + " has no SP separated elements");

    if (start.size() >= 4 && text::iequals(start.substr(0, 4), "SIP/")) {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        m.version_ = start.substr(0, sp1);
        if (auto r = check_version(m.version_); !r)
            return std::unexpected(in_context(r.error(), where + "status line"));
        const auto rest = start.substr(sp1 + 1);
        const auto code = rest.substr(0, rest.find(' '));
        if (code.size() != 3 || code[0] < '1' || code[0] > '6' || !text::is_digit(code[1]) || !text::is_digit(code[2]))
            return fail(where + "status code " + quote(code) + " is not 100..699");
        m.status_code_ = static_cast<std::uint16_t>((code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0'));
        // RFC 4475 3.1.1.13: the reason may be empty; we also accept the SP missing before it.
        m.reason_ = rest.size() > 3 ? rest.substr(4) : std::string_view{};
    } else {
        // Request-Line = Method SP Request-URI SP SIP-Version, single SPs (RFC 4475 3.1.2.9/10)
        m.method_ = start.substr(0, sp1);
        if (!text::is_token(m.method_)) return fail(where + "method " + quote(m.method_) + " is not a token");
        const auto rest = start.substr(sp1 + 1);
        const auto sp2 = rest.find(' ');
        if (sp2 == std::string_view::npos) return fail(where + "request line " + quote(start) + " has no SIP version");
        m.request_uri_ = rest.substr(0, sp2);
        if (m.request_uri_.empty())
            return fail(where + "request line " + quote(start) + " has an empty Request-URI (extra SP?)");
        // parsed in full by validate(); this only rules out what cannot be a URI ("<sip:..>")
        if (!has_scheme(m.request_uri_))
            return fail(where + "request line: Request-URI " + quote(m.request_uri_) + " has no valid scheme");
        m.version_ = rest.substr(sp2 + 1);
        if (m.version_.find(' ') != std::string_view::npos || m.version_.find('\t') != std::string_view::npos)
            return fail(where + "request line " + quote(start) + " has extra text after the SIP version");
        if (auto r = check_version(m.version_); !r)
            return std::unexpected(in_context(r.error(), where + "request line"));
    }
    if (start.find('\t') != std::string_view::npos && m.is_request())
        return fail(where + "request line contains a tab");

    // Header fields, indexed by kind. HeaderField::none must stay out of reach of an index.
    const std::size_t max_headers = std::min<std::size_t>(limits.max_headers, HeaderField::none);
    std::array<std::uint16_t, header_kind_count> last{};
    const auto section = detail::scan_header_section(
        bytes, *eol + 2, line + 1, limits, [&](const detail::RawField& raw, HeaderKind kind) -> Result<void> {
            if (m.headers_.size() == max_headers)
                return fail("line " + std::to_string(raw.line) + ": more than " + std::to_string(max_headers) +
                                " header fields",
                            ErrorKind::too_large);
            const auto k = static_cast<std::size_t>(kind);
            const auto index = static_cast<std::uint16_t>(m.headers_.size());
            if (m.first_[k] == HeaderField::none) m.first_[k] = index;
            else m.headers_[last[k]].next_same = index;
            last[k] = index;
            ++m.count_[k];
            m.headers_.push_back({kind, raw.name, raw.value, raw.raw, raw.line, HeaderField::none});
            return {};
        });
    if (!section) return std::unexpected(section.error());
    m.content_length_ = section->content_length;

    // Body, delimited by Content-Length.
    if (!m.content_length_ && framing == Framing::stream) return std::unexpected(detail::missing_content_length());
    const std::size_t body_start = section->end;
    const std::size_t available = bytes.size() - body_start;
    std::size_t body_len = available;
    if (m.content_length_) {
        if (*m.content_length_ > available)
            return fail("body of " + std::to_string(available) + " bytes is shorter than Content-Length " +
                        std::to_string(*m.content_length_));
        body_len = *m.content_length_;
        if (framing == Framing::stream && available > body_len)
            return fail(std::to_string(available - body_len) + " bytes after the body of " + std::to_string(body_len) +
                        " announced by Content-Length");
    }
    m.body_ = bytes.substr(body_start, body_len);
    m.bytes_ = bytes.substr(begin, body_start + body_len - begin);
    return m;
}

const HeaderField* Message::first(HeaderKind kind) const noexcept {
    const auto i = first_[static_cast<std::size_t>(kind)];
    return i == HeaderField::none ? nullptr : &headers_[i];
}

std::size_t Message::count(HeaderKind kind) const noexcept { return count_[static_cast<std::size_t>(kind)]; }

HeaderRange Message::all(HeaderKind kind) const noexcept {
    return {headers_.data(), first_[static_cast<std::size_t>(kind)]};
}

const HeaderField* Message::find(std::string_view name) const noexcept {
    const auto kind = header_kind(name);
    if (kind != HeaderKind::other) return first(kind);
    for (const auto& h : all(HeaderKind::other))
        if (text::iequals(h.name, name)) return &h;
    return nullptr;
}

}  // namespace pcscf::sip
