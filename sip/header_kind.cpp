#include "sip/header_kind.hpp"

#include <array>

#include "sip/text.hpp"

namespace pcscf::sip {

namespace {

struct Entry {
    std::string_view name;
    char compact;
    HeaderKind kind;
};

constexpr std::array entries = {
#define PCSCF_SIP_ENTRY(e, name, compact) Entry{name, compact, HeaderKind::e},
    PCSCF_SIP_HEADER_KINDS(PCSCF_SIP_ENTRY)
#undef PCSCF_SIP_ENTRY
};

}  // namespace

HeaderKind header_kind(std::string_view name) noexcept {
    if (name.size() == 1) {
        const char c = static_cast<char>(name[0] | 0x20);
        for (const auto& e : entries)
            if (e.compact == c) return e.kind;
        return HeaderKind::other;
    }
    for (const auto& e : entries)  // ~55 entries; the length test rejects nearly all at once
        if (e.name.size() == name.size() && text::iequals(e.name, name)) return e.kind;
    return HeaderKind::other;
}

std::string_view header_name(HeaderKind kind) noexcept {
    const auto i = static_cast<std::size_t>(kind);
    return i == 0 || i > entries.size() ? std::string_view{} : entries[i - 1].name;
}

}  // namespace pcscf::sip
