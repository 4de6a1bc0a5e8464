// GoogleTest main for tests that need DPDK (EAL as test_eal.hpp starts it).
#include <gtest/gtest.h>

#include <cstdio>

#include "tests/common/test_eal.hpp"

int main(int argc, char** argv) {
    testing::InitGoogleTest(&argc, argv);
    if (!pcscf::test::start_test_eal(argv[0], "pcscf_test", 2048)) {
        std::fprintf(stderr, "rte_eal_init failed\n");
        return 2;
    }
    const int rc = RUN_ALL_TESTS();
    pcscf::test::stop_test_eal();
    return rc;
}
