#pragma once
// Every size the parser accepts is bounded; inputs beyond these are rejected with an error.

#include <cstddef>

namespace pcscf::sip {

struct Limits {
    std::size_t max_message = 65535;  // whole message; a UDP datagram cannot be larger
    std::size_t max_headers = 256;    // header fields in one message
    std::size_t max_field = 8192;     // one header field (folded lines included) or start line
};

namespace limits {
inline constexpr std::size_t max_params = 64;      // parameters on one value (Via, Contact, ...)
inline constexpr std::size_t max_list = 64;        // values of one kind (Via hops, Route, tags)
inline constexpr std::size_t max_mechanisms = 16;  // Security-Client/-Server/-Verify entries
}  // namespace limits

}  // namespace pcscf::sip
