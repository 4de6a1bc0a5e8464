// The memory system under the benchmarks (docs/performance.md, "Scale"): dependent reads of
// random cache lines spread over 16 MiB to 1 GiB, on 2 MiB hugepages and on 4 KiB pages,
// interleaved in the same run. Every read misses the caches; what grows with the size is
// the number of pages the TLB would have to hold.
//
// Where hugepages are large end to end (bare metal, or a VM whose host backs its memory with
// large pages) 1 GiB is 512 TLB entries: hugepage reads cost the same at 1 GiB as at 256 MiB,
// and less than 4 KiB-page reads. Where the host backs the VM with 4 KiB pages the TLB holds
// 4 KiB translations whatever the guest maps: both columns cost about the same and grow with
// the size. Then every packet whose SA sits in a table of a million SAs pays a page walk for
// it, which the engine's prefetches do not hide (see sa_scale_benchmark). The program prints
// the two ratios and its reading of them.
//
// Then one cache line passed back and forth between CPUs 0 and 1: what each line costs that
// one CPU writes and another reads, as every frame's mbuf and headers do between the NIC
// side and the worker in pipeline_benchmark (tens of ns within a core complex on bare metal).
//
//   build-release/bench/memory_latency [--quick] [--max-mib=1024] [--reads=2097152] [--rounds=3]
//   --quick: one round of 262,144 reads per size, about 10 s
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_args.hpp"
#include "bench/line_transfer.hpp"
#include "bench/spread.hpp"

namespace pcscf::bench {
namespace {

constexpr size_t kMiB = size_t(1) << 20;
constexpr size_t kLine = 64;

struct Options {
    size_t max_mib = 1024;
    size_t reads = size_t(1) << 21;
    int rounds = 3;
};

[[noreturn]] void usage(const char* bad) {
    std::fprintf(stderr,
                 "unknown or bad option %s\nusage: memory_latency [--quick] "
                 "[--max-mib=16..65536] [--reads=N] [--rounds=N]\n",
                 bad);
    std::exit(2);
}

size_t number(const char* arg, const char* text, size_t lo, size_t hi) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(text, &end, 10);
    if (end == text || *end != '\0' || v < lo || v > hi) usage(arg);
    return size_t(v);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick") {
            o.reads = size_t(1) << 18;
            o.rounds = 1;
        } else if (const char* v = option_value(a, "--max-mib=")) {
            o.max_mib = number(argv[i], v, 16, 65536);
        } else if (const char* v = option_value(a, "--reads=")) {
            o.reads = number(argv[i], v, 1024, size_t(1) << 30);
        } else if (const char* v = option_value(a, "--rounds=")) {
            o.rounds = int(number(argv[i], v, 1, 100));
        } else {
            usage(argv[i]);
        }
    }
    return o;
}

// `bytes` of anonymous memory on 2 MiB hugepages or on 4 KiB pages (transparent hugepages
// refused), every page touched; nullptr if the system has not that many hugepages free.
uint8_t* map(size_t bytes, bool huge) {
    const int flags = MAP_PRIVATE | MAP_ANONYMOUS | (huge ? MAP_HUGETLB : 0);
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    if (!huge) madvise(p, bytes, MADV_NOHUGEPAGE);
    std::memset(p, 0, bytes);
    return static_cast<uint8_t*>(p);
}

// Nanoseconds per read of a chain through `reads` distinct random lines of the first
// `region` bytes of `mem`: each read gives the next line's offset, so they cannot overlap.
double chase(uint8_t* mem, size_t region, size_t reads, std::mt19937_64& rng) {
    std::vector<uint32_t> line(region / kLine);
    for (size_t i = 0; i < line.size(); ++i) line[i] = uint32_t(i);
    std::shuffle(line.begin(), line.end(), rng);
    const size_t n = std::min(reads, line.size());
    for (size_t i = 0; i < n; ++i) {
        const uint64_t next = uint64_t(line[(i + 1) % n]) * kLine;
        std::memcpy(mem + size_t(line[i]) * kLine, &next, 8);
    }
    uint64_t at = uint64_t(line[0]) * kLine;
    const auto walk = [&] {
        for (size_t i = 0; i < n; ++i) std::memcpy(&at, mem + at, 8);
    };
    walk();  // untimed: the timed pass finds the caches and the page-walk caches as a long run has them
    const auto t0 = std::chrono::steady_clock::now();
    walk();
    const auto t1 = std::chrono::steady_clock::now();
    asm volatile("" ::"r"(at));
    return std::chrono::duration<double, std::nano>(t1 - t0).count() / double(n);
}

double median(const std::vector<double>& v) { return spread(v).median; }

}  // namespace
}  // namespace pcscf::bench

int main(int argc, char** argv) {
    using namespace pcscf::bench;
    const Options o = parse(argc, argv);
    const size_t max_bytes = o.max_mib * kMiB;
    // The 4 KiB-page buffer is touched in full: more than half the free memory would bring
    // in the OOM killer rather than an error.
    const size_t free_bytes = size_t(sysconf(_SC_AVPHYS_PAGES)) * size_t(sysconf(_SC_PAGESIZE));
    if (max_bytes > free_bytes / 2) {
        std::fprintf(stderr, "--max-mib=%zu: only %zu MiB of memory free; at most half of it\n", o.max_mib,
                     free_bytes / kMiB);
        return 2;
    }
    uint8_t* small = map(max_bytes, false);
    if (small == nullptr) {
        std::fprintf(stderr, "cannot map %zu MiB of memory: %s\n", o.max_mib, std::strerror(errno));
        return 1;
    }
    size_t huge_bytes = max_bytes;  // as much of it as the free hugepages hold
    uint8_t* huge = map(huge_bytes, true);
    while (huge == nullptr && huge_bytes / 2 >= 16 * kMiB) {
        huge_bytes /= 2;
        huge = map(huge_bytes, true);
    }
    if (huge == nullptr)
        std::printf(
            "note: no 2 MiB hugepages free (echo 512 > /proc/sys/vm/nr_hugepages): "
            "4 KiB pages only\n");
    if (huge != nullptr && huge_bytes < max_bytes)
        std::printf("note: hugepages for %zu MiB only; larger sizes on 4 KiB pages only\n", huge_bytes / kMiB);

    std::vector<size_t> sizes;
    for (size_t s = 16 * kMiB; s <= max_bytes; s *= 4) sizes.push_back(s);
    if (sizes.back() != max_bytes) sizes.push_back(max_bytes);

    std::mt19937_64 rng(1);
    std::vector<std::vector<double>> on_huge(sizes.size()), on_small(sizes.size());
    for (int r = 0; r < o.rounds; ++r)
        for (size_t k = 0; k < sizes.size(); ++k) {
            // Alternate which page size goes first, so a drift of the machine hits both.
            const bool huge_first = (r + k) % 2 == 0;
            const bool have_huge = huge != nullptr && sizes[k] <= huge_bytes;
            if (huge_first && have_huge) on_huge[k].push_back(chase(huge, sizes[k], o.reads, rng));
            on_small[k].push_back(chase(small, sizes[k], o.reads, rng));
            if (!huge_first && have_huge) on_huge[k].push_back(chase(huge, sizes[k], o.reads, rng));
        }

    std::printf("Dependent reads of random cache lines, ns per read (median of %d rounds)\n", o.rounds);
    std::printf("%10s %14s %14s %18s\n", "MiB", "2 MiB pages", "4 KiB pages", "2 MiB / 4 KiB");
    for (size_t k = 0; k < sizes.size(); ++k) {
        const double s = median(on_small[k]);
        if (on_huge[k].empty()) {
            std::printf("%10zu %14s %14.1f %18s\n", sizes[k] / kMiB, "-", s, "-");
            continue;
        }
        const double h = median(on_huge[k]);
        std::printf("%10zu %14.1f %14.1f %18.2f\n", sizes[k] / kMiB, h, s, h / s);
    }
    // From 256 MiB on every read misses any cache (the largest L3 slices are 96 MiB), so
    // with large translations the hugepage column is flat from 256 MiB to 1 GiB (512 TLB
    // entries); with 4 KiB ones it grows, as the page walks' own lines stop fitting too.
    size_t k256 = sizes.size(), k1g = sizes.size();
    for (size_t k = 0; k < sizes.size(); ++k) {
        if (sizes[k] == 256 * kMiB && !on_huge[k].empty()) k256 = k;
        if (sizes[k] == 1024 * kMiB && !on_huge[k].empty()) k1g = k;
    }
    if (k256 == sizes.size() || k1g == sizes.size()) {
        std::printf("\n(a reading needs 2 MiB pages for 1024 MiB: --max-mib=1024 and 512 hugepages)\n");
    } else {
        const double growth = median(on_huge[k1g]) / median(on_huge[k256]);
        const double vs_small = median(on_huge[k1g]) / median(on_small[k1g]);
        std::printf("\n2 MiB pages, 1024 MiB / 256 MiB: %.2f; 2 MiB / 4 KiB pages at 1024 MiB: %.2f\n", growth,
                    vs_small);
        std::printf("%s\n", growth > 1.3 && vs_small > 0.8
                                ? "reading: 2 MiB pages grow with the size and cost as much as 4 KiB pages: "
                                  "the TLB holds 4 KiB translations (likely a host backing this VM with 4 KiB pages)"
                            : growth < 1.2 ? "reading: 2 MiB pages stay flat: large translations end to end"
                                           : "reading: unclear; run again on a quieter machine");
    }

    std::vector<double> transfers;
    for (int r = 0; r < o.rounds; ++r) {
        const double ns = transfer_ns(0, 1, o.reads / 4);
        if (ns < 0) break;
        transfers.push_back(ns);
    }
    if (transfers.empty()) std::printf("\nline transfer between CPUs: not measured (CPUs 0 and 1 not both usable)\n");
    else
        std::printf("\nline transfer between CPU 0 and CPU 1: %.1f ns one way (median of %zu)\n", median(transfers),
                    transfers.size());
    munmap(small, max_bytes);
    if (huge != nullptr) munmap(huge, huge_bytes);
    return 0;
}
