#pragma once
// Errors on the control side: every call that can fail returns Expected<T>, a value or an
// Error with a code the caller can act on and a message an operator can read. Nothing
// here throws, and no empty string stands for success.
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace pcscf::ctl {

enum class Errc : uint8_t {
    invalid,    // the request or value itself is wrong: do not retry it as it is
    not_found,  // no such SA, port, file
    exists,     // already there (an SA's SPI or selectors, a bound port)
    busy,       // no room just now (a full ring): try again later
    exhausted,  // a table or pool is full, or a range is used up
    io,         // the system refused (socket, bind, connect, send, epoll)
    refused,    // a worker or a peer said no
    fenced,     // another node holds the store (it claimed it after us): stop writing to it
};

constexpr std::string_view name(Errc c) {
    switch (c) {
        case Errc::invalid: return "invalid";
        case Errc::not_found: return "not_found";
        case Errc::exists: return "exists";
        case Errc::busy: return "busy";
        case Errc::exhausted: return "exhausted";
        case Errc::io: return "io";
        case Errc::refused: return "refused";
        case Errc::fenced: return "fenced";
    }
    return "?";
}

struct Error {
    Errc code = Errc::invalid;
    std::string message;
};

template <class T>
using Expected = std::expected<T, Error>;

inline std::unexpected<Error> fail(Errc code, std::string message) {
    return std::unexpected(Error{code, std::move(message)});
}

// "doing X: " + the error's message, keeping its code.
inline Error in_context(Error e, std::string_view doing) {
    e.message.insert(0, std::string(doing) + ": ");
    return e;
}

}  // namespace pcscf::ctl
