#pragma once
// Internal: cuts a header section into fields (folded lines joined) and checks the bytes.
// Shared by parse_message and StreamFramer so that both accept exactly the same input.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "sip/error.hpp"
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
Result<std::size_t> find_line_end(std::string_view text, std::size_t from, std::size_t max_len,
                                  std::uint32_t line);

// The value of a Content-Length field (compact "l" too), at most `max`; `seen_before` says
// the header section already had one, which is an error (RFC 3261 18.3 needs one length).
Result<std::size_t> content_length(const RawField& field, bool seen_before, std::size_t max);

class FieldScanner {
public:
    FieldScanner(std::string_view text, std::size_t offset, std::uint32_t line,
                 const Limits& limits) noexcept
        : text_(text), offset_(offset), line_(line), limits_(limits)
    {
    }

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

}  // namespace pcscf::sip::detail
