#pragma once
// EAL start-up for benchmark programs: hugepages when reserved (the deployment case),
// otherwise anonymous memory (--no-huge), which is what a shared CI machine has.
#include <rte_eal.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace pcscf::bench {

// The machine's load (1 and 5 minutes): benchmarks that need both CPUs print it, since
// anything else running costs them far more than it costs a one-core benchmark.
inline std::string loadavg() {
    std::ifstream f("/proc/loadavg");
    std::string one, five;
    f >> one >> five;
    return one + " " + five;
}

inline bool hugepages_reserved() {
    std::ifstream f("/proc/sys/vm/nr_hugepages");
    long n = 0;
    f >> n;
    return n > 0;
}

// Starts EAL on lcores `lcores`; extra arguments (vdevs) are appended. Returns false on error.
// `no_huge` uses anonymous memory even where hugepages are reserved.
inline bool start_eal(const char* prog, const std::string& lcores,
                      const std::vector<std::string>& extra = {}, bool* huge = nullptr,
                      bool no_huge = false) {
    std::vector<std::string> args = {prog, "-l", lcores, "--no-pci", "--no-telemetry",
                                     "--log-level=*:error",
                                     "--file-prefix=pcscf_bench_" + std::to_string(getpid())};
    const bool use_huge = !no_huge && hugepages_reserved();
    if (use_huge) args.insert(args.end(), {"--in-memory"});
    else args.insert(args.end(), {"--no-huge", "--no-shconf", "-m", "6144"});
    args.insert(args.end(), extra.begin(), extra.end());
    if (huge != nullptr) *huge = use_huge;
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    if (rte_eal_init(int(argv.size()), argv.data()) < 0) {
        std::fprintf(stderr, "rte_eal_init failed\n");
        return false;
    }
    // EAL leaves its runtime folder (/var/run/dpdk/<prefix>) behind: one per run otherwise.
    static const std::string runtime_dir = rte_eal_get_runtime_dir();
    std::atexit([] {
        std::error_code ec;
        std::filesystem::remove_all(runtime_dir, ec);
    });
    return true;
}

}  // namespace pcscf::bench
