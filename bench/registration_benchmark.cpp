// Registrations per second through the sec-agree terminator, with the SA installs reaching
// a worker, and the latency it adds to each message; against the same SIP load sent
// straight to the core, measured in the same run (docs/performance.md, "Registrations").
//
// One process. The EAL main lcore is pcscf-espd's control thread: SaManager, Registrar
// and SipProxy pumped by a copy of the daemon's control loop (bench/terminator_rig.hpp).
// A real dp::Worker polls on the other lcore and applies the SA records to its ESP engine.
// A load thread (bench/sip_load.hpp), on the control thread's CPU, plays the UEs and the
// IMS core over UDP on loopback addresses: each UE registers (SM1 -> 401, SM7 -> 200) and,
// unless SAs are left to accumulate, de-registers (-> 200).
//
// Per round, each pair in alternating order:
//   register + de-register, closed loop (--concurrency UEs at a time): direct, terminator
//   register only, SAs accumulate (same):                            direct, terminator
//   register + de-register, open loop at --latency-rate per second:  direct, terminator
//   the raw SA rate: SA sets installed and removed through SaManager, no SIP
// Direct: the UEs talk to the core itself (its 401 names its own port in Security-Server),
// the baseline. Every ratio is taken within a round, then min / median / max over rounds.
// A pass through the terminator must end with every UE answered as expected and, once the
// proxy's grace period has passed, no SA and no UE left; otherwise the program says what
// went wrong and exits 1.
//
//   build-release/bench/registration_benchmark [--quick] [--rounds=5] [--seconds=3]
//       [--concurrency=32] [--latency-rate=200] [--max-ues=20000] [--raw-sets=20000]
//       [--parts=dereg,accumulate,latency,raw] [--no-huge]
#include <rte_lcore.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <sched.h>
#include <unistd.h>

#include "bench/bench_args.hpp"
#include "bench/bench_eal.hpp"
#include "bench/sip_load.hpp"
#include "bench/spread.hpp"
#include "bench/terminator_rig.hpp"

namespace pcscf::bench {
namespace {

using proxy::Endpoint;
using std::chrono::milliseconds;

struct Options {
    bool quick = false, no_huge = false;
    int rounds = 5;
    double seconds = 3;          // per closed-loop pass
    double latency_seconds = 3;  // per open-loop pass
    uint32_t concurrency = 32;
    double latency_rate = 200;
    uint64_t max_ues = 20000;  // per pass that lets SAs accumulate
    uint32_t raw_sets = 20000, raw_live = 256;
    bool dereg = true, accumulate = true, latency = true, raw = true;  // --parts
};

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "registration_benchmark: %s\n", what.c_str());
    std::exit(2);
}

std::string cpus_of_self() {
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    std::string s;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) s += (s.empty() ? "" : ",") + std::to_string(c);
    return s;
}

// ---- figures ---------------------------------------------------------------------------

double percentile(std::vector<float> v, double q) {
    if (v.empty()) return 0;
    const size_t k = std::min(v.size() - 1, size_t(q * double(v.size())));
    std::nth_element(v.begin(), v.begin() + long(k), v.end());
    return v[k];
}

// Each figure by round, under a name; printed as min / median / max.
std::map<std::string, std::vector<double>> g_fig;
std::vector<std::string> g_order;
void note(const std::string& name, double v) {
    if (!g_fig.count(name)) g_order.push_back(name);
    g_fig[name].push_back(v);
}
int g_problems = 0;

// ---- one pass --------------------------------------------------------------------------

struct Pass {
    LoadResult load;
    ServeResult serve;
    proxy::ProxyCounters before, after;
};

Pass run_pass(Terminator& t, SipLoad& load, LoadConfig c, bool through, const char* label) {
    const TerminatorConfig& tc = t.config();
    c.first_hop = through ? Endpoint{tc.access, tc.sip_port} : tc.core;
    c.protected_host = through ? tc.access : tc.core.addr;
    load.set_core_direct(!through);
    Pass p;
    p.before = t.proxy_counters();
    std::atomic<bool> finished{false};
    std::exception_ptr error;
    // The load thread inherits this thread's CPU (EAL pinned it to the main lcore's).
    std::thread th([&] {
        try {
            p.load = load.run(c);
        } catch (...) {
            error = std::current_exception();
        }
        finished.store(true);
    });
    p.serve = t.serve([&] { return load.phase(); }, [&] { return finished.load(); });
    th.join();
    if (error) std::rethrow_exception(error);
    if (through && !c.deregister) t.deregister(p.load.registered);
    const bool clean = t.settle(milliseconds(15000));
    p.after = t.proxy_counters();

    auto problem = [&](const std::string& what) {
        ++g_problems;
        std::printf("    PROBLEM (%s): %s\n", label, what.c_str());
    };
    size_t shown = 0;
    for (const auto& [why, n] : p.load.failures)
        if (++shown <= 10) problem(std::to_string(n) + " UE(s): " + why);
    if (shown > 10)
        problem(std::to_string(shown - 10) + " more reasons (" + std::to_string(p.load.failed) + " UEs failed)");
    if (through) {
        if (!clean)
            problem(std::to_string(t.sas().size()) + " SA(s) and " + std::to_string(t.registrar().ues()) +
                    " UE(s) left 15 s after the pass");
        if (const uint64_t n = p.after.refused - p.before.refused; n > 0)
            problem(std::to_string(n) + " request(s) refused by the P-CSCF");
        for (size_t i = 0; i < proxy::kProxyDropCount; ++i)
            if (const uint64_t d = p.after.dropped[i] - p.before.dropped[i]; d > 0)
                problem(std::to_string(d) +
                        " message(s) dropped by the proxy: " + std::string(proxy::kProxyDropNames[i]));
        if (p.serve.refused_by_worker > 0)
            problem(std::to_string(p.serve.refused_by_worker) + " SA record(s) refused by the worker");
    }
    if (p.load.retransmissions > 0)
        std::printf("    note (%s): %lu retransmission(s)\n", label, (unsigned long)p.load.retransmissions);
    return p;
}

// CPU per registration only for the closed loop: at a low offered rate it is mostly the
// cost of waiting (the control loop wakes every millisecond).
void print_pass(const char* label, const Pass& p, bool through, bool closed) {
    const LoadResult& l = p.load;
    const double n = double(std::max<uint64_t>(1, l.completed_in_window));
    std::printf("  %-34s %8.0f reg/s  %6lu UEs", label, l.rate(), (unsigned long)l.completed_in_window);
    if (closed) std::printf("  load cpu %5.1f us/reg", 1e6 * l.cpu_s / n);
    if (closed && through) std::printf("  control cpu %5.1f us/reg", 1e6 * p.serve.cpu_s / n);
    if (through)
        std::printf("  SAs +%lu -%lu", (unsigned long)p.serve.adds_acked, (unsigned long)p.serve.removes_acked);
    std::printf("\n");
    for (size_t s = 0; s < kSteps; ++s)
        if (!l.latency_us[s].empty())
            std::printf("      %-20s p50 %7.1f us  p99 %7.1f us  (%zu)\n", name(Step(s)),
                        percentile(l.latency_us[s], 0.5), percentile(l.latency_us[s], 0.99), l.latency_us[s].size());
    if (through && !p.serve.install_us.empty())
        std::printf(
            "      %-20s p50 %7.1f us  p99 %7.1f us  (%zu); at most %u records queued; "
            "control loop rounds %.0f us on average\n",
            "SA add -> ack", percentile(p.serve.install_us, 0.5), percentile(p.serve.install_us, 0.99),
            p.serve.install_us.size(), p.serve.max_queued,
            p.serve.iterations ? 1e6 * l.window_s / double(p.serve.iterations) : 0.0);
}

// ---- rounds ----------------------------------------------------------------------------

void round_of(const Options& o, Terminator& t, SipLoad& load, int round) {
    std::printf("round %d\n", round);
    const bool term_first = round % 2 == 0;
    for (const bool dereg : {true, false}) {
        if (!(dereg ? o.dereg : o.accumulate)) continue;
        LoadConfig c;
        c.deregister = dereg;
        c.concurrency = o.concurrency;
        c.seconds = o.seconds;
        if (!dereg) c.max_ues = o.max_ues;
        const std::string mode = dereg ? "register + de-register" : "register, SAs accumulate";
        Pass direct, through;
        for (const bool via : {term_first, !term_first}) {
            const std::string label = mode + (via ? ", terminator" : ", direct");
            Pass p = run_pass(t, load, c, via, label.c_str());
            print_pass(label.c_str(), p, via, true);
            (via ? through : direct) = std::move(p);
        }
        const std::string k = dereg ? "dereg" : "accumulate";
        const double reg = through.load.rate(), base = direct.load.rate();
        note(k + ": reg/s direct", base);
        note(k + ": reg/s terminator", reg);
        note(k + ": terminator / direct", base > 0 ? reg / base : 0);
        if (!dereg) {  // does the rate hold as registered UEs pile up?
            for (const auto* p : {&direct, &through}) {
                const double first = p->load.rate_between(0, 0.25), last = p->load.rate_between(0.75, 1);
                note(k + ": last / first quarter, " + (p == &direct ? "direct" : "terminator"),
                     first > 0 ? last / first : 0);
            }
        }
        const double w = through.load.window_s;
        // Installs acknowledged by the worker in the window; removals lag by the proxy's
        // grace period (1 s), so a short window holds fewer of them.
        note(k + ": SA installs acked /s", double(through.serve.adds_acked) / w);
        note(k + ": SA removals acked /s", double(through.serve.removes_acked) / w);
        const double regs = double(through.load.completed_in_window), regs0 = double(direct.load.completed_in_window);
        const double ctl_us = regs > 0 ? 1e6 * through.serve.cpu_s / regs : 0;
        const double load_us = regs0 > 0 ? 1e6 * direct.load.cpu_s / regs0 : 0;
        note(k + ": control cpu us/reg", ctl_us);
        note(k + ": load cpu us/reg (direct)", load_us);
        note(k + ": control / load cpu", load_us > 0 ? ctl_us / load_us : 0);
        if (!through.serve.install_us.empty()) {
            note(k + ": SA add->ack p50 us", percentile(through.serve.install_us, 0.5));
            note(k + ": SA add->ack p99 us", percentile(through.serve.install_us, 0.99));
        }
    }
    if (o.latency) {
        LoadConfig c;
        c.deregister = true;
        c.rate = o.latency_rate;
        c.seconds = o.latency_seconds;
        Pass direct, through;
        for (const bool via : {term_first, !term_first}) {
            const std::string label =
                "latency at " + std::to_string(int(o.latency_rate)) + "/s" + (via ? ", terminator" : ", direct");
            Pass p = run_pass(t, load, c, via, label.c_str());
            print_pass(label.c_str(), p, via, false);
            (via ? through : direct) = std::move(p);
        }
        for (size_t s = 0; s < kSteps; ++s) {
            const std::string k = std::string("latency ") + name(Step(s));
            for (const auto& [q, qn] : {std::pair{0.5, "p50"}, std::pair{0.99, "p99"}}) {
                const double b = percentile(direct.load.latency_us[s], q),
                             v = percentile(through.load.latency_us[s], q);
                note(k + " " + qn + " us direct", b);
                note(k + " " + qn + " us terminator", v);
                note(k + " " + qn + " us added", v - b);
            }
        }
        note("latency: reg/s offered, terminator", through.load.rate());
        // The control thread's CPU per registration at this rate, less what its loop costs
        // idle (measured in the direct pass of the same round, where no SIP reaches it).
        const double idle = direct.load.window_s > 0 ? direct.serve.cpu_s / direct.load.window_s : 0;
        if (through.load.completed_in_window > 0)
            note("latency: control cpu us/reg above idle",
                 1e6 * (through.serve.cpu_s - idle * through.load.window_s) / double(through.load.completed_in_window));
        if (!through.serve.install_us.empty()) {
            note("latency: SA add->ack p50 us", percentile(through.serve.install_us, 0.5));
            note("latency: SA add->ack p99 us", percentile(through.serve.install_us, 0.99));
        }
    }
    if (!o.raw) return;
    const RawSaResult raw = t.raw_sa_rate(o.raw_sets, o.raw_live);
    std::printf("  %-34s %8.0f records/s  (%lu records, %u sets, %u live)\n", "raw SA installs, no SIP", raw.rate(),
                (unsigned long)raw.records, o.raw_sets, o.raw_live);
    if (raw.refused > 0) {
        ++g_problems;
        std::printf("    PROBLEM: %lu raw SA record(s) refused by the worker\n", (unsigned long)raw.refused);
    }
    if (!t.settle(milliseconds(5000))) {
        ++g_problems;
        std::printf("    PROBLEM: SAs left after the raw run\n");
    }
    // Every raw install is removed again: installs per second are half the records.
    const double raw_installs = raw.rate() / 2;
    note("raw: SA installs /s (each removed again)", raw_installs);
    for (const char* k : {"dereg", "accumulate"}) {
        const auto it = g_fig.find(std::string(k) + ": SA installs acked /s");
        if (it != g_fig.end())
            note(std::string(k) + ": SA installs / raw", raw_installs > 0 ? it->second.back() / raw_installs : 0);
    }
}

void print_summary(const Options& o) {
    std::printf("\nSummary over %d round(s): min / median / max (ratios and differences taken within each round)\n",
                o.rounds);
    for (const auto& name : g_order) {
        const Spread s = spread(g_fig[name]);
        const bool ratio = name.find(" / ") != std::string::npos;
        std::printf("  %-44s %10.*f %10.*f %10.*f\n", name.c_str(), ratio ? 3 : 1, s.min, ratio ? 3 : 1, s.median,
                    ratio ? 3 : 1, s.max);
    }
    std::printf("\n%s\n", g_problems == 0 ? "every pass complete: all UEs answered as expected, no SA or UE left behind"
                                          : "PROBLEMS above: figures of those passes are not to be trusted");
}

Options parse(int argc, char** argv) {
    Options o;
    bool rounds = false, seconds = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&](const char* name) -> const char* {
            const size_t n = std::strlen(name);
            return a.compare(0, n, name) == 0 ? a.c_str() + n : nullptr;
        };
        if (a == "--quick") o.quick = true;
        else if (a == "--no-huge") o.no_huge = true;
        else if (const char* v = value("--rounds=")) {
            o.rounds = std::max(1, number_arg<int>(a, v));
            rounds = true;
        } else if (const char* v = value("--seconds=")) {
            o.seconds = o.latency_seconds = std::max(0.1, number_arg<double>(a, v));
            seconds = true;
        } else if (const char* v = value("--concurrency=")) o.concurrency = std::max(1u, number_arg<uint32_t>(a, v));
        else if (const char* v = value("--latency-rate=")) o.latency_rate = std::max(1.0, number_arg<double>(a, v));
        else if (const char* v = value("--max-ues=")) o.max_ues = std::max<uint64_t>(1, number_arg<uint64_t>(a, v));
        else if (const char* v = value("--raw-sets=")) o.raw_sets = std::max(1u, number_arg<uint32_t>(a, v));
        else if (const char* v = value("--parts=")) {
            const std::string p = v;
            o.dereg = p.find("dereg") != std::string::npos;
            o.accumulate = p.find("accumulate") != std::string::npos;
            o.latency = p.find("latency") != std::string::npos;
            o.raw = p.find("raw") != std::string::npos;
        } else {
            std::fprintf(stderr, "unknown option %s (see the top of registration_benchmark.cpp)\n", argv[i]);
            std::exit(2);
        }
    }
    if (o.quick) {  // a smoke run: one round of short passes, about 15 s
        if (!rounds) o.rounds = 1;
        if (!seconds) o.seconds = o.latency_seconds = 0.5;
        o.raw_sets = std::min(o.raw_sets, 5000u);
    }
    return o;
}

}  // namespace
}  // namespace pcscf::bench

int main(int argc, char** argv) {
    using namespace pcscf::bench;
    const RunTimer timer;
    const Options o = parse(argc, argv);
    bool huge = false;
    const unsigned worker_lcore = start_eal_two_lcores(argv[0], o.no_huge, &huge);
    if (worker_lcore >= RTE_MAX_LCORE) return 2;

    // Loopback addresses of our own (127.a.b.x, from the pid), so that concurrent runs and
    // other programs' sockets on 127.0.0.1 do not meet ours.
    const uint32_t pid = uint32_t(getpid());
    const uint32_t net = (127u << 24) | ((64 + (pid >> 8) % 128) << 16) | ((pid & 0xff) << 8);
    auto addr = [&](uint32_t host) {
        const uint32_t a = htonl(net | host);
        return pcscf::net::IpAddr::v4(&a);
    };
    TerminatorConfig tc;
    tc.access = addr(1);
    tc.sip_port = 25060;
    tc.port_ps = 25101;
    tc.port_pc = {25102, 25103, 25104};
    tc.core_local = {addr(1), 25070};
    tc.core = {addr(2), 25080};

    int rc = 0;
    try {
        auto t = Terminator::create(tc, worker_lcore);
        if (!t) fail(t.error());
        SipLoad load(tc.core, addr(10), 8, 26000, 32767);
        std::printf(
            "registration benchmark: worker on lcore %u, control thread and the SIP load on CPU %s\n"
            "P-CSCF %s (sip %u, port_ps %u, port_pc %u-%u), core %s, UEs %s..+7; memory: %s\n"
            "%d round(s): closed loop %.1f s with %u UEs at a time; open loop %.1f s at %.0f "
            "registrations/s; raw SA run %u sets\n",
            worker_lcore, cpus_of_self().c_str(), tc.access.to_string().c_str(), tc.sip_port, tc.port_ps,
            tc.port_pc.front(), tc.port_pc.back(), tc.core.to_string().c_str(), addr(10).to_string().c_str(),
            huge ? "hugepages" : "anonymous 4 KiB pages (--no-huge)", o.rounds, o.seconds, o.concurrency,
            o.latency_seconds, o.latency_rate, o.raw_sets);
        {  // warm-up, not counted: sockets, tables and caches on both paths
            LoadConfig c;
            c.seconds = 0.3;
            c.concurrency = o.concurrency;
            run_pass(**t, load, c, false, "warm-up, direct");
            run_pass(**t, load, c, true, "warm-up, terminator");
            (*t)->raw_sa_rate(std::min(o.raw_sets, 2000u), o.raw_live);
            (*t)->settle(milliseconds(5000));
        }
        for (int r = 1; r <= o.rounds; ++r) round_of(o, **t, load, r);
        print_summary(o);
        const auto& ws = (*t)->worker_stats();
        std::printf("worker: %lu SA records applied, %lu refused\n", (unsigned long)ws.records_applied,
                    (unsigned long)ws.records_failed);
        if (ws.records_failed > 0) ++g_problems;
        rc = g_problems == 0 ? 0 : 1;
    } catch (const std::exception& e) {
        fail(e.what());
    }
    timer.print_total();
    rte_eal_cleanup();
    return rc;
}
