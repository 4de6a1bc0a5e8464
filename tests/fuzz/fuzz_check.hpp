#pragma once
// A fuzz target's property check: on failure it says which property broke and traps, which
// libFuzzer reports as a crash (keeping the input) and the replay test as a failed test.
#include <cstdio>

namespace pcscf::fuzz {

inline void require(bool property, const char* what) {
    if (property) return;
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    __builtin_trap();
}

}  // namespace pcscf::fuzz
