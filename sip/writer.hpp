#pragma once
// Produces the messages the P-CSCF sends: a parsed Message plus edits, written into a
// std::string. Untouched header fields are copied byte for byte (names, compact forms and
// folding kept); edited ones are written "Name: value". Content-Length is always written
// with the body's real length. Edits never touch the parsed Message or its buffer.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sip/error.hpp"
#include "sip/header_kind.hpp"
#include "sip/message.hpp"

namespace pcscf::sip {

enum class Position : std::uint8_t {
    top,     // before the first field of the kind (Path, Via: a proxy's own goes first)
    bottom,  // after the last field of the kind
};

class MessageWriter {
public:
    // The message (and its buffer) must outlive the writer.
    explicit MessageWriter(const Message& message);
    explicit MessageWriter(Message&&) = delete;  // would keep a reference to a temporary

    // A response to `request` (RFC 3261 8.2.6): its Via fields, From, To, Call-ID and CSeq,
    // nothing else and no body; `to_tag` is added when To has no tag (required then, except
    // for 100). Add headers with the calls below, then write(). For the answers the P-CSCF
    // gives itself: 400 on a parse error, 420, 483, 494, 403, ...
    static Result<MessageWriter> response_to(const Message& request, std::uint16_t code, std::string_view reason,
                                             std::string_view to_tag = {});
    static Result<MessageWriter> response_to(Message&&, std::uint16_t, std::string_view,
                                             std::string_view = {}) = delete;

    // Drops every field of the kind (Security-Client/-Verify before relaying to the core),
    // those added by this writer included.
    void remove_headers(HeaderKind kind);
    // Drops every field with this name (case-insensitive, compact forms of known names too).
    void remove_headers(std::string_view name);

    // The edits below (params, option tags, top value) act on the fields received; fields
    // added by this writer are written as given.

    // Removes the named parameters wherever they occur in fields of the kind: auth-params
    // of WWW-Authenticate and its kin (ik, ck before relaying a 401 to the UE), ;params of
    // any other header. Errors if a value cannot be parsed into its elements.
    Result<void> remove_params(HeaderKind kind, std::initializer_list<std::string_view> names);

    // Removes an option tag from comma-separated lists of the kind (sec-agree from Require and
    // Proxy-Require, TS 24.229 5.2.2); a field left empty is dropped.
    Result<void> remove_option_tag(HeaderKind kind, std::string_view tag);

    // Sets a parameter on the first value of the first field of the kind, replacing any
    // parameter of that name (a UE must not supply its own integrity-protected). An empty
    // value writes the name alone (";rport"). The value is written as given ("\"yes\""): a
    // token, a host or a quoted string, nothing that would open another parameter or value.
    Result<void> set_param(HeaderKind kind, std::string_view name, std::string_view value);

    // Adds a field "Name: value". With no field of the kind yet it goes at the end of the
    // header section (a Via at the beginning). Values with control characters (CR, LF, NUL:
    // header injection) are refused, and so is Content-Length (write() computes it).
    Result<void> add_header(HeaderKind kind, std::string_view value, Position where = Position::bottom);
    // Any header by name: a known name (or compact form) as add_header(kind), others at the end.
    Result<void> add_header(std::string_view name, std::string_view value);

    // Replaces every field of the kind, added ones included, by one "Name: value" where the
    // first received one was (placed as by add_header when there is none): Expires,
    // Security-Server, Content-Type, ...
    Result<void> set_header(HeaderKind kind, std::string_view value);

    Result<void> prepend_via(std::string_view value) { return add_header(HeaderKind::via, value, Position::top); }
    // Removes the topmost value of a list header: the first element of the first field, or
    // the field if it holds only one. Via when relaying a response; Route when the top entry
    // is the P-CSCF itself (RFC 3261 16.4). WWW-Authenticate and kin: the first field.
    Result<void> remove_top_value(HeaderKind kind);
    Result<void> remove_top_via() { return remove_top_value(HeaderKind::via); }

    Result<void> set_request_uri(std::string_view uri);  // checked with parse_uri; requests only

    // Max-Forwards minus one; an error when it is 0 (answer 483) or invalid; 70 is written
    // when the field is absent (RFC 3261 16.6 step 3). Returns the value written.
    Result<std::uint32_t> decrement_max_forwards();

    // Replaces the body. A non-empty `content_type` sets Content-Type; an empty body drops it.
    Result<void> set_body(std::string body, std::string_view content_type = {});

    std::string write() const;

private:
    struct Added {
        HeaderKind kind;
        std::string line;  // "Name: value\r\n"
    };
    struct Slot {
        bool removed = false;
        bool replaced = false;
        std::string value;  // the new value when replaced
        std::vector<Added> before;
        std::vector<Added> after;
    };

    std::string_view current_value(std::size_t i) const;
    void replace_value(std::size_t i, std::string value);
    std::size_t live_first(HeaderKind kind) const;  // first field not removed, or npos
    std::size_t index_of(const HeaderField& h) const noexcept;
    // Drops added fields that `match`.
    template <class Match>
    void remove_added(Match match);

    const Message& message_;
    std::vector<Slot> slots_;
    std::vector<Added> at_end_;
    std::optional<std::string> start_line_;  // replaces the parsed one when set
    std::optional<std::string> body_;        // replaces the parsed one when set
};

}  // namespace pcscf::sip
