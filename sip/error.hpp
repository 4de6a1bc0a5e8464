#pragma once
// Errors of the SIP library: every parser returns Result<T>, never throws.

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace pcscf::sip {

// Lets the caller choose its reaction (400, 513 or close the connection, 505, 494, ...).
enum class ErrorKind : std::uint8_t {
    malformed,    // does not follow the grammar
    too_large,    // exceeds one of the bounds of limits.hpp
    unsupported,  // well-formed, but a version, algorithm or mode we do not implement
};

struct Error {
    std::string message;  // what was wrong and where, readable by an operator
    ErrorKind kind = ErrorKind::malformed;
};

template <class T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(std::string message, ErrorKind kind = ErrorKind::malformed) {
    return std::unexpected(Error{std::move(message), kind});
}

// Puts where the error happened in front of it: "line 4: header 'Via': " + message.
inline Error in_context(Error error, std::string_view where) {
    error.message.insert(0, std::string(where) + ": ");
    return error;
}

// "line 4: header 'Via'": where a header field's error happened.
inline std::string field_context(std::uint32_t line, std::string_view name) {
    return "line " + std::to_string(line) + ": header '" + std::string(name) + "'";
}

// Untrusted text shown in an error: quoted, non-printable bytes escaped, cut at 40 bytes,
// so that a message never carries control characters or megabytes into a log.
std::string quote(std::string_view text);

}  // namespace pcscf::sip
