// Packets handed from one worker to another, the two on different CPUs: ns per packet of
// pcscf-espd's handoff (WorkerRings: a single-producer ring per pair of workers, a burst's
// packets for one owner in one enqueue) against one multi-producer enqueue per packet (the
// shape of a handoff shared by all producers), measured in the same run, rounds taking
// turns. Each run hands --packets pointers in bursts of --burst and ends when the other
// CPU has taken them all, in order (checked). The pointers are never dereferenced: the
// cost is the rings' and the lines they move between the CPUs.
//
//   build/bench/handoff_benchmark [--packets=N] [--rounds=N] [--burst=N] [--no-huge]
#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_pause.h>
#include <rte_ring.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/bench_args.hpp"
#include "bench/bench_eal.hpp"
#include "bench/spread.hpp"
#include "dataplane/service/rings.hpp"
#include "dataplane/service/service_config.hpp"

namespace pcscf::bench {
namespace {

struct Options {
    uint32_t packets = 4'000'000;
    int rounds = 7;
    uint32_t burst = 32;
    bool no_huge = false;
};

// What the taking CPU runs: takes until `n` pointers came, checking each is the next.
struct Taker {
    std::atomic<int> go{0};      // run number to start; -1: exit
    std::atomic<int> done{0};    // run number finished
    std::atomic<bool> ok{true};  // every pointer came once, in order
    uint32_t n = 0;
    bool per_packet = false;  // which ring to take from
    rte_ring* reference = nullptr;
    dp::WorkerRings* ours = nullptr;
};

int take_main(void* arg) {
    auto& t = *static_cast<Taker*>(arg);
    rte_mbuf* got[dp::kMaxBurst];
    for (int run = 1;; ++run) {
        int g;
        while ((g = t.go.load(std::memory_order_acquire)) != run && g >= 0) rte_pause();
        if (g < 0) return 0;
        uintptr_t next = 1;
        for (uint32_t taken = 0; taken < t.n;) {
            const uint32_t k = t.per_packet ? rte_ring_sc_dequeue_burst(t.reference, reinterpret_cast<void**>(got),
                                                                        dp::kMaxBurst, nullptr)
                                            : t.ours->take_handed_esp(got);
            for (uint32_t i = 0; i < k; ++i)
                if (reinterpret_cast<uintptr_t>(got[i]) != next++) t.ok.store(false);
            taken += k;
        }
        t.done.store(run, std::memory_order_release);
    }
}

// One run: hands `n` pointers, `burst` at a time, as a worker hands a received burst's
// packets; returns ns per packet until the other CPU has taken the last.
double hand(Taker& t, int run, bool per_packet, uint32_t burst, dp::WorkerRings& from, const Options& o) {
    std::vector<rte_mbuf*> p(burst);
    t.per_packet = per_packet;
    t.n = o.packets;
    t.go.store(run, std::memory_order_release);
    const uint64_t start = rte_rdtsc();
    uintptr_t next = 1;
    for (uint32_t sent = 0; sent < o.packets;) {
        const uint32_t k = std::min(burst, o.packets - sent);
        for (uint32_t i = 0; i < k; ++i) p[i] = reinterpret_cast<rte_mbuf*>(next++);
        if (per_packet) {
            for (uint32_t i = 0; i < k; ++i)
                while (rte_ring_mp_enqueue(t.reference, p[i]) != 0) rte_pause();  // full: the taker drains
        } else {
            for (uint32_t i = 0; i < k;) {
                const uint32_t h = from.hand_esp(1, {p.data() + i, k - i});
                if (h == 0) rte_pause();
                i += h;
            }
        }
        sent += k;
    }
    while (t.done.load(std::memory_order_acquire) != run) rte_pause();
    return double(rte_rdtsc() - start) * 1e9 / double(rte_get_tsc_hz()) / o.packets;
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (const char* v = option_value(a, "--packets=")) o.packets = number_arg<uint32_t>(a, v);
        else if (const char* v = option_value(a, "--rounds=")) o.rounds = number_arg<int>(a, v);
        else if (const char* v = option_value(a, "--burst=")) o.burst = number_arg<uint32_t>(a, v);
        else if (a == "--no-huge") o.no_huge = true;
        else {
            std::fprintf(stderr,
                         "unknown or bad option %s\nusage: handoff_benchmark [--packets=N] [--rounds=N] "
                         "[--burst=1..%u] [--no-huge]\n",
                         argv[i], dp::kMaxBurst);
            std::exit(2);
        }
    }
    if (o.packets == 0 || o.rounds < 1 || o.burst == 0 || o.burst > dp::kMaxBurst) {
        std::fprintf(stderr, "--packets and --rounds take at least 1, --burst 1..%u\n", dp::kMaxBurst);
        std::exit(2);
    }
    return o;
}

}  // namespace
}  // namespace pcscf::bench

int main(int argc, char** argv) {
    using namespace pcscf;
    using namespace pcscf::bench;
    const Options o = parse(argc, argv);
    const RunTimer timer;
    bool huge = false;
    const unsigned lcore = start_eal_two_lcores(argv[0], o.no_huge, &huge);
    if (lcore >= RTE_MAX_LCORE) return 2;
    auto rings = dp::Rings::create(2, dp::RingSizes{}, SOCKET_ID_ANY);
    if (!rings) {
        std::fprintf(stderr, "%s\n", rings.error().c_str());
        return 1;
    }
    // The reference: one ring all producers share (multi-producer), the same size.
    rte_ring* shared = rte_ring_create("handoff_mp", dp::RingSizes{}.handoff, SOCKET_ID_ANY, RING_F_SC_DEQ);
    if (shared == nullptr) return 1;
    dp::WorkerRings from = (*rings)->worker(0), to = (*rings)->worker(1);
    Taker t;
    t.reference = shared;
    t.ours = &to;
    rte_eal_remote_launch(take_main, &t, lcore);

    std::printf("memory: %s; %s packets a run, bursts of %u, %d rounds; load average %s\n",
                huge ? "hugepages" : "anonymous 4 KiB pages", count(o.packets).c_str(), o.burst, o.rounds,
                timer.load_at_start().c_str());
    std::vector<double> ours, per_packet;
    int run = 0;
    for (int r = 0; r < o.rounds; ++r)
        for (int k = 0; k < 2; ++k) {  // the order alternates between rounds
            const bool pp = (r + k) % 2 == 1;
            (pp ? per_packet : ours).push_back(hand(t, ++run, pp, o.burst, from, o));
        }
    t.go.store(-1, std::memory_order_release);
    rte_eal_wait_lcore(lcore);
    rte_ring_free(shared);
    if (!t.ok.load()) {
        std::fprintf(stderr, "a pointer was lost, doubled or reordered\n");
        return 1;
    }
    const Spread a = spread(ours), b = spread(per_packet), gain = ratio(per_packet, ours);
    std::printf("\nns per packet handed, min / median / max over the rounds\n");
    std::printf("  %-52s %6.1f %6.1f %6.1f\n", "one enqueue a burst, single-producer ring (pcscf-espd)", a.min,
                a.median, a.max);
    std::printf("  %-52s %6.1f %6.1f %6.1f\n", "one enqueue a packet, multi-producer ring", b.min, b.median, b.max);
    std::printf("per packet / per burst, round by round: %.2f [%.2f-%.2f]\n", gain.median, gain.min, gain.max);
    timer.print_total();
    return 0;
}
