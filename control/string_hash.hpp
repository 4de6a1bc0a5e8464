#pragma once
// A hash for unordered maps keyed by std::string that can be searched with a string_view
// (with std::equal_to<>), so a lookup by a view into a received message copies nothing.
#include <cstddef>
#include <functional>
#include <string_view>

namespace pcscf::ctl {

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

}  // namespace pcscf::ctl
