#include "sip/stream_framer.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "sip/field_scanner.hpp"
#include "sip/header_kind.hpp"

namespace pcscf::sip {

namespace {

constexpr std::size_t min_capacity = 64;

// Content-Length of a complete header section (start line to the empty line), checked
// by the same scanner as parse_message so that both accept the same bytes.
Result<std::size_t> content_length_of(std::string_view head, std::size_t max) {
    const Limits limits{.max_message = max};
    auto eol = detail::find_line_end(head, 0, limits.max_field, 1);
    if (!eol) return std::unexpected(eol.error());
    auto section = detail::scan_header_section(head, *eol + 2, 2, limits,
                                               [](const detail::RawField&, HeaderKind) { return Result<void>{}; });
    if (!section) return std::unexpected(section.error());
    if (!section->content_length) return std::unexpected(detail::missing_content_length());
    return *section->content_length;
}

}  // namespace

StreamFramer::StreamFramer(std::size_t max_message)
    : capacity_(std::max(max_message, min_capacity)), buffer_(new char[capacity_]) {}

void StreamFramer::compact() {
    if (begin_ == 0) return;
    std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
}

std::size_t StreamFramer::feed(std::string_view bytes) {
    const auto area = write_area();
    const std::size_t n = std::min(bytes.size(), area.size());
    if (n > 0)  // an empty view may carry a null pointer, which memcpy must not get
        std::memcpy(area.data(), bytes.data(), n);
    commit(n);
    return n;
}

std::span<char> StreamFramer::write_area() {
    compact();
    return {buffer_.get() + end_, capacity_ - end_};
}

void StreamFramer::commit(std::size_t n) { end_ += std::min(n, capacity_ - end_); }

Result<Frame> StreamFramer::fail_with(Error error) {
    error_ = error;
    return std::unexpected(std::move(error));
}

Result<Frame> StreamFramer::next() {
    if (error_) return std::unexpected(*error_);
    const std::string_view data(buffer_.get() + begin_, end_ - begin_);
    if (header_len_ == 0) {
        if (data.starts_with("\r\n")) {  // keep-alive, between messages only (RFC 5626 3.5.1)
            if (data.starts_with("\r\n\r\n")) {
                begin_ += 4;
                return Frame{FrameKind::ping, data.substr(0, 4)};
            }
            if (data.size() < 4 && data.substr(2) == std::string_view("\r\n").substr(0, data.size() - 2))
                return Frame{};  // may still become a ping
            begin_ += 2;
            return Frame{FrameKind::pong, data.substr(0, 2)};
        }
        const std::size_t from = scanned_ >= 3 ? scanned_ - 3 : 0;
        const auto end = data.find("\r\n\r\n", from);
        if (end == std::string_view::npos) {
            scanned_ = data.size();
            if (data.size() >= capacity_)
                return fail_with(Error{
                    "header section longer than the maximum message size of " + std::to_string(capacity_) + " bytes",
                    ErrorKind::too_large});
            return Frame{};
        }
        auto length = content_length_of(data.substr(0, end + 4), capacity_);
        if (!length) return fail_with(length.error());
        if (end + 4 + *length > capacity_)
            return fail_with(Error{"message of " + std::to_string(end + 4 + *length) +
                                       " bytes exceeds the maximum of " + std::to_string(capacity_),
                                   ErrorKind::too_large});
        header_len_ = end + 4;
        message_len_ = header_len_ + *length;
    }
    if (data.size() < message_len_) return Frame{};
    const Frame frame{FrameKind::message, data.substr(0, message_len_)};
    begin_ += message_len_;
    header_len_ = message_len_ = scanned_ = 0;
    return frame;
}

}  // namespace pcscf::sip
