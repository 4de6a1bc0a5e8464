#pragma once
// Internal: cuts a header section into fields (folded lines joined) and checks the bytes.
// Shared by parse_message and StreamFramer so that both accept exactly the same input.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "sip/error.hpp"
#include "sip/header_kind.hpp"
#include "sip/limits.hpp"

namespace pcscf::sip::detail {

struct RawField {
    std::string_view name;
    std::string_view value;
    std::string_view raw;
    std::uint32_t line = 0;
};

// Finds the CRLF ending the line that starts at `from`, checking that no byte is a control
// character (HT excepted; `allow_ctl_in_quotes` admits them as quoted-pairs) and that CR
// and LF come only as CRLF. Returns the offset of the CR, or an error naming `line`.
Result<std::size_t> find_line_end(std::string_view text, std::size_t from, std::size_t max_len, std::uint32_t line);

class FieldScanner {
public:
    FieldScanner(std::string_view text, std::size_t offset, std::uint32_t line, const Limits& limits) noexcept
        : text_(text), offset_(offset), line_(line), limits_(limits) {}

    // The next field, or nullopt once the empty line closing the header section is consumed.
    Result<std::optional<RawField>> next();

    std::size_t offset() const noexcept { return offset_; }  // after the empty line at the end
    std::uint32_t line() const noexcept { return line_; }

private:
    std::string_view text_;
    std::size_t offset_;
    std::uint32_t line_;
    const Limits& limits_;
};

// The value of a Content-Length field (compact "l" too), at most `max`; `seen_before` says
// the header section already had one, which is an error (RFC 3261 18.3 needs one length).
Result<std::size_t> content_length(const RawField& field, bool seen_before, std::size_t max);

// The error for a stream message without Content-Length.
Error missing_content_length();

struct HeaderSection {
    std::size_t end = 0;  // offset after the empty line closing it
    std::optional<std::size_t> content_length;
};

// Scans the header section that starts at `offset` (line number `line`), calling
// on_field(const RawField&, HeaderKind) -> Result<void> on each field and checking the
// Content-Length on the way (the one thing every reader of a header section needs).
template <class OnField>
Result<HeaderSection> scan_header_section(std::string_view text, std::size_t offset, std::uint32_t line,
                                          const Limits& limits, OnField on_field) {
    FieldScanner scanner(text, offset, line, limits);
    HeaderSection out;
    for (;;) {
        auto field = scanner.next();
        if (!field) return std::unexpected(field.error());
        if (!*field) break;
        const auto kind = header_kind((*field)->name);
        if (kind == HeaderKind::content_length) {
            auto n = content_length(**field, out.content_length.has_value(), limits.max_message);
            if (!n) return std::unexpected(n.error());
            out.content_length = *n;
        }
        if (auto r = on_field(**field, kind); !r) return std::unexpected(r.error());
    }
    out.end = scanner.offset();
    return out;
}

}  // namespace pcscf::sip::detail
