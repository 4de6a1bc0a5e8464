// Whole-pipeline throughput of one worker through a real PMD, against the ESP engine's
// in-memory speed measured in the same run on the same packets and the same core.
//
// A dp::Worker polls two net_ring ports (the access port and the tap) on the worker
// lcore; the main lcore plays the NIC (offers pre-built Ethernet frames with valid ICVs
// and increasing sequence numbers, takes back what the worker sends) and the control
// thread (SA records over the real command ring). Inbound: ESP into the access port, the
// decapsulated frames out of the tap. Outbound: plain frames into the tap, ESP out of the
// access port. Throughput is at zero loss: at most a window of frames is in flight, so
// nothing is offered that the worker could drop, and every pass is checked to have
// delivered every frame with no drop counted by the worker or its engine.
//
// Per workload (algorithm, packet size, SAs installed) and round, interleaved: the
// engine alone (as engine_benchmark measures it), the pipeline, and the pipeline while
// the control thread adds and deletes SAs at --churn per second. Prints the median of
// the rounds, min and max, and the ratios pipeline / engine and churn / no churn.
//
// The NIC side writes each frame back before offering it (--nic): by default with
// non-temporal stores of whole lines, which leave no copy in its CPU's caches, as a NIC's
// DMA leaves none; --nic=cached uses ordinary stores, so the worker fetches every such
// line from the NIC side's CPU; --nic=streaming,cached also runs the pipeline with the
// second every round. Beside the ratios: what one cache line costs to move between the
// two CPUs, measured every round (bench/line_transfer.hpp), and the pipeline's time per
// packet beyond the engine's in units of that cost.
//
//   build/bench/pipeline_benchmark [--quick] [--rounds=5] [--sas=1000000] [--churn=100000]
//       [--churn-batch-us=0] [--packets=65536] [--passes=3] [--window=1024] [--attempts=8]
//       [--sizes=64,512,1400] [--ip=4,6] [--algs=sha1,md5] [--record-interval-us=50]
//       [--burst=N (pcscf-espd's default)] [--nic=streaming,cached] [--no-huge]
// Sizes are the ESP packet's IP length; IPv6 starts at 72 bytes (as in ipsec_compare).
#include <rte_cycles.h>
#include <rte_lcore.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <sched.h>

#include "bench/bench_args.hpp"
#include "bench/bench_eal.hpp"
#include "bench/engine_workload.hpp"
#include "bench/line_transfer.hpp"
#include "bench/pipeline_rig.hpp"
#include "bench/spread.hpp"
#include "bench/unfragmented.hpp"

namespace pcscf::bench {
namespace {

using esp::Alg;
using esp::Direction;
using net::DropReason;

struct Options {
    bool quick = false, no_huge = false;
    int rounds = 5;
    uint32_t many_sas = 1'000'000;
    double churn = 100'000;     // SAs added per second, and as many deleted
    double churn_batch_us = 0;  // 0: each record when due; else in batches this often
    uint32_t packets = 65536;
    uint32_t passes = 3;
    uint32_t window = 1024;
    uint32_t attempts = 8;                                                 // per pass, while preempted
    uint32_t record_interval_us = dp::ServiceConfig{}.record_interval_us;  // pcscf-espd's default
    uint16_t burst = dp::ServiceConfig{}.burst;                            // the worker's, and the engine baseline's
    std::vector<uint32_t> sizes{64, 512, 1400};
    std::vector<int> ips{4, 6};
    std::vector<Alg> algs{Alg::hmac_sha1_96, Alg::hmac_md5_96};
    std::vector<NicStores> nic{NicStores::streaming};  // the first for everything; the second: one more run
};

const char* label(Alg a) { return a == Alg::hmac_sha1_96 ? "sha1" : "md5"; }
const char* label(Direction d) { return d == Direction::inbound ? "inbound" : "outbound"; }
const char* nic_name(NicStores n) { return n == NicStores::streaming ? "streaming" : "cached"; }
double seconds(uint64_t tsc) { return double(tsc) / double(rte_get_tsc_hz()); }

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "pipeline_benchmark: %s\n", what.c_str());
    std::exit(1);
}

// ---- results ---------------------------------------------------------------------------

enum Kind { kEngine, kPipeline, kChurn, kOtherNic, kKinds };

struct Row {
    std::vector<double> mpps[kKinds];  // one per round
    std::vector<double> idle;          // the NIC side's idle share, pipeline runs
    std::vector<double> churn_rate;    // SAs added (and deleted) per second achieved
    std::vector<double> record_ns;     // the worker's time per SA record, churn runs
    std::vector<double> line_ns;       // a cache line between the two CPUs, that round
};
// SAs, IP version, direction, algorithm (SHA-1 first), size
using RowKey = std::tuple<uint32_t, int, Direction, bool, uint32_t>;
std::map<RowKey, Row> g_rows;
uint64_t g_repeated = 0;   // passes measured again because a thread was preempted
uint64_t g_preempted = 0;  // passes counted although preempted (attempts exhausted)

// ---- one workload ----------------------------------------------------------------------

struct Counters {
    uint64_t in = 0, out = 0, drops = 0, records = 0, record_cycles = 0;
};
Counters counters(const dp::Worker& w) {
    const dp::WorkerStats& s = w.stats();
    return {s.esp_in, s.esp_out, s.drops.total() + w.engine().drops().total(), s.records_applied + s.records_failed,
            s.record_cycles};
}
std::string drop_reasons(const dp::Worker& w) {
    std::string s;
    for (size_t i = 0; i < net::kDropReasonCount; ++i)
        if (const uint64_t n = w.stats().drops.count[i] + w.engine().drops().count[i]; n > 0)
            s.append(" ").append(net::kDropReasonNames[i]).append("=").append(std::to_string(n));
    return s.empty() ? " none" : s;
}

class Bench {
public:
    Bench(const Options& o, PipelineRig& rig, WorkerLcore& lcore, dp::Worker& worker, EngineWorkload& w, uint32_t sas)
        : o_(o),
          rig_(rig),
          lcore_(lcore),
          worker_(worker),
          w_(w),
          ctl_(rig.rings().control()),
          churn_(w, sas, o.churn, o.churn_batch_us),
          frames_{make_frames(w.inbound()), make_frames(w.outbound())} {}

    // The engine alone on the worker lcore (the worker is stopped meanwhile), as
    // engine_benchmark measures it, in the worker's bursts (--burst), each with the next
    // as its look-ahead as the worker gives it: each written back before the call ahead
    // of it, ESP packets sealed with the next sequence numbers and caches
    // flushed before each pass, outside the time.
    double engine(Direction dir) {
        auto& ring = dir == Direction::inbound ? w_.inbound() : w_.outbound();
        uint64_t packets = 0, tsc = 0;
        std::string error;
        lcore_.run([&] {
            const uint32_t burst_n = o_.burst;  // the worker's, at most dp::kMaxBurst
            for (uint32_t pass = 0; pass < o_.passes && error.empty(); ++pass) {
                for (uint32_t attempt = 1;; ++attempt) {
                    if (dir == Direction::inbound) next_inbound_pass();
                    EngineWorkload::evict_caches();
                    const uint64_t preempted = preemptions_of_self();
                    const uint64_t t0 = rte_rdtsc();
                    w_.process_ring(dir, ring, burst_n, [&](uint16_t good, const DropReason* why) {
                        if (good != burst_n) error = std::string(net::name(why[good]));
                        return error.empty();
                    });
                    const uint64_t t1 = rte_rdtsc();
                    if (!repeat(preemptions_of_self() != preempted, attempt)) {
                        packets += ring.size() / burst_n * burst_n;
                        tsc += t1 - t0;
                        break;
                    }
                }
            }
        });
        if (!error.empty()) fail(std::string("engine ") + label(dir) + " dropped: " + error);
        restart_worker(false);
        return double(packets) / seconds(tsc) / 1e6;
    }

    struct PipelineResult {
        double mpps = 0, idle = 0, churn_rate = 0;
        double record_ns = 0;  // the worker's time per record it took (worker's own clock)
    };
    PipelineResult pipeline(Direction dir, bool churn, NicStores nic) {
        const bool in = dir == Direction::inbound;
        const std::vector<Frame>& frames = frames_[in ? 0 : 1];
        rte_ring* to = in ? rig_.access().rx : rig_.tap().rx;
        rte_ring* from = in ? rig_.tap().tx : rig_.access().tx;
        uint64_t counted = 0, tsc = 0, wall = 0, busy = 0, churned = 0, records = 0, rec_tsc = 0;
        for (uint32_t pass = 0; pass < o_.passes; ++pass) {
            for (uint32_t attempt = 1;; ++attempt) {
                if (in) next_inbound_pass();
                if (worker_stale_) rewind_worker();
                if (churn) churn_.prime(ctl_);
                if (!ctl_.settle()) fail("the worker does not acknowledge SA records");
                const Counters before = restart_worker(true);
                const uint64_t preempted = lcore_.preemptions() + preemptions_of_self();
                const PassResult r = offer(frames, to, from, o_.window, ctl_, churn ? &churn_ : nullptr, nic);
                const bool hit = lcore_.preemptions() + preemptions_of_self() != preempted;
                const Counters after = restart_worker(false);
                if (churn) churn_.unwind(ctl_);
                const uint64_t done = in ? after.in - before.in : after.out - before.out;
                if (!r.complete() || after.drops != before.drops || done != frames.size())
                    fail(std::string(label(dir)) + (churn ? " with churn" : "") + ": offered " +
                         std::to_string(r.offered) + ", delivered " + std::to_string(r.delivered) + ", processed " +
                         std::to_string(done) + "; drops:" + drop_reasons(worker_));
                if (repeat(hit, attempt)) continue;
                counted += r.counted;
                tsc += r.tsc;
                wall += r.wall_tsc;
                busy += r.busy_tsc;
                churned += r.churn_records;
                records += after.records - before.records;
                rec_tsc += after.record_cycles - before.record_cycles;
                break;
            }
        }
        if (!ctl_.settle() || ctl_.failed() != 0) fail(std::to_string(ctl_.failed()) + " SA records refused");
        return {double(counted) / seconds(tsc) / 1e6, 1 - double(busy) / double(wall),
                double(churned) / 2 / seconds(tsc), records > 0 ? seconds(rec_tsc) * 1e9 / double(records) : 0};
    }

    // All the workload's SAs, over the command ring as the control thread installs them.
    void install(uint32_t sas) {
        const uint64_t t0 = rte_rdtsc();
        for (uint32_t i = 0; i < sas; ++i) {
            ctl_.send(w_.inbound_record(i));
            ctl_.send(w_.outbound_record(i));
        }
        if (!ctl_.settle() || ctl_.failed() != 0) fail("installing the SAs failed");
        const double s = seconds(rte_rdtsc() - t0);
        if (sas > 1)
            std::printf(
                "  %u SAs per direction installed over the command ring in %.2f s "
                "(%.2f M records/s)\n",
                sas, s, 2.0 * sas / s / 1e6);
    }

    // Before the first measurement of a workload: the worker's SAs installed (a new
    // worker) or given fresh windows (the new workload's sequence numbers start again),
    // then each used once, untimed, so that no measured pass is an SA's first use (which
    // raises an event, once in an SA's life).
    void prepare(bool new_worker, uint32_t sas) {
        if (new_worker) install(sas);
        else rewind_worker();
        if (!ctl_.settle()) fail("the worker does not acknowledge SA records");
        const PassResult r = offer(frames_[0], rig_.access().rx, rig_.tap().tx, o_.window, ctl_, nullptr, o_.nic[0]);
        if (!r.complete())
            fail("the worker did not pass the workload's inbound packets; drops:" + drop_reasons(worker_));
        next_inbound_pass();
    }

    // What one cache line costs to move between the NIC side's CPU and the worker's; the
    // worker is stopped meanwhile, as the other end of the line runs on its CPU.
    double line_ns() {
        lcore_.stop();
        const double ns = transfer_ns(int(rte_lcore_to_cpu_id(int(rte_lcore_id()))),
                                      int(rte_lcore_to_cpu_id(int(lcore_.id()))), 100'000);
        lcore_.start(worker_, false);
        return ns;
    }

private:
    // A pass during which a thread of the measurement lost its CPU is repeated, up to
    // --attempts times; the last attempt counts whatever happened.
    bool repeat(bool preempted, uint32_t attempt) {
        if (!preempted) return false;
        if (attempt < o_.attempts) {
            ++g_repeated;
            return true;
        }
        ++g_preempted;
        return false;
    }
    // The worker and the in-memory engine both hold the inbound SAs; the frames carry the
    // packets' headers, so they are made again from the resealed packets.
    void next_inbound_pass() {
        if (!w_.next_inbound_pass()) worker_stale_ = true;
        frames_[0] = make_frames(w_.inbound());
    }
    // The worker's inbound SAs get fresh replay windows (remove and add), for packets whose
    // sequence numbers started again (a new workload, or numbers near 2^32).
    void rewind_worker() {
        for (const esp::SaRecord& r : w_.rewind_records()) ctl_.send(r);
        worker_stale_ = false;
    }
    // Stops the worker, reads its counters (exact while it is stopped) and starts it again.
    Counters restart_worker(bool evict) {
        lcore_.stop();
        const Counters c = counters(worker_);
        lcore_.start(worker_, evict);
        return c;
    }

    const Options& o_;
    PipelineRig& rig_;
    WorkerLcore& lcore_;
    dp::Worker& worker_;
    EngineWorkload& w_;
    ControlSide ctl_;
    Churn churn_;
    std::vector<Frame> frames_[2];
    bool worker_stale_ = false;  // the worker's inbound windows are ahead of the packets
};

void run_rounds(const Options& o, Bench& b, Alg alg, int ip, uint32_t size, uint32_t sas) {
    for (int round = 0; round < o.rounds; ++round) {
        std::string line = "  round " + std::to_string(round + 1) + ":";
        const double line_ns = b.line_ns();
        const bool other = o.nic.size() > 1;
        for (Direction dir : {Direction::inbound, Direction::outbound}) {
            Row& row = g_rows[{sas, ip, dir, alg == Alg::hmac_md5_96, size}];
            // Alternate the order from round to round, so slow drifts hit every kind alike.
            const Kind order[2][kKinds] = {{kEngine, kPipeline, kOtherNic, kChurn},
                                           {kChurn, kOtherNic, kPipeline, kEngine}};
            char buf[200];
            double v[kKinds] = {};
            Bench::PipelineResult p, c;
            for (Kind k : order[round % 2]) {
                if (k == kEngine) v[k] = b.engine(dir);
                if (k == kPipeline) v[k] = (p = b.pipeline(dir, false, o.nic[0])).mpps;
                if (k == kChurn) v[k] = (c = b.pipeline(dir, true, o.nic[0])).mpps;
                if (k == kOtherNic && other) v[k] = b.pipeline(dir, false, o.nic[1]).mpps;
                if (k != kOtherNic || other) row.mpps[k].push_back(v[k]);
            }
            row.line_ns.push_back(line_ns);
            row.idle.push_back(p.idle);
            row.churn_rate.push_back(c.churn_rate);
            row.record_ns.push_back(c.record_ns);
            std::snprintf(buf, sizeof buf,
                          "  %s engine %5.2f pipeline %5.2f (NIC idle %2.0f%%) churn %5.2f "
                          "(%.0fk SAs/s, %.0f ns a record)",
                          dir == Direction::inbound ? "in" : "out", v[kEngine], v[kPipeline], 100 * p.idle, v[kChurn],
                          c.churn_rate / 1e3, c.record_ns);
            line += buf;
            if (other) {
                std::snprintf(buf, sizeof buf, " %s NIC %5.2f", nic_name(o.nic[1]), v[kOtherNic]);
                line += buf;
            }
        }
        line += " line " + std::to_string(int(line_ns)) + " ns";
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
    }
}

// ---- summary ---------------------------------------------------------------------------

// ns/packet of `num` beyond `den`, round by round; and that in units of the round's line
// transfer.
std::vector<double> beyond(const std::vector<double>& num, const std::vector<double>& den) {
    std::vector<double> v;
    for (size_t k = 0; k < std::min(num.size(), den.size()); ++k) v.push_back(1e3 / num[k] - 1e3 / den[k]);
    return v;
}
std::vector<double> per_line(std::vector<double> ns, const std::vector<double>& line) {
    for (size_t k = 0; k < ns.size() && k < line.size(); ++k) ns[k] /= line[k];
    return ns;
}

const char* bold(bool met) { return met ? "**" : ""; }  // Markdown emphasis for a met target

void print_summary(const Options& o) {
    std::printf(
        "\nMpps per worker at zero loss, median of %d rounds [min-max]; "
        "ratios of the same round; bold: target met\n\n",
        o.rounds);
    const bool other = o.nic.size() > 1;
    const std::string other_head = other ? std::string(" pipeline / engine, ") + nic_name(o.nic[1]) + " NIC |" : "";
    std::printf(
        "NIC stand-in: %s; ns beyond: the pipeline's ns/packet minus the engine's, and that in cache-line "
        "transfers between the two CPUs (measured every round)\n\n",
        nic_name(o.nic[0]));
    std::printf(
        "| workload | IP | SAs | engine | pipeline | with churn | pipeline / engine |%s ns beyond (line transfers) "
        "| churn / pipeline | worker ns a record |\n",
        other_head.c_str());
    std::printf("|---|---|---:|---:|---:|---:|---:|%s---:|---:|---:|\n", other ? "---:|" : "");
    int rows = 0, pipe_met = 0, churn_met = 0;
    std::string misses;
    for (const auto& [key, row] : g_rows) {
        const auto& [sas, ip, dir, md5, size] = key;
        const Spread e = spread(row.mpps[kEngine]), p = spread(row.mpps[kPipeline]), c = spread(row.mpps[kChurn]);
        const Spread pe = ratio(row.mpps[kPipeline], row.mpps[kEngine]);
        const Spread cp = ratio(row.mpps[kChurn], row.mpps[kPipeline]);
        const Spread rn = spread(row.record_ns);
        const std::vector<double> extra = beyond(row.mpps[kPipeline], row.mpps[kEngine]);
        const double x = spread(extra).median, xl = spread(per_line(extra, row.line_ns)).median;
        char other_cell[48] = "";
        if (other) {
            const Spread oe = ratio(row.mpps[kOtherNic], row.mpps[kEngine]);
            std::snprintf(other_cell, sizeof other_cell, " %.2f [%.2f-%.2f] |", oe.median, oe.min, oe.max);
        }
        char name[64];
        std::snprintf(name, sizeof name, "%s %s %u B", label(dir), md5 ? "md5" : "sha1", size);
        const bool pipe_ok = pe.median >= 0.80, churn_ok = cp.median > 0.95;
        const char* pb = bold(pipe_ok);
        const char* cb = bold(churn_ok);
        std::printf(
            "| %s | v%d | %u | %.2f | %.2f [%.2f-%.2f] | %.2f [%.2f-%.2f] | %s%.2f%s [%.2f-%.2f] |%s %.0f (%.2f) "
            "| %s%.3f%s [%.3f-%.3f] | %.0f [%.0f-%.0f] |\n",
            name, ip, sas, e.median, p.median, p.min, p.max, c.median, c.min, c.max, pb, pe.median, pb, pe.min, pe.max,
            other_cell, x, xl, cb, cp.median, cb, cp.min, cp.max, rn.median, rn.min, rn.max);
        ++rows;
        pipe_met += pipe_ok;
        churn_met += churn_ok;
        const std::string which =
            std::string(name) + ", IPv" + std::to_string(ip) + ", " + std::to_string(sas) + " SAs\n";
        if (!pipe_ok) misses += "  pipeline < 0.80 of engine: " + which;
        if (!churn_ok) misses += "  churn costs >= 5%: " + which;
    }
    std::vector<double> idle, rate, share, lines;
    for (const auto& [key, row] : g_rows) {
        idle.insert(idle.end(), row.idle.begin(), row.idle.end());
        lines.insert(lines.end(), row.line_ns.begin(), row.line_ns.end());
        rate.insert(rate.end(), row.churn_rate.begin(), row.churn_rate.end());
        for (size_t k = 0; k < row.record_ns.size(); ++k)  // 2 records per SA changed
            share.push_back(2 * row.churn_rate[k] * row.record_ns[k] * 1e-9);
    }
    const Spread i = spread(idle), r = spread(rate), sh = spread(share), l = spread(lines);
    std::printf("\nA cache line between the worker's and the NIC side's CPUs: %.0f ns one way [%.0f-%.0f]\n", l.median,
                l.min, l.max);
    std::printf("NIC side idle (waiting for the worker) in pipeline runs: %.0f%% [%.0f-%.0f%%]\n", 100 * i.median,
                100 * i.min, 100 * i.max);
    std::printf("Churn achieved: %.0f SAs added and as many deleted per second [%.0f-%.0f]\n", r.median, r.min, r.max);
    std::printf(
        "The worker's own time on SA records in churn runs (records/s x ns a record): "
        "%.1f%% [%.1f-%.1f%%]\n",
        100 * sh.median, 100 * sh.min, 100 * sh.max);
    std::printf(
        "Passes measured again because the worker or the NIC side was preempted: %llu; "
        "counted although preempted (after --attempts=%u): %llu\n",
        (unsigned long long)g_repeated, o.attempts, (unsigned long long)g_preempted);
    std::printf("\nTargets (medians):\n");
    std::printf("  pipeline >= 0.80 of the engine's in-memory speed: %d of %d workloads\n", pipe_met, rows);
    std::printf("  churn at %.0f SAs/s costs under 5%%:            %d of %d workloads\n", o.churn, churn_met, rows);
    std::printf("%s", misses.c_str());
}

// One worker per algorithm, IP version and SA count (its SAs are the same for every
// packet size), one workload alive at a time.
void run_all(const Options& o, PipelineRig& rig, WorkerLcore& lcore) {
    for (uint32_t sas : {1u, o.many_sas}) {
        for (Alg alg : o.algs)
            for (int ip : o.ips) {
                std::unique_ptr<dp::Worker> worker;
                std::unique_ptr<EngineWorkload> w;
                for (uint32_t asked : o.sizes) {
                    const uint32_t size = EngineWorkload::size_for(asked, ip == 6);
                    const auto t0 = std::chrono::steady_clock::now();
                    lcore.stop();  // not polling for nothing meanwhile
                    w.reset();
                    w = std::make_unique<EngineWorkload>(alg, size, sas, o.packets, ip == 6);
                    std::printf("\n%s %u B, IPv%d, %u SA%s (workload built in %.1f s)\n", label(alg), size, ip, sas,
                                sas == 1 ? "" : "s",
                                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
                    bool fresh = false;
                    if (!worker) {
                        auto made = rig.make_worker(*w);
                        if (!made) fail(made.error());
                        worker = std::move(*made);
                        fresh = true;
                    }
                    lcore.start(*worker, false);
                    Bench b(o, rig, lcore, *worker, *w, sas);
                    b.prepare(fresh, sas);
                    run_rounds(o, b, alg, ip, size, sas);
                }
                lcore.stop();
            }
    }
}

Options parse(int argc, char** argv) {
    Options o;
    // --quick is a smoke run of a few seconds (one workload each way, one round); options
    // given with it still apply.
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], "--quick") == 0) {
            o.quick = true;
            o.rounds = 1;
            o.passes = 1;
            o.packets = 16384;
            o.sizes = {512};
            o.ips = {4};
            o.algs = {Alg::hmac_sha1_96};
            o.many_sas = 100'000;
        }
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick") continue;
        else if (a == "--no-huge") o.no_huge = true;
        else if (const char* v = option_value(a, "--rounds=")) o.rounds = std::max(1, number_arg<int>(a, v));
        else if (const char* v = option_value(a, "--sas=")) o.many_sas = number_arg<uint32_t>(a, v);
        else if (const char* v = option_value(a, "--churn=")) o.churn = number_arg<double>(a, v);
        else if (const char* v = option_value(a, "--churn-batch-us=")) o.churn_batch_us = number_arg<double>(a, v);
        else if (const char* v = option_value(a, "--packets=")) o.packets = number_arg<uint32_t>(a, v) / 32 * 32;
        else if (const char* v = option_value(a, "--passes=")) o.passes = std::max(1u, number_arg<uint32_t>(a, v));
        else if (const char* v = option_value(a, "--window=")) o.window = std::max(32u, number_arg<uint32_t>(a, v));
        else if (const char* v = option_value(a, "--attempts=")) o.attempts = std::max(1u, number_arg<uint32_t>(a, v));
        else if (const char* v = option_value(a, "--sizes=")) o.sizes = number_list_arg<uint32_t>(a, v);
        else if (const char* v = option_value(a, "--ip=")) o.ips = ip_versions_arg(a, v);
        else if (const char* v = option_value(a, "--record-interval-us="))
            o.record_interval_us = number_arg<uint32_t>(a, v);
        else if (const char* v = option_value(a, "--burst=")) {
            o.burst = number_arg<uint16_t>(a, v);
            if (o.burst == 0 || o.burst > dp::kMaxBurst) {
                std::fprintf(stderr, "--burst takes 1..64, as pcscf-espd's, not %u\n", unsigned(o.burst));
                std::exit(2);
            }
        } else if (const char* v = option_value(a, "--nic=")) {
            o.nic.clear();
            for (size_t w : word_list_arg(a, v, {"streaming", "cached"}))
                o.nic.push_back(w == 0 ? NicStores::streaming : NicStores::cached);
            if (o.nic.size() > 2 || (o.nic.size() == 2 && o.nic[0] == o.nic[1])) {
                std::fprintf(stderr, "--nic takes streaming, cached or both, not '%s'\n", v);
                std::exit(2);
            }
        } else if (const char* v = option_value(a, "--algs=")) {
            o.algs.clear();
            for (size_t w : word_list_arg(a, v, {"sha1", "md5"}))
                o.algs.push_back(w == 0 ? Alg::hmac_sha1_96 : Alg::hmac_md5_96);
        } else {
            std::fprintf(stderr, "unknown option %s (see the top of pipeline_benchmark.cpp)\n", argv[i]);
            std::exit(2);
        }
    }
    // Sizes the worker would fragment are another path (tested in netns), not measured here.
    const dp::ServiceConfig service;
    const uint32_t largest = largest_unfragmented(service.access_mtu, service.tap_mtu);
    for (uint32_t size : o.sizes)
        if (size > largest) {
            std::fprintf(stderr,
                         "--sizes: %u B is over %u B, whose payload still fits the tap's MTU (%u) "
                         "unfragmented\n",
                         size, largest, unsigned(service.tap_mtu));
            std::exit(2);
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

    if (sched_getscheduler(0) == SCHED_OTHER && std::stod(timer.load_at_start()) > 1)
        std::printf(
            "note: load average %s: other tasks will preempt the worker or the NIC side; "
            "run on a quiet machine or under `chrt -f 1`\n",
            timer.load_at_start().c_str());
    auto rig = PipelineRig::create(o.window, o.record_interval_us, o.burst);
    if (!rig) fail(rig.error());
    WorkerLcore lcore(worker_lcore);
    const std::string churn_mode =
        o.churn_batch_us > 0 ? "records sent in batches every " + std::to_string(int(o.churn_batch_us)) + " us"
                             : std::string("each record sent when due");
    std::printf(
        "pipeline: worker on lcore %u; NIC side and control thread on lcore %u; net_ring ports; "
        "bursts of %u (worker and engine)\n"
        "memory: %s; %u packets per pass, %u passes per run, %u frames in flight, %d rounds\n"
        "churn: %.0f SAs added and %.0f deleted per second (half inbound, half outbound), %s;\n"
        "       the worker looks at its record ring every poll while it finds records, else every %u us\n",
        worker_lcore, rte_lcore_id(), unsigned(o.burst), huge ? "hugepages" : "anonymous 4 KiB pages (--no-huge)",
        o.packets, o.passes, o.window, o.rounds, o.churn, o.churn, churn_mode.c_str(), o.record_interval_us);

    try {
        run_all(o, **rig, lcore);
    } catch (const std::exception& e) {
        fail(e.what());
    }
    print_summary(o);
    std::printf("\n");
    timer.print_total();
    return 0;
}
