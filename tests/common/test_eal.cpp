#include "tests/common/test_eal.hpp"

#include <rte_eal.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

namespace pcscf::test {

bool start_test_eal(const char* prog, const char* prefix, unsigned memory_mb) {
    std::vector<std::string> args = {prog,
                                     "--no-huge",
                                     "--no-shconf",
                                     "--no-pci",
                                     "--no-telemetry",
                                     "-m",
                                     std::to_string(memory_mb),
                                     "-l",
                                     "0",
                                     "--file-prefix=" + std::string(prefix) + "_" + std::to_string(getpid()),
                                     "--log-level=*:error"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return rte_eal_init(int(argv.size()), argv.data()) >= 0;
}

void stop_test_eal() {
    const std::string runtime_dir = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    std::error_code ec;
    std::filesystem::remove_all(runtime_dir, ec);
}

}  // namespace pcscf::test
