#pragma once
// Header parameters: *( SEMI generic-param ) after a Via, a name-addr or a mechanism.

#include <string>
#include <string_view>
#include <vector>

#include "sip/error.hpp"
#include "sip/text.hpp"

namespace pcscf::sip {

struct Param {
    std::string_view name;
    std::string_view value;  // without the quotes; empty when !has_value
    bool has_value = false;
    bool quoted = false;
};

using Params = std::vector<Param>;

// Case-insensitive lookup by name; nullptr when absent.
const Param* find_param(const Params& params, std::string_view name) noexcept;

// Parses *( SEMI name [EQUAL value] ) where value is a token, a host or a quoted string.
// Stops at the end of the text or before anything that is not a ';' (left for the caller).
// Rejects empty names (";;"), '=' without a value, duplicates and more than max_params.
Result<void> parse_params(text::Cursor& cursor, Params& out, std::string_view what);

// gen-value = token / host / quoted-string (the quotes included): what may follow "name=".
bool is_param_value(std::string_view value);

// Renders a parameter as it would be written: name, name=value or name="value".
std::string format_param(std::string_view name, std::string_view value, bool has_value, bool quoted);

}  // namespace pcscf::sip
