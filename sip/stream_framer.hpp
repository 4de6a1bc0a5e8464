#pragma once
// Cuts SIP messages out of a TCP byte stream (RFC 3261 18.3): resumable over any split of
// the bytes, several messages per read, RFC 5626 keep-alives between messages. One buffer
// of fixed size is allocated at construction; nothing is allocated per byte or per message.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "sip/error.hpp"
#include "sip/limits.hpp"

namespace pcscf::sip {

enum class FrameKind : std::uint8_t {
    need_more,  // no complete frame buffered: read more bytes
    message,    // `bytes` is one whole message: parse it with Framing::stream
    ping,       // CRLFCRLF: the peer's keep-alive ping; answer with a CRLF pong
    pong,       // a lone CRLF between messages: a pong (or padding RFC 3261 7.5 ignores)
};

struct Frame {
    FrameKind kind = FrameKind::need_more;
    std::string_view bytes;  // valid until the next feed() or write_area()
};

class StreamFramer {
public:
    explicit StreamFramer(std::size_t max_message = Limits{}.max_message);

    // Copies bytes in; returns how many fitted (fewer than given when the buffer is full:
    // take frames with next() and feed the rest).
    std::size_t feed(std::string_view bytes);

    // Or receive straight into the buffer: recv() into write_area(), then commit(n).
    std::span<char> write_area();
    void commit(std::size_t n);

    // The next frame. Errors (no Content-Length, a message over max_message, a malformed
    // header section) are final: every later call returns the same error, and the caller
    // should close the connection, since the stream can no longer be delimited.
    Result<Frame> next();

    std::size_t buffered() const noexcept { return end_ - begin_; }
    bool failed() const noexcept { return error_.has_value(); }

private:
    Result<Frame> fail_with(Error error);
    void compact();

    std::size_t capacity_;
    std::unique_ptr<char[]> buffer_;
    std::size_t begin_ = 0;        // first byte not yet handed out
    std::size_t end_ = 0;          // one past the last byte received
    std::size_t scanned_ = 0;      // bytes after begin_ known to hold no CRLFCRLF
    std::size_t header_len_ = 0;   // once the header section is found (0 = not yet)
    std::size_t message_len_ = 0;  // header_len_ + Content-Length
    std::optional<Error> error_;
};

}  // namespace pcscf::sip
