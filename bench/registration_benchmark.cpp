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
//   register + de-register, closed loop (--concurrency UEs at a time): direct, terminator,
//                                                                     relay
//   register only, SAs accumulate (same):                            direct, terminator, relay
//   register + de-register, open loop at --latency-rate per second:  direct, terminator
//   the raw SA rate: SA sets installed and removed through SaManager, no SIP
//   the state store (--parts=store): register + de-register, closed loop, through the
//     terminator without a store, with an LMDB store and with a Redis store, the order
//     turning round by round
// Direct: the UEs talk to the core itself (its 401 names its own port in Security-Server),
// the baseline. Relay: a bare SIP relay in the terminator's place, on its thread
// (bench/sip_relay.hpp), the floor under the control thread's CPU and, against direct, the
// ceiling on the terminator's throughput. Every ratio is taken within a round, then min / median / max over rounds.
// A pass through the terminator must end with every UE answered as expected and, once the
// proxy's grace period has passed, no SA and no UE left; otherwise the program says what
// went wrong and exits 1.
//
// The state store part builds the control plane anew for each pass and attaches the store
// as pcscf-espd does (ControlPlane::attach_state: a StateWriter on a thread of its own,
// which inherits the control thread's CPU, as in the daemon). LMDB writes (with fsync) in a
// temporary directory; Redis is a redis-server of the benchmark's own on 127.0.0.1 (no
// persistence), allowed on every CPU; without redis-server on the PATH that column is left
// out. While the Redis pass runs, a standby follows the store (bench/terminator_rig.hpp,
// StandbyWatch): its lag, and how long it takes to catch up once the load stops. A store
// pass must end with everything written, the writer never failing, and the store (read
// again once closed) and the standby holding no SA, no sequence mark and no registration.
// On this 2-CPU machine the writer, Redis and the standby take CPU from the control thread
// or the worker: a deployment gives Redis and the standby hosts of their own.
//
//   build-release/bench/registration_benchmark [--quick] [--rounds=5] [--seconds=3]
//       [--concurrency=32] [--latency-rate=200] [--max-ues=20000] [--raw-sets=20000]
//       [--parts=dereg,accumulate,latency,raw,store] [--no-huge]
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
#include <malloc.h>
#include <sched.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>

#include "bench/bench_args.hpp"
#include "bench/bench_eal.hpp"
#include "bench/sip_load.hpp"
#include "bench/sip_relay.hpp"
#include "bench/spread.hpp"
#include "bench/terminator_rig.hpp"
#include "control/sa/sa_state.hpp"
#include "control/secagree/registration_state.hpp"
#include "control/state/lmdb_store.hpp"
#include "control/state/redis_store.hpp"

namespace pcscf::bench {
namespace {

using proxy::Endpoint;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

struct Options {
    bool quick = false, no_huge = false;
    int rounds = 5;
    double seconds = 3;          // per closed-loop pass
    double latency_seconds = 3;  // per open-loop pass
    uint32_t concurrency = 32;
    double latency_rate = 200;
    uint64_t max_ues = 20000;  // per pass that lets SAs accumulate
    uint32_t raw_sets = 20000, raw_live = 256;
    bool dereg = true, accumulate = true, latency = true, raw = true, store = true;  // --parts
};

// The process's CPUs before EAL pinned this thread to the main lcore's: where Redis and the
// standby may run.
cpu_set_t g_all_cpus;

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "registration_benchmark: %s\n", what.c_str());
    std::exit(2);
}

// The CPUs a thread may run on (0: this one).
std::string cpus_of_self(pid_t tid = 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(tid, sizeof set, &set);
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

// `on_load_end`: called once the load has stopped, before the terminator settles.
// The load run on a thread of its own while this thread serves it: `serve(phase, done)`.
template <typename Serve>
LoadResult drive(SipLoad& load, const LoadConfig& c, Serve&& serve) {
    LoadResult res;
    std::atomic<bool> finished{false};
    std::exception_ptr error;
    // The load thread inherits this thread's CPU (EAL pinned it to the main lcore's).
    std::thread th([&] {
        try {
            res = load.run(c);
        } catch (...) {
            error = std::current_exception();
        }
        finished.store(true);
    });
    serve([&] { return load.phase(); }, [&] { return finished.load(); });
    th.join();
    if (error) std::rethrow_exception(error);
    return res;
}

// The same load through the bare relay; its CPU in p.serve.cpu_s.
Pass relay_pass(SipRelay& relay, SipLoad& load, LoadConfig c, const char* label) {
    c.first_hop = relay.unprotected();
    c.protected_host = relay.unprotected().addr;
    load.set_security_server(relay.protected_port());
    Pass p;
    RelayResult r;
    p.load = drive(load, c, [&](auto phase, auto done) { r = relay.serve(phase, done); });
    p.serve.cpu_s = r.cpu_s;
    if (r.unmatched > 0) {
        ++g_problems;
        std::printf("    PROBLEM (%s): %lu datagram(s) the relay could not match\n", label, (unsigned long)r.unmatched);
    }
    for (const auto& [why, n] : p.load.failures) {
        ++g_problems;
        std::printf("    PROBLEM (%s): %lu UE(s): %s\n", label, (unsigned long)n, why.c_str());
    }
    return p;
}

Pass run_pass(Terminator& t, SipLoad& load, LoadConfig c, bool through, const char* label,
              const std::function<void()>& on_load_end = {}) {
    const TerminatorConfig& tc = t.config();
    c.first_hop = through ? Endpoint{tc.access, tc.sip_port} : tc.core;
    c.protected_host = through ? tc.access : tc.core.addr;
    load.set_security_server(through ? 0 : tc.core.port);
    Pass p;
    p.before = t.proxy_counters();
    p.load = drive(load, c, [&](auto phase, auto done) { p.serve = t.serve(phase, done); });
    if (on_load_end) on_load_end();
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

void round_of(const Options& o, Terminator& t, SipRelay& relay, SipLoad& load, int round) {
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
        double heap_per_ue[2] = {0, 0};  // direct, terminator: malloc's bytes in use per UE registered
        for (const bool via : {term_first, !term_first}) {
            const std::string label = mode + (via ? ", terminator" : ", direct");
            const size_t heap0 = ::mallinfo2().uordblks;
            size_t heap1 = heap0;
            Pass p = run_pass(t, load, c, via, label.c_str(), [&heap1] { heap1 = ::mallinfo2().uordblks; });
            print_pass(label.c_str(), p, via, true);
            if (!p.load.registered.empty())
                heap_per_ue[via] = (double(heap1) - double(heap0)) / double(p.load.registered.size());
            (via ? through : direct) = std::move(p);
        }
        const std::string relay_label = mode + ", bare relay";
        const Pass bare = relay_pass(relay, load, c, relay_label.c_str());
        print_pass(relay_label.c_str(), bare, false, true);
        std::printf("      relay cpu %5.1f us/reg\n",
                    1e6 * bare.serve.cpu_s / double(std::max<uint64_t>(1, bare.load.completed_in_window)));
        const std::string k = dereg ? "dereg" : "accumulate";
        const double reg = through.load.rate(), base = direct.load.rate(), ceiling = bare.load.rate();
        note(k + ": reg/s direct", base);
        note(k + ": reg/s terminator", reg);
        note(k + ": reg/s bare relay", ceiling);
        note(k + ": terminator / direct", base > 0 ? reg / base : 0);
        note(k + ": bare relay / direct (ceiling)", base > 0 ? ceiling / base : 0);
        note(k + ": terminator / bare relay", ceiling > 0 ? reg / ceiling : 0);
        if (!dereg) {  // does the rate hold as registered UEs pile up?
            for (const auto* p : {&direct, &through}) {
                const double first = p->load.rate_between(0, 0.25), last = p->load.rate_between(0.75, 1);
                note(k + ": last / first quarter, " + (p == &direct ? "direct" : "terminator"),
                     first > 0 ? last / first : 0);
            }
            // What a registered UE costs the P-CSCF's heap: the load's own share (its UEs'
            // state, the same in both passes) taken out.
            note(k + ": registered UEs, terminator", double(through.load.registered.size()));
            note(k + ": P-CSCF heap per registered UE, bytes", heap_per_ue[1] - heap_per_ue[0]);
        }
        const double w = through.load.window_s;
        // Installs acknowledged by the worker in the window; removals lag by the proxy's
        // grace period (1 s), so a short window holds fewer of them.
        note(k + ": SA installs acked /s", double(through.serve.adds_acked) / w);
        note(k + ": SA removals acked /s", double(through.serve.removes_acked) / w);
        const double regs = double(through.load.completed_in_window), regs0 = double(direct.load.completed_in_window);
        const double ctl_us = regs > 0 ? 1e6 * through.serve.cpu_s / regs : 0;
        const double load_us = regs0 > 0 ? 1e6 * direct.load.cpu_s / regs0 : 0;
        const double regs1 = double(bare.load.completed_in_window);
        const double relay_us = regs1 > 0 ? 1e6 * bare.serve.cpu_s / regs1 : 0;
        note(k + ": control cpu us/reg", ctl_us);
        note(k + ": bare relay cpu us/reg (floor)", relay_us);
        note(k + ": control / bare relay cpu", relay_us > 0 ? ctl_us / relay_us : 0);
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

// ---- the state store ---------------------------------------------------------------------

enum class Store { off, lmdb, redis };
constexpr uint32_t kCheckpointInterval = 32;  // pcscf-espd's --seq-checkpoint default

// What the store part keeps from round to round: the LMDB directories' parent and the
// redis-server (absent when not installed or not started).
struct StoreEnv {
    std::filesystem::path lmdb_base;
    std::unique_ptr<RedisServer> redis;
    uint32_t passes = 0;  // each pass its own LMDB directory and Redis prefix

    StoreEnv() {
        lmdb_base = std::filesystem::temp_directory_path() / ("pcscf_bench_lmdb_" + std::to_string(getpid()));
        std::filesystem::remove_all(lmdb_base);
        std::filesystem::create_directories(lmdb_base);
    }
    ~StoreEnv() {
        std::error_code ec;
        std::filesystem::remove_all(lmdb_base, ec);
    }
    StoreEnv(const StoreEnv&) = delete;
    StoreEnv& operator=(const StoreEnv&) = delete;
};

std::string store_name(Store s) { return s == Store::off ? "off" : s == Store::lmdb ? "LMDB" : "Redis"; }

// What a store holds, by kind of record.
struct Held {
    size_t sas = 0, seqs = 0, registrations = 0, format = 0, other = 0;
    bool empty_but_format() const { return sas == 0 && seqs == 0 && registrations == 0 && other == 0 && format == 1; }
    std::string str() const {
        return std::to_string(sas) + " SA(s), " + std::to_string(seqs) + " sequence mark(s), " +
               std::to_string(registrations) + " registration(s), " + std::to_string(format) + " format record(s), " +
               std::to_string(other) + " other record(s)";
    }
};
Held held_in(const ctl::state::Records& records) {
    Held h;
    for (const auto& [k, v] : records) {
        if (k == ctl::state::kFormatKey) ++h.format;
        else if (ctl::id_of(k, "sa/")) ++h.sas;
        else if (ctl::id_of(k, "seq/")) ++h.seqs;
        else if (k.starts_with(secagree::kRegistrationPrefix)) ++h.registrations;
        else ++h.other;
    }
    return h;
}

// One register + de-register pass with the store `s`, on a control plane of its own. The
// reg/s of the window, or nullopt when the pass was left out.
std::optional<double> store_pass(const Options& o, Terminator& t, SipLoad& load, StoreEnv& env, Store s) {
    if (s == Store::redis && !env.redis) return std::nullopt;
    const std::string label = "register + de-register, store " + store_name(s);
    auto problem = [&](const std::string& what) {
        ++g_problems;
        std::printf("    PROBLEM (%s): %s\n", label.c_str(), what.c_str());
    };
    const uint32_t n = env.passes++;
    const std::filesystem::path dir = env.lmdb_base / ("pass" + std::to_string(n));
    ctl::state::RedisUrl url;
    std::unique_ptr<ctl::state::StateBackend> backend;
    if (s == Store::lmdb) {
        auto b = ctl::state::LmdbBackend::open(dir.string());
        if (!b) throw std::runtime_error(b.error().message);
        backend = std::move(*b);
    } else if (s == Store::redis) {
        url = env.redis->url("bench" + std::to_string(n));
        auto b = ctl::state::RedisBackend::open(url);
        if (!b) throw std::runtime_error(b.error().message);
        if (auto e = (*b)->claim(); !e) throw std::runtime_error(e.error().message);
        backend = std::move(*b);
    }
    if (auto r = t.replace_plane(std::move(backend), kCheckpointInterval); !r)
        throw std::runtime_error(label + ": " + r.error());
    std::unique_ptr<StandbyWatch> watch;
    if (s == Store::redis) {
        auto w = StandbyWatch::start(url, t.layout(), g_all_cpus);
        if (!w) throw std::runtime_error("the standby: " + w.error());
        watch = std::move(*w);
    }

    LoadConfig c;
    c.deregister = true;
    c.concurrency = o.concurrency;
    c.seconds = o.seconds;
    const pid_t writer = t.state_writer_tid(), redis = s == Store::redis ? env.redis->pid() : 0;
    const double writer0 = cpu_seconds_of_thread(writer), redis0 = cpu_seconds_of_process(redis);
    double writer_s = 0, redis_s = 0;
    // Involuntary switches of the control thread: the load thread shares its CPU in every
    // pass, the state writer too with a store.
    const uint64_t preempted0 = preemptions_of_self();
    uint64_t preempted = 0;
    std::vector<float> lags;
    Clock::time_point load_end;
    bool flushed_at_end = true;
    Pass p = run_pass(t, load, c, true, label.c_str(), [&] {
        load_end = Clock::now();
        preempted = preemptions_of_self() - preempted0;
        writer_s = cpu_seconds_of_thread(writer) - writer0;
        redis_s = cpu_seconds_of_process(redis) - redis0;
        if (s == Store::off) return;
        // What the primary noted until now, written, and where the feed stands after it.
        flushed_at_end = t.flush_state(milliseconds(10000));
        if (watch) {
            lags = watch->take_lags();
            watch->aim(t.state_last_change(), load_end);
        }
    });
    print_pass(label.c_str(), p, true, true);
    const double rate = p.load.rate(), regs = double(std::max<uint64_t>(1, p.load.completed));
    std::printf("      %-20s preempted %lu times while the load ran (%.2f per registration)\n", "control thread",
                (unsigned long)preempted, double(preempted) / regs);
    note("store " + store_name(s) + ": reg/s", rate);
    if (p.load.completed_in_window > 0)
        note("store " + store_name(s) + ": control cpu us/reg",
             1e6 * p.serve.cpu_s / double(p.load.completed_in_window));
    if (s == Store::off) return rate;

    // Everything written, and what the writer made of it.
    if (!flushed_at_end) problem("the state writer had not written everything 10 s after the load stopped");
    if (!t.flush_state(milliseconds(10000))) problem("the state writer had not written everything 10 s after the pass");
    const ctl::state::WriterStats ws = t.state_stats().value_or(ctl::state::WriterStats{});
    for (const auto& w : t.take_state_warnings()) problem("state writer: " + w);
    if (ws.failures > 0) problem(std::to_string(ws.failures) + " batch(es) refused by the store");
    // Each UE's four SAs are written when installed and deleted when retired (a grace period
    // later, so never in the same batch); its registration may come and go within one.
    const uint64_t least = 8 * p.load.completed;
    if (ws.records < least)
        problem("the writer wrote " + std::to_string(ws.records) + " record(s) for " +
                std::to_string(p.load.completed) + " registration(s): fewer than the " + std::to_string(least) +
                " their SAs take");
    std::printf(
        "      %-20s %lu records in %lu batches (%.1f per registration, %.0f per batch); writer (CPU %s) cpu %.1f "
        "us/reg",
        "state writer", (unsigned long)ws.records, (unsigned long)ws.batches, double(ws.records) / regs,
        ws.batches ? double(ws.records) / double(ws.batches) : 0.0, cpus_of_self(writer).c_str(),
        1e6 * writer_s / regs);
    if (s == Store::redis) std::printf(", redis-server cpu %.1f us/reg", 1e6 * redis_s / regs);
    std::printf("\n");
    const std::string k = "store " + store_name(s) + ": ";
    note(k + "writer cpu us/reg", 1e6 * writer_s / regs);
    note(k + "records written per reg", double(ws.records) / regs);
    if (s == Store::redis) note(k + "redis-server cpu us/reg", 1e6 * redis_s / regs);

    if (watch) {
        // The standby: its lag while the load ran, its catch-up once it stopped, and at the
        // end the same records as the store.
        const auto after_load = watch->reached();
        const std::string last = t.state_last_change();
        const auto after_last = watch->wait_for(last, milliseconds(10000));
        const auto st = watch->status();
        if (lags.empty()) problem("the standby applied no feed entry while the load ran");
        if (!after_last) problem("the standby had not reached the primary's last write (" + last + ") 10 s after it");
        if (st.warm.sas != 0 || st.warm.records != 1 || st.warm.refused != 0)
            problem("the standby holds " + std::to_string(st.warm.sas) + " SA(s) and " +
                    std::to_string(st.warm.records) + " record(s) (" + std::to_string(st.warm.refused) +
                    " refused) once caught up: expected none and the format record");
        if (st.snapshots != 1)
            problem("the standby had to read the store whole " + std::to_string(st.snapshots - 1) +
                    " more time(s) (a gap in the feed)");
        for (const auto& w : watch->warnings()) problem("standby: " + w);
        const double p50 = percentile(lags, 0.5), mx = lags.empty() ? 0 : *std::max_element(lags.begin(), lags.end());
        std::printf(
            "      %-20s lag p50 %.0f ms, max %.0f ms (%zu rounds with entries, %lu entries); held up to %zu SAs; "
            "caught up %.1f ms after the load stopped, %.1f ms after the last write\n",
            "standby", p50, mx, lags.size(), (unsigned long)st.entries, watch->max_warm_sas(),
            after_load ? after_load->count() : -1.0, after_last ? after_last->count() : -1.0);
        // What the change feed takes in Redis: it keeps up to 100,000 entries (MAXLEN ~ in
        // redis_store.cpp), each a batch of the writer's with whole values.
        {
            ctl::state::RedisClient c(url);
            const ctl::state::RedisKeys keys(url.prefix);
            auto len = c.command({"XLEN", keys.changes});
            auto bytes = c.command({"MEMORY", "USAGE", keys.changes, "SAMPLES", "0"});
            if (len && bytes && (*len)->is_integer() && (*bytes)->is_integer()) {
                const double b = double((*bytes)->integer()), e = double(std::max<long long>(1, (*len)->integer()));
                std::printf("      %-20s %lld entries, %.0f KiB in Redis (%.0f bytes per entry, %.0f per change)\n",
                            "change feed", (*len)->integer(), b / 1024, b / e,
                            b / double(std::max<uint64_t>(1, ws.records)));
                note("store Redis: feed bytes per entry", b / e);
            }
        }
        note("store Redis: standby lag p50 ms", p50);
        note("store Redis: standby lag max ms", mx);
        if (after_load) note("store Redis: standby catch-up, load end ms", after_load->count());
        if (after_last) note("store Redis: standby catch-up, last write ms", after_last->count());
        watch.reset();
    }

    // The store closed (a storeless plane replaces this one), then read again: after register
    // + de-register cycles it holds the format record and nothing else.
    if (auto r = t.replace_plane(nullptr, 0); !r) throw std::runtime_error(label + ": " + r.error());
    std::unique_ptr<ctl::state::StateBackend> again;
    if (s == Store::lmdb) {
        auto b = ctl::state::LmdbBackend::open(dir.string());
        if (!b) throw std::runtime_error(b.error().message);
        again = std::move(*b);
    } else {
        auto b = ctl::state::RedisBackend::open(url);
        if (!b) throw std::runtime_error(b.error().message);
        again = std::move(*b);
    }
    auto records = again->load();
    if (!records) {
        problem("reading the store again: " + records.error().message);
    } else if (const Held h = held_in(*records); !h.empty_but_format()) {
        problem("the store holds " + h.str() + " after the pass: expected the format record alone");
    }
    again.reset();
    if (s == Store::lmdb) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    } else {
        const ctl::state::RedisKeys keys(url.prefix);
        (void)ctl::state::RedisClient(url).command({"DEL", keys.records, keys.changes, keys.epoch, keys.serial});
    }
    return rate;
}

void store_round(const Options& o, Terminator& t, SipLoad& load, StoreEnv& env, int round) {
    // The order turns round by round: off, LMDB, Redis; then LMDB, Redis, off; ...
    const std::vector<Store> all{Store::off, Store::lmdb, Store::redis};
    std::map<Store, double> rate;
    for (size_t i = 0; i < all.size(); ++i) {
        const Store s = all[(i + size_t(round - 1)) % all.size()];
        if (auto r = store_pass(o, t, load, env, s)) rate[s] = *r;
    }
    const double off = rate[Store::off];
    for (const Store s : {Store::lmdb, Store::redis})
        if (rate.count(s)) note("store: " + store_name(s) + " / off", off > 0 ? rate[s] / off : 0);
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
    // The state store's cost, against the target (a figure, not a check).
    for (const char* s : {"LMDB", "Redis"}) {
        const auto it = g_fig.find(std::string("store: ") + s + " / off");
        if (it == g_fig.end()) continue;
        const Spread r = spread(it->second);
        std::printf(
            "  registrations with the %s store / without, target >= 0.9: median %.3f (min %.3f, max %.3f): %s\n", s,
            r.median, r.min, r.max, r.median >= 0.9 ? "met" : "not met");
    }
    std::printf("\n%s\n", g_problems == 0 ? "every pass complete: all UEs answered as expected, no SA or UE left behind"
                                          : "PROBLEMS above: figures of those passes are not to be trusted");
}

Options parse(int argc, char** argv) {
    Options o;
    bool rounds = false, seconds = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick") o.quick = true;
        else if (a == "--no-huge") o.no_huge = true;
        else if (const char* v = option_value(a, "--rounds=")) {
            o.rounds = std::max(1, number_arg<int>(a, v));
            rounds = true;
        } else if (const char* v = option_value(a, "--seconds=")) {
            o.seconds = o.latency_seconds = std::max(0.1, number_arg<double>(a, v));
            seconds = true;
        } else if (const char* v = option_value(a, "--concurrency="))
            o.concurrency = std::max(1u, number_arg<uint32_t>(a, v));
        else if (const char* v = option_value(a, "--latency-rate="))
            o.latency_rate = std::max(1.0, number_arg<double>(a, v));
        else if (const char* v = option_value(a, "--max-ues="))
            o.max_ues = std::max<uint64_t>(1, number_arg<uint64_t>(a, v));
        else if (const char* v = option_value(a, "--raw-sets=")) o.raw_sets = std::max(1u, number_arg<uint32_t>(a, v));
        else if (const char* v = option_value(a, "--parts=")) {
            const std::string p = v;
            o.dereg = p.find("dereg") != std::string::npos;
            o.accumulate = p.find("accumulate") != std::string::npos;
            o.latency = p.find("latency") != std::string::npos;
            o.raw = p.find("raw") != std::string::npos;
            o.store = p.find("store") != std::string::npos;
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
    sched_getaffinity(0, sizeof g_all_cpus, &g_all_cpus);  // before EAL pins this thread
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
    tc.max_ues = uint32_t(o.max_ues);

    int rc = 0;
    try {
        auto t = Terminator::create(tc, worker_lcore);
        if (!t) fail(t.error());
        // Port pairs 26000-65535 on each UE address: enough addresses for --max-ues UEs
        // registered at once (19,768 each, as behind a large NAT), 127.a.b.10 to at most .249.
        const uint32_t ue_addrs = std::clamp<uint32_t>(uint32_t(o.max_ues / 19768 + 2), 8, 240);
        SipLoad load(tc.core, addr(10), ue_addrs, 26000, 65535);
        SipRelay relay(tc.access, 25160, tc.core);
        std::printf(
            "registration benchmark: worker on lcore %u, control thread and the SIP load on CPU %s\n"
            "P-CSCF %s (sip %u, port_ps %u, port_pc %u-%u), core %s, UEs %s..+%u; memory: %s\n"
            "%d round(s): closed loop %.1f s with %u UEs at a time; open loop %.1f s at %.0f "
            "registrations/s; raw SA run %u sets\n",
            worker_lcore, cpus_of_self().c_str(), tc.access.to_string().c_str(), tc.sip_port, tc.port_ps,
            tc.port_pc.front(), tc.port_pc.back(), tc.core.to_string().c_str(), addr(10).to_string().c_str(),
            ue_addrs - 1, huge ? "hugepages" : "anonymous 4 KiB pages (--no-huge)", o.rounds, o.seconds, o.concurrency,
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
        std::unique_ptr<StoreEnv> store;
        if (o.store) {
            store = std::make_unique<StoreEnv>();
            if (!RedisServer::installed()) {
                std::printf("redis-server is not installed: the state store part runs without its Redis column\n");
            } else {
                store->redis = std::make_unique<RedisServer>();
                if (const std::string why = store->redis->start(&g_all_cpus); !why.empty()) {
                    ++g_problems;
                    std::printf("PROBLEM: redis-server did not start, no Redis column: %s\n", why.c_str());
                    store->redis.reset();
                }
            }
            std::printf(
                "state store: LMDB under %s, %s\n", store->lmdb_base.c_str(),
                store->redis ? ("Redis on 127.0.0.1:" + std::to_string(store->redis->port())).c_str() : "no Redis");
        }
        for (int r = 1; r <= o.rounds; ++r) {
            round_of(o, **t, relay, load, r);
            if (store) store_round(o, **t, load, *store, r);
        }
        store.reset();  // redis-server stopped, the LMDB directories removed
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
