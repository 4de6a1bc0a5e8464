#pragma once
// Zero-copy SIP message: the start line, the header fields and the body are string_view
// slices into the caller's buffer, which must outlive the Message. Header fields are indexed
// by kind (O(1) lookup); their values are parsed on demand by the typed parsers
// (accessors.hpp), each returning an explicit Result.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sip/error.hpp"
#include "sip/header_kind.hpp"
#include "sip/limits.hpp"

namespace pcscf::sip {

// How the message was delimited by the transport.
enum class Framing : std::uint8_t {
    datagram,  // UDP: no Content-Length means "the rest"; octets beyond it are ignored
    stream,    // TCP (one message cut out by StreamFramer): Content-Length is mandatory
};

struct HeaderField {
    static constexpr std::uint16_t none = 0xffff;

    HeaderKind kind = HeaderKind::other;
    std::string_view name;           // as written: "Via", "v", "vIa"
    std::string_view value;          // LWS-trimmed; may contain folds (CRLF + SP/HT)
    std::string_view raw;            // the whole field including its final CRLF
    std::uint32_t line = 0;          // line number of the field in the buffer, from 1
    std::uint16_t next_same = none;  // index of the next field of the same kind
};

class Message;

namespace detail {
constexpr std::array<std::uint16_t, header_kind_count> no_fields() noexcept {
    std::array<std::uint16_t, header_kind_count> a{};
    a.fill(HeaderField::none);
    return a;
}
}  // namespace detail

// The header fields of one kind, in message order.
class HeaderRange {
public:
    class iterator {
    public:
        using value_type = HeaderField;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        iterator(const HeaderField* base, std::uint16_t i) noexcept : base_(base), i_(i) {}
        const HeaderField& operator*() const noexcept { return base_[i_]; }
        const HeaderField* operator->() const noexcept { return base_ + i_; }
        iterator& operator++() noexcept {
            i_ = base_[i_].next_same;
            return *this;
        }
        iterator operator++(int) noexcept {
            auto t = *this;
            ++*this;
            return t;
        }
        bool operator==(const iterator& o) const noexcept { return i_ == o.i_; }

    private:
        const HeaderField* base_ = nullptr;
        std::uint16_t i_ = HeaderField::none;
    };

    HeaderRange(const HeaderField* base, std::uint16_t first) noexcept : base_(base), first_(first) {}
    iterator begin() const noexcept { return {base_, first_}; }
    iterator end() const noexcept { return {base_, HeaderField::none}; }
    bool empty() const noexcept { return first_ == HeaderField::none; }

private:
    const HeaderField* base_;
    std::uint16_t first_;
};

class Message {
public:
    bool is_request() const noexcept { return status_code_ == 0; }
    std::string_view method() const noexcept { return method_; }            // "" in a response
    std::string_view request_uri() const noexcept { return request_uri_; }  // "" in a response
    std::uint16_t status_code() const noexcept { return status_code_; }     // 0 in a request
    std::string_view reason() const noexcept { return reason_; }
    std::string_view version() const noexcept { return version_; }
    std::string_view start_line() const noexcept { return start_line_; }  // without CRLF

    std::span<const HeaderField> headers() const noexcept { return headers_; }
    const HeaderField* first(HeaderKind kind) const noexcept;
    std::size_t count(HeaderKind kind) const noexcept;
    HeaderRange all(HeaderKind kind) const noexcept;
    // First field with this name (case-insensitive; a known name also finds its compact form).
    const HeaderField* find(std::string_view name) const noexcept;

    std::optional<std::size_t> content_length() const noexcept { return content_length_; }
    std::string_view body() const noexcept { return body_; }
    std::string_view bytes() const noexcept { return bytes_; }  // start line to end of body

private:
    friend Result<Message> parse_message(std::string_view, Framing, const Limits&);

    std::string_view bytes_, start_line_, method_, request_uri_, version_, reason_, body_;
    std::uint16_t status_code_ = 0;
    std::optional<std::size_t> content_length_;
    std::vector<HeaderField> headers_;
    std::array<std::uint16_t, header_kind_count> first_ = detail::no_fields();
    std::array<std::uint16_t, header_kind_count> count_{};
};

// Parses one message. Leading CRLFs are skipped (RFC 3261 7.5). Rejected with an error:
// anything over `limits`, a malformed start line, a SIP version other than 2.0, a bare CR
// or LF, control characters outside quoted-pairs, a header line without ':', a message
// that ends inside its header section, several or invalid Content-Length values, a body
// shorter than Content-Length, and on a stream a missing Content-Length or extra octets.
Result<Message> parse_message(std::string_view bytes, Framing framing, const Limits& limits = {});
// The Message would point into a temporary: keep the buffer alive and pass a view of it.
Result<Message> parse_message(std::string&& bytes, Framing framing, const Limits& limits = {}) = delete;

}  // namespace pcscf::sip
