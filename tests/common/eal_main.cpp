// GoogleTest main for tests that need DPDK: EAL without hugepages, PCI or shared config
// (DPDK 22.11 refuses --no-huge with --in-memory), so test programs run in parallel.
#include <gtest/gtest.h>
#include <rte_eal.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    testing::InitGoogleTest(&argc, argv);
    std::vector<std::string> args = {argv[0], "--no-huge", "--no-shconf", "--no-pci",
                                      "--no-telemetry", "-m", "2048", "-l", "0",
                                      "--file-prefix=pcscf_test_" + std::to_string(getpid()),
                                      "--log-level=*:error"};
    std::vector<char*> eal_argv;
    for (auto& a : args) eal_argv.push_back(a.data());
    if (rte_eal_init(int(eal_argv.size()), eal_argv.data()) < 0) {
        std::fprintf(stderr, "rte_eal_init failed\n");
        return 2;
    }
    const int rc = RUN_ALL_TESTS();
    const std::string runtime_dir = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    std::error_code ec;
    std::filesystem::remove_all(runtime_dir, ec);  // EAL leaves it behind: one per run otherwise
    return rc;
}
