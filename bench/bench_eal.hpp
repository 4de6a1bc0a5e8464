#pragma once
// EAL start-up for benchmark programs: hugepages when reserved (the deployment case),
// otherwise anonymous memory (--no-huge), which is what a shared CI machine has.
#include <rte_eal.h>
#include <rte_lcore.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <sys/resource.h>
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

// How often this thread lost its CPU to another task (involuntary context switches): a
// pass during which it was preempted measures the machine's other load, not the code.
inline uint64_t preemptions_of_self() noexcept {
    rusage u{};
    getrusage(RUSAGE_THREAD, &u);
    return uint64_t(u.ru_nivcsw);
}

// Bytes of default-size hugepages (2 MiB here) the kernel has free for anyone to take.
inline uint64_t free_hugepage_bytes() {
    std::ifstream f("/proc/meminfo");
    uint64_t pages = 0, kib = 0;
    for (std::string key; f >> key;) {
        uint64_t v = 0;
        f >> v;
        if (key == "HugePages_Free:") pages = v;
        if (key == "Hugepagesize:") kib = v;
        f.ignore(64, '\n');
    }
    return pages * kib * 1024;
}

// A run's wall time and the machine's load at its start, for the last line of its output.
class RunTimer {
public:
    RunTimer() : start_(std::chrono::steady_clock::now()), load_(loadavg()) {}
    const std::string& load_at_start() const noexcept { return load_; }
    void print_total() const {
        std::printf("total time %.0f s; load average (1, 5 min) at the start %s, at the end %s\n",
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(), load_.c_str(),
                    loadavg().c_str());
    }

private:
    std::chrono::steady_clock::time_point start_;
    std::string load_;
};

inline bool hugepages_reserved() {
    std::ifstream f("/proc/sys/vm/nr_hugepages");
    long n = 0;
    f >> n;
    return n > 0;
}

// Starts EAL on lcores `lcores`; extra arguments (vdevs) are appended. Returns false on error.
// `no_huge` uses anonymous memory even where hugepages are reserved.
inline bool start_eal(const char* prog, const std::string& lcores, const std::vector<std::string>& extra = {},
                      bool* huge = nullptr, bool no_huge = false) {
    std::vector<std::string> args = {prog,
                                     "-l",
                                     lcores,
                                     "--no-pci",
                                     "--no-telemetry",
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

// EAL on lcores 0-1, for the benchmarks that run a worker beside the main thread. Returns
// the worker's lcore, or RTE_MAX_LCORE (said on stderr) when EAL could not start so.
inline unsigned start_eal_two_lcores(const char* prog, bool no_huge, bool* huge) {
    if (!start_eal(prog, "0-1", {}, huge, no_huge)) return RTE_MAX_LCORE;
    const unsigned worker = rte_get_next_lcore(rte_get_main_lcore(), 1, 0);
    if (worker >= RTE_MAX_LCORE) std::fprintf(stderr, "%s: needs two lcores (-l 0-1)\n", prog);
    return worker;
}

}  // namespace pcscf::bench
