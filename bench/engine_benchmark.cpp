// ESP engine throughput on one core, against two baselines measured in the same run on
// the same buffers: the hash-only ceiling (IPsec-MB multi-buffer HMAC and nothing else)
// and a single-buffer HMAC per packet (OpenSSL, keyed states precomputed, as the kernel
// does). Inbound and outbound, both algorithms, 64 / 512 / 1400-byte packets, bursts of
// 32, with 1 SA and with 1,000,000 SAs. Ends with a table of ratios.
//
//   build/bench/engine_benchmark [--sas=1000000] [--rounds=3] [--quick] [gbench flags]
#include <benchmark/benchmark.h>
#include <intel-ipsec-mb.h>
#include <rte_cycles.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "bench/bench_args.hpp"
#include "bench/bench_eal.hpp"
#include "bench/engine_workload.hpp"
#include "bench/ratio_report.hpp"
#include "bench/single_buffer_hmac.hpp"

namespace pcscf::bench {
namespace {

using namespace pcscf::esp;
using namespace pcscf::net;

constexpr uint32_t kBurst = 32;
constexpr uint32_t kPackets = 16384;  // ring of distinct packets per workload

uint32_t g_many_sas = 1'000'000;

// One workload alive at a time: benchmarks are registered grouped by workload.
EngineWorkload& workload(Alg alg, uint32_t size, uint32_t sas) {
    static std::unique_ptr<EngineWorkload> cur;
    static std::tuple<Alg, uint32_t, uint32_t> key{};
    if (!cur || key != std::tuple{alg, size, sas}) {
        cur.reset();
        cur = std::make_unique<EngineWorkload>(alg, size, sas, kPackets);
        key = {alg, size, sas};
    }
    return *cur;
}

void finish(benchmark::State& state, uint64_t packets) {
    state.SetItemsProcessed(int64_t(packets));
    state.counters["cycles/pkt"] = benchmark::Counter(double(packets) / double(rte_get_tsc_hz()),
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// The ring wrapped: start over with cold caches, as every variant does (and, given the
// workload, its ESP packets sealed again with the next sequence numbers).
void wrap(benchmark::State& state, size_t& pos, EngineWorkload* reseal = nullptr) {
    state.PauseTiming();
    if (reseal != nullptr) reseal->next_inbound_pass();
    EngineWorkload::evict_caches();
    pos = 0;
    state.ResumeTiming();
}

// Engine::inbound() or outbound() on the ring, a burst at a time.
void bm_engine(benchmark::State& state, Direction dir, Alg alg, uint32_t size, uint32_t sas) {
    EngineWorkload& w = workload(alg, size, sas);
    const bool in = dir == Direction::inbound;
    auto& ring = in ? w.inbound() : w.outbound();
    rte_mbuf* burst[kBurst];
    net::DropReason why[kBurst];
    size_t pos = 0;
    uint64_t packets = 0;
    for (auto _ : state) {
        if (pos + kBurst > ring.size()) wrap(state, pos, in ? &w : nullptr);
        const uint16_t good = w.process(dir, {&ring[pos], kBurst}, burst, why);
        if (good != kBurst) {
            state.SkipWithError(
                (std::string(in ? "inbound" : "outbound") + " dropped: " + std::string(name(why[good]))).c_str());
            break;
        }
        pos += kBurst;
        packets += kBurst;
    }
    if (in) w.next_inbound_pass();  // the next benchmark starts at the ring's start
    finish(state, packets);
}

// The ceiling: the same HMACs over the same bytes, straight into IPsec-MB.
void bm_hash_only(benchmark::State& state, Alg alg, uint32_t size, uint32_t sas) {
    EngineWorkload& w = workload(alg, size, sas);
    auto& ring = w.inbound();
    IMB_JOB jobs[kBurst];
    std::memset(jobs, 0, sizeof jobs);
    alignas(16) uint8_t tags[kBurst][16];
    size_t pos = 0;
    uint64_t packets = 0;
    for (auto _ : state) {
        if (pos + kBurst > ring.size()) wrap(state, pos);
        w.hash_only({&ring[pos], kBurst}, jobs, tags);
        benchmark::DoNotOptimize(tags);
        pos += kBurst;
        packets += kBurst;
    }
    finish(state, packets);
}

// One HMAC per packet, OpenSSL, keyed states precomputed (see single_buffer_hmac.hpp).
void bm_single_buffer(benchmark::State& state, Alg alg, uint32_t size, uint32_t sas) {
    EngineWorkload& w = workload(alg, size, sas);
    const std::vector<uint8_t> key(key_len(alg), 0x5a);
    const SingleBufferHmac hmac(alg, key);
    auto& ring = w.inbound();
    uint8_t tag[kIcvLen];
    size_t pos = 0;
    uint64_t packets = 0;
    for (auto _ : state) {
        if (pos + kBurst > ring.size()) wrap(state, pos);
        for (uint32_t k = 0; k < kBurst; ++k) {
            hmac.icv(ring[pos + k].esp, ring[pos + k].esp_len, tag);
            benchmark::DoNotOptimize(tag);
        }
        pos += kBurst;
        packets += kBurst;
    }
    finish(state, packets);
}

std::string label(Alg alg) { return alg == Alg::hmac_sha1_96 ? "sha1" : "md5"; }

// Each workload's benchmarks run `rounds` times in turn (engine, ceiling, baseline,
// engine, ...), so slow drifts of a shared machine hit all of them alike; the report
// takes the median of the rounds.
void register_all(bool quick, int rounds) {
    const std::vector<uint32_t> sizes = quick ? std::vector<uint32_t>{512} : std::vector<uint32_t>{64, 512, 1400};
    for (uint32_t sas : {1u, g_many_sas}) {
        for (Alg alg : {Alg::hmac_sha1_96, Alg::hmac_md5_96}) {
            for (uint32_t size : sizes)
                for (int round = 0; round < rounds; ++round) {
                    const std::string suffix =
                        "/" + label(alg) + "/" + std::to_string(size) + "B/" + std::to_string(sas) + "sa";
                    benchmark::RegisterBenchmark(("inbound" + suffix).c_str(), bm_engine, Direction::inbound, alg, size,
                                                 sas);
                    benchmark::RegisterBenchmark(("outbound" + suffix).c_str(), bm_engine, Direction::outbound, alg,
                                                 size, sas);
                    benchmark::RegisterBenchmark(("hash_only" + suffix).c_str(), bm_hash_only, alg, size, sas);
                    if (sas == 1)
                        benchmark::RegisterBenchmark(("single_buffer" + suffix).c_str(), bm_single_buffer, alg, size,
                                                     sas);
                }
        }
    }
}

}  // namespace
}  // namespace pcscf::bench

int main(int argc, char** argv) {
    using namespace pcscf::bench;
    bool quick = false;
    int rounds = 3;
    std::vector<char*> rest = {argv[0]};
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--quick") quick = true;
        else if (a.rfind("--rounds=", 0) == 0) rounds = std::max(1, number_arg<int>("--rounds", a.substr(9)));
        else if (a.rfind("--sas=", 0) == 0) g_many_sas = number_arg<uint32_t>("--sas", a.substr(6));
        else rest.push_back(argv[i]);
    }
    int n = int(rest.size());
    benchmark::Initialize(&n, rest.data());
    // What neither we nor Google Benchmark took is a typo: say so rather than ignore it.
    if (benchmark::ReportUnrecognizedArguments(n, rest.data())) return 2;
    bool huge = false;
    if (!start_eal(argv[0], "0", {}, &huge)) return 2;
    std::printf("memory: %s\n", huge ? "hugepages" : "anonymous 4 KiB pages (--no-huge)");
    register_all(quick, rounds);
    RatioReporter reporter(g_many_sas);
    benchmark::RunSpecifiedBenchmarks(&reporter);
    reporter.print_summary();
    benchmark::Shutdown();
    return 0;
}
