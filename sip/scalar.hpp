#pragma once
// Single-valued header values: CSeq, Call-ID, bounded integers, q-values, option tags.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "sip/error.hpp"

namespace pcscf::sip {

struct CSeq {
    std::uint32_t number = 0;  // < 2^31 (RFC 3261 8.1.1.5)
    std::string_view method;   // case-sensitive token, compare with Message::method()
    bool operator==(const CSeq&) const = default;
};

Result<CSeq> parse_cseq(std::string_view value);

// Call-ID = word [ "@" word ]
Result<std::string_view> parse_call_id(std::string_view value);

// delta-seconds up to 2^32-1 (Expires header, expires parameter).
Result<std::uint32_t> parse_expires(std::string_view value);

// 0..255 (RFC 3261 20.22).
Result<std::uint32_t> parse_max_forwards(std::string_view value);

// Content-Length, at most `max` (a longer body could not fit in a message anyway).
Result<std::size_t> parse_content_length(std::string_view value, std::size_t max);

// q-value 0..1 with up to three decimals, in thousandths: "0.1" -> 100, "1" -> 1000.
Result<std::uint16_t> parse_qvalue(std::string_view value);

// option-tag lists (Require, Proxy-Require, Supported, Unsupported): comma-separated tokens;
// an empty value is an empty list.
Result<std::vector<std::string_view>> parse_option_tags(std::string_view value);

// A port number 1..65535 (0 is not a port one can send to).
Result<std::uint16_t> parse_port(std::string_view digits, std::string_view what);

}  // namespace pcscf::sip
