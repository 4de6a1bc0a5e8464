#pragma once
// name-addr / addr-spec with header parameters (From, To, Contact, Route, Record-Route, Path,
// Service-Route, P-Associated-URI, P-Asserted-Identity) and lists of them.

#include <string_view>
#include <vector>

#include "sip/error.hpp"
#include "sip/params.hpp"
#include "sip/uri.hpp"

namespace pcscf::sip {

struct NameAddr {
    std::string_view text;          // the whole list element
    std::string_view display_name;  // inside the quotes when quoted (escapes not decoded)
    bool display_quoted = false;
    bool angle_brackets = false;  // written as <URI>
    Uri uri;
    Params params;  // header parameters: tag, expires, q, +sip.instance, ...

    std::string_view tag() const noexcept {
        const auto* p = find_param(params, "tag");
        return p ? p->value : std::string_view{};
    }
};

enum class AddrForm : bool {
    any,            // name-addr or addr-spec (From, To, Contact)
    name_addr_only  // <URI> required (Route, Record-Route, Path, Service-Route, P-Associated-URI)
};

// One element. In addr-spec form, ';' parameters belong to the header, not the URI, and the
// URI may not contain '?' (RFC 3261 20: such a URI must be written in <>).
Result<NameAddr> parse_name_addr(std::string_view element, AddrForm form = AddrForm::any);

// A comma-separated list of them (at most limits::max_list).
Result<std::vector<NameAddr>> parse_name_addr_list(std::string_view value, AddrForm form);

struct ContactList {
    bool star = false;  // "Contact: *" (de-register all)
    std::vector<NameAddr> contacts;
};

// Contact: "*" or a list; expires must be delta-seconds and q a q-value where present.
Result<ContactList> parse_contact_list(std::string_view value);

}  // namespace pcscf::sip
