#include "tests/fuzz/fuzz_eal.hpp"

#include <cstdio>
#include <cstdlib>

#include "tests/common/test_eal.hpp"

namespace pcscf::fuzz {

void start_eal() {
    static const bool started = [] {
        if (!test::start_test_eal("fuzz", "pcscf_fuzz", 512)) {
            std::fprintf(stderr, "rte_eal_init failed\n");
            std::abort();
        }
        std::atexit(test::stop_test_eal);
        return true;
    }();
    (void)started;
}

}  // namespace pcscf::fuzz
