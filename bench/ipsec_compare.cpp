// Side by side on one core, on the same packets, in the same run:
//   ceiling        IPsec-MB computing the same HMACs over the same ESP bytes, nothing else;
//                  with a cipher, IPsec-MB's chained cipher+hash jobs on the same packets
//                  (inbound: hash then decrypt; ceiling_out: encrypt then hash)
//   single_buffer  one HMAC per packet, OpenSSL, keyed states precomputed (the kernel's
//                  shape); integrity-only configurations only
//   librte_*       DPDK's librte_ipsec + the crypto_aesni_mb cryptodev (lookaside, action
//                  type NONE), driven as ipsec-secgw drives it (ipsec_compare_librte.hpp)
//   engine_*       pcscf-esp's Engine::inbound() / outbound()
// for HMAC-SHA-1-96 and HMAC-MD5-96 (--alg=sha256: HMAC-SHA-256-128, RFC 4868), with
// NULL encryption (RFC 2410) or, with --ealg,
// AES-128-CBC (RFC 3602) or 3DES-CBC (RFC 2451); or the combined transforms of TS 33.203
// Annex H: --ealg=aes-gcm (AES-GCM-128, RFC 4106, which pairs with alg=null, so --alg
// does not apply to it) and --alg=aes-gmac (AES-GMAC-128, RFC 4543, which pairs with
// ealg=null only; other --ealg values are skipped for it); transport mode (RFC 4303), IPv4 and
// IPv6, several packet sizes, 1 SA and many. Every configuration is checked first:
// librte_ipsec must accept the ESP packets pcscf-esp sealed and decapsulate them to the
// same bytes, and a pcscf-esp engine playing the UE must accept librte_ipsec's outbound
// ESP; with NULL encryption and an HMAC that ESP must also equal the engine's byte for
// byte, with a cipher or AES-GMAC (IVs differ: the bytes cannot match) the UE must get the
// same inner packets from librte_ipsec's ESP as from the engine's. AES-GCM and AES-GMAC
// inbound packets are sealed by IPsec-MB's own jobs rather than by an engine
// (bench/aead_esp.hpp); with them the ceiling is IPsec-MB's direct GCM calls (inbound
// decrypting, ceiling_out encrypting) or GMAC tags (GCM with the ESP as AAD; one ceiling,
// the same both ways) on the same packets. Otherwise the program stops. Then each
// contender runs `rounds` times, interleaved; every figure is reported as a ratio to the
// ceiling and to librte_ipsec of the same round, min / median / max over the rounds. The
// ceiling also gives each contender's time beyond the hash: ns/packet of the contender
// minus ns/packet of the ceiling in the same round (the same HMACs, and with a cipher the
// same encryption, over packets of the same lengths and keys, from equally cold caches),
// so the engine's and librte_ipsec's own overheads are compared without the cryptography
// both must pay.
//
// Sizes are the ESP packet's IP length; IPv6 starts at 72 bytes (40 + 8 ESP + 8 UDP + 2
// payload + 2 trailer + 12 ICV; 76 with SHA-256's or an AEAD's 16-byte ICV). With a
// cipher, the nearest length whole cipher blocks allow (IV included), as EngineWorkload
// builds it; the tables show that length. librte_ipsec needs about 4.5 KiB per SA for
// both directions (two 1,600-byte crypto_aesni_mb sessions), so it holds at most
// --librte-sas SAs plus those the packets use; memory comes from hugepages when enough
// are free, otherwise from anonymous 4 KiB pages (--no-huge) for every contender alike.
//
//   build/bench/ipsec_compare [--quick] [--rounds=5] [--passes=2] [--sas=1000000]
//       [--librte-sas=1000000] [--sizes=64,512,1400,1500] [--ip=4,6] [--alg=sha1,md5,aes-gmac,sha256]
//       [--ealg=null,aes-cbc,des-ede3-cbc,aes-gcm]
//       [--packets=16384] [--lcore=0] [--csv=FILE] [--huge | --no-huge]
#include <intel-ipsec-mb.h>
#include <rte_cycles.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/bench_args.hpp"
#include "bench/bench_eal.hpp"
#include "bench/engine_workload.hpp"
#include "bench/ipsec_compare_librte.hpp"
#include "bench/single_buffer_hmac.hpp"
#include "bench/spread.hpp"
#include "tests/common/mbuf_util.hpp"

namespace pcscf::bench {
namespace {

using namespace pcscf::esp;
using namespace pcscf::net;

constexpr uint32_t kBurst = 32;

struct Options {
    bool quick = false;
    int rounds = 5;
    uint32_t passes = 2;
    uint32_t packets = 16384;
    uint32_t many_sas = 1'000'000;
    uint32_t librte_sas = 1'000'000;  // at most this many SAs installed in librte_ipsec
    std::vector<uint32_t> sizes = {64, 512, 1400, 1500};
    std::vector<int> ips = {4, 6};
    std::vector<Alg> algs = {Alg::hmac_sha1_96, Alg::hmac_md5_96};
    std::vector<Ealg> ealgs = {Ealg::null};
    std::string csv;
    int lcore = 0;  // the core everything runs on
    int huge = -1;  // -1: hugepages if enough are free, 0: --no-huge, 1: hugepages
};

// kCeiling is the inbound ceiling; kCeilingOut (ciphered only) the outbound one.
enum Who { kCeiling, kCeilingOut, kSingle, kEngineIn, kLibrteIn, kEngineOut, kLibrteOut, kWho };
constexpr std::array<const char*, kWho> kName = {"ceiling",   "ceiling_out", "single_buffer", "engine_in",
                                                 "librte_in", "engine_out",  "librte_out"};

struct Sample {
    double mpps = 0, cycles = 0;  // cycles per packet
};

struct Config {
    int ip = 4;
    Alg alg = Alg::hmac_sha1_96;
    Ealg ealg = Ealg::null;
    uint32_t size = 0;  // IP length of the ESP packet
    uint32_t sas = 1;
    uint32_t librte_sas = 1;  // installed in librte_ipsec
};

struct Result {
    Config cfg;
    std::array<std::vector<Sample>, kWho> runs;
};

const char* alg_label(Alg a) {
    return a == Alg::hmac_sha1_96      ? "sha1"
           : a == Alg::hmac_md5_96     ? "md5"
           : a == Alg::hmac_sha256_128 ? "sha256"
           : a == Alg::aes_gmac        ? "aes-gmac"
                                       : "null";
}
std::string label(const Config& c) {
    if (c.ealg == Ealg::aes_gcm) return "gcm";
    if (c.alg == Alg::aes_gmac) return "gmac";
    const char* cipher = c.ealg == Ealg::aes_cbc ? "aes-" : c.ealg == Ealg::des_ede3_cbc ? "3des-" : "";
    return std::string(cipher) + alg_label(c.alg);
}
// Who runs in a configuration: the outbound ceiling only with a cipher (encrypting costs
// other than decrypting; not AES-GMAC, the same job both ways), the single-buffer HMAC
// only with an HMAC and no cipher.
bool takes_part(const Config& c, int who) {
    if (who == kCeilingOut) return c.ealg != Ealg::null;
    if (who == kSingle) return c.ealg == Ealg::null && is_hmac(c.alg);
    return true;
}
template <typename... A>
std::string cat(const A&... a) {
    std::ostringstream s;
    (s << ... << a);
    return s.str();
}

[[noreturn]] void die(const Config& c, const std::string& what) {
    std::fprintf(stderr, "\nipsec_compare: IPv%d %s %u B %u SAs: %s\n", c.ip, label(c).c_str(), c.size, c.sas,
                 what.c_str());
    std::exit(1);
}

// ---- the contenders' passes over the ring of packets ----

uint32_t engine_pass(EngineWorkload& w, Direction dir) {
    auto& ring = dir == Direction::inbound ? w.inbound() : w.outbound();
    uint32_t good = 0;
    w.process_ring(dir, ring, kBurst, [&](uint16_t n, const net::DropReason*) {
        good += n;
        return true;
    });
    return good;
}

// The ceiling: the inbound packets' HMACs, straight into IPsec-MB; with a cipher, its
// chained cipher+hash jobs on them (in place: the next inbound pass seals them again);
// AES-GCM / AES-GMAC: its direct GCM calls.
uint32_t ceiling_pass(EngineWorkload& w, bool encrypt = false) {
    auto& ring = w.inbound();
    IMB_JOB jobs[kBurst];
    std::memset(jobs, 0, sizeof jobs);
    alignas(16) uint8_t tags[kBurst][16];
    uint32_t done = 0;
    for (size_t pos = 0; pos + kBurst <= ring.size(); pos += kBurst, done += kBurst) {
        if (hmac_only(w.transform())) w.hash_only({&ring[pos], kBurst}, jobs, tags);
        else w.cipher_hash_only({&ring[pos], kBurst}, tags, encrypt);
        asm volatile("" ::"r"(tags) : "memory");
    }
    return done;
}

// The single-buffer baseline with each packet's own SA key.
class SingleBuffer {
public:
    explicit SingleBuffer(const EngineWorkload& w) {
        const auto& used = w.used_sas();
        for (uint32_t sa : used) hmacs_.push_back(std::make_unique<SingleBufferHmac>(w.alg(), w.raw_key(sa)));
        for (const Template& t : const_cast<EngineWorkload&>(w).inbound()) {
            const size_t at = size_t(std::lower_bound(used.begin(), used.end(), t.sa) - used.begin());
            of_.push_back(hmacs_[at].get());
        }
    }
    uint32_t pass(std::span<const Template> ring) const {
        uint8_t tag[kMaxIcvLen];
        uint32_t done = 0;
        for (size_t i = 0; i + kBurst <= ring.size(); i += kBurst)
            for (uint32_t k = 0; k < kBurst; ++k, ++done) {
                of_[i + k]->icv(ring[i + k].esp, ring[i + k].esp_len, tag);
                asm volatile("" ::"r"(tag) : "memory");
            }
        return done;
    }

private:
    std::vector<std::unique_ptr<SingleBufferHmac>> hmacs_;
    std::vector<const SingleBufferHmac*> of_;  // per inbound packet
};

// ---- correctness, once per configuration ----

std::vector<std::vector<uint8_t>> snapshot(std::span<const Template> ring) {
    std::vector<std::vector<uint8_t>> v;
    v.reserve(ring.size());
    for (const Template& t : ring) v.push_back(test::bytes_of(t.m));
    return v;
}

// Puts the packets back to `bytes` (what snapshot() took), as built.
void restore(std::span<Template> ring, const std::vector<std::vector<uint8_t>>& bytes) {
    rte_mbuf* m[1];
    for (size_t i = 0; i < ring.size(); ++i) {
        EngineWorkload::receive(ring.subspan(i, 1), m);
        std::memcpy(rte_pktmbuf_mtod(m[0], uint8_t*), bytes[i].data(), bytes[i].size());
    }
}

// What a fresh pcscf-esp engine holding the UE's side of the SAs makes of the outbound
// ESP packets (it must accept them all).
std::vector<std::vector<uint8_t>> ue_inbound(const Config& c, EngineWorkload& w, std::span<Template> out,
                                             const char* whose) {
    EngineConfig ue_cfg;
    const uint32_t spi0 = w.outbound_record(0).sa.spi, n_spi = std::max<uint32_t>(w.used_sas().back() + 1, 1024);
    ue_cfg.spi = SpiLayout{spi0, 1, n_spi};
    ue_cfg.outbound_capacity = 1024;
    ue_cfg.cipher_capacity = std::max<uint32_t>(uint32_t(w.used_sas().size()), 1024);  // keys of the SAs used
    auto ue = Engine::create(ue_cfg);
    if (!ue) die(c, ue.error());
    for (uint32_t i : w.used_sas())
        if ((*ue)->apply(EngineWorkload::ue_view(w.outbound_record(i))) != 0)
            die(c, "cannot install the UE's view of an SA");
    net::DropReason why[kBurst];
    for (size_t pos = 0; pos + kBurst <= out.size(); pos += kBurst) {
        rte_mbuf* burst[kBurst];
        for (uint32_t k = 0; k < kBurst; ++k) burst[k] = out[pos + k].m;
        if (const uint16_t good = (*ue)->inbound(burst, why); good != kBurst)
            die(c, cat("pcscf-esp refused ", whose, " ESP: ", name(why[good])));
    }
    return snapshot(out);
}

void validate(const Config& c, EngineWorkload& w, LibrteIpsec& lib) {
    const uint32_t n = uint32_t(w.inbound().size() / kBurst * kBurst);
    auto& in = w.inbound();
    const std::span<Template> out{w.outbound().data(), n};
    // Inbound: the packets were sealed by a pcscf-esp engine playing the UE (AES-GCM,
    // AES-GMAC: by IPsec-MB's own jobs). A new workload's sequence numbers start again, so
    // librte_ipsec's SAs get fresh windows.
    if (engine_pass(w, Direction::inbound) != n) die(c, "the engine refused the workload's ESP packets");
    const auto engine_plain = snapshot(in);
    w.next_inbound_pass();
    lib.rewind_inbound();
    if (const uint32_t good = lib.inbound_pass(in); good != n)
        die(c, cat("librte_ipsec accepted only ", good, " of ", n, " ESP packets sealed by pcscf-esp"));
    if (snapshot(in) != engine_plain) die(c, "librte_ipsec and the engine decapsulated to different packets");
    // Outbound, both from the packets as built and fresh sequence numbers.
    const auto plain = snapshot(out);
    if (engine_pass(w, Direction::outbound) != n) die(c, "the engine dropped outbound packets");
    const auto engine_esp = snapshot(out);
    const auto engine_inner = ue_inbound(c, w, out, "the engine's");
    restore(out, plain);
    lib.rewind_outbound();
    if (lib.outbound_pass(out) != n) die(c, "librte_ipsec dropped outbound packets");
    // NULL encryption with an HMAC: the same ESP byte for byte. CBC: each packet's IV is
    // random (engine) or the encrypted sequence number (librte_ipsec); AES-GCM and
    // AES-GMAC: the IV is librte_ipsec's sequence number, whatever the engine's is; so
    // only what the UE gets out of it can match.
    if (hmac_only(*transform(c.alg, c.ealg)) && snapshot(out) != engine_esp)
        die(c, "librte_ipsec's and the engine's ESP packets differ");
    if (ue_inbound(c, w, out, "librte_ipsec's") != engine_inner)
        die(c, "the UE got other inner packets from librte_ipsec's ESP than from the engine's");
    restore(out, plain);
}

// ---- measurement ----

uint64_t thread_cpu_ns() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

// The fastest of `passes` passes over the ring, each from cold caches after `before()`
// (not timed). Time is this thread's CPU time, as Google Benchmark counts it: on a shared
// machine, time slices given to other processes are not the contenders' cost. Cycles are
// TSC cycles.
template <typename Before, typename Run>
Sample measure(const Config& c, const Options& o, uint32_t expect, Before&& before, Run&& run) {
    uint64_t best = UINT64_MAX;
    for (uint32_t p = 0; p < o.passes; ++p) {
        before();
        EngineWorkload::evict_caches();
        const uint64_t t0 = thread_cpu_ns();
        const uint32_t good = run();
        best = std::min(best, thread_cpu_ns() - t0);
        if (good != expect) die(c, cat(expect - good, " packets dropped during the measurement"));
    }
    return {double(expect) * 1e3 / double(best), double(best) * 1e-9 * double(rte_get_tsc_hz()) / double(expect)};
}

void run_config(Result& r, const Options& o, EngineWorkload& w, LibrteIpsec& lib) {
    const Config& c = r.cfg;
    const uint32_t n = uint32_t(w.inbound().size() / kBurst * kBurst);
    const std::optional<SingleBuffer> single =
        takes_part(c, kSingle) ? std::optional<SingleBuffer>(std::in_place, w) : std::nullopt;
    auto nothing = [] {};
    // Both hold the inbound SAs: either passes on the next sequence numbers.
    auto next_inbound = [&] {
        if (!w.next_inbound_pass()) lib.rewind_inbound();
    };
    for (int round = 0; round < o.rounds; ++round) {
        for (int k = 0; k < kWho; ++k) {
            const int who = (k + round) % kWho;  // rotate, so no one always goes first
            if (!takes_part(c, who)) continue;
            Sample s;
            switch (who) {
                case kCeiling: s = measure(c, o, n, nothing, [&] { return ceiling_pass(w); }); break;
                case kCeilingOut: s = measure(c, o, n, nothing, [&] { return ceiling_pass(w, true); }); break;
                case kSingle: s = measure(c, o, n, nothing, [&] { return single->pass(w.inbound()); }); break;
                case kEngineIn:
                    s = measure(c, o, n, next_inbound, [&] { return engine_pass(w, Direction::inbound); });
                    break;
                case kLibrteIn:
                    s = measure(c, o, n, next_inbound, [&] { return lib.inbound_pass(w.inbound()); });
                    break;
                case kEngineOut:
                    s = measure(c, o, n, nothing, [&] { return engine_pass(w, Direction::outbound); });
                    break;
                case kLibrteOut: s = measure(c, o, n, nothing, [&] { return lib.outbound_pass(w.outbound()); }); break;
                default: break;
            }
            r.runs[who].push_back(s);
        }
    }
}

// ---- reporting ----

std::vector<double> rates(const Result& r, int who) {
    std::vector<double> v;
    for (const Sample& s : r.runs[who]) v.push_back(s.mpps);
    return v;
}
Spread mpps(const Result& r, int who) { return spread(rates(r, who)); }
// Round by round: who's rate over base's rate in the same round.
Spread ratio(const Result& r, int who, int base) { return bench::ratio(rates(r, who), rates(r, base)); }
int librte_of(int who) { return who == kEngineIn || who == kLibrteIn ? kLibrteIn : kLibrteOut; }
// The reference of a contender: with a cipher, the outbound ceiling for outbound.
int ceiling_of(const Result& r, int who) {
    return r.cfg.ealg != Ealg::null && (who == kEngineOut || who == kLibrteOut) ? kCeilingOut : kCeiling;
}

// Round by round: who's ns/packet beyond the ceiling's, the time it spends on anything
// but the hash.
std::vector<double> beyond_hash(const Result& r, int who) {
    const std::vector<double> v = rates(r, who), c = rates(r, ceiling_of(r, who));
    std::vector<double> ns;
    for (size_t i = 0; i < std::min(v.size(), c.size()); ++i) ns.push_back(1e3 / v[i] - 1e3 / c[i]);
    return ns;
}
// Round by round: librte_ipsec's time beyond the hash over the engine's (no time beyond
// the hash at all counts as infinitely better).
Spread beyond_ratio(const Result& r, int engine) {
    const std::vector<double> e = beyond_hash(r, engine), l = beyond_hash(r, librte_of(engine));
    std::vector<double> v;
    for (size_t i = 0; i < e.size(); ++i) v.push_back(e[i] > 0 ? l[i] / e[i] : std::numeric_limits<double>::infinity());
    return spread(v);
}

void print_config(const Result& r) {
    const Config& c = r.cfg;
    std::printf("\nIPv%d %s %u B, %u SA%s (librte_ipsec holds %u)\n", c.ip, label(c).c_str(), c.size, c.sas,
                c.sas == 1 ? "" : "s", c.librte_sas);
    std::printf("  %-14s %23s %8s %23s %23s %23s\n", "", "Mpps min/med/max", "cyc/pkt", "/ceiling min/med/max",
                "/librte min/med/max", "ns beyond hash m/m/m");
    for (int who = 0; who < kWho; ++who) {
        if (r.runs[who].empty()) continue;
        const Spread m = mpps(r, who), rc = ratio(r, who, ceiling_of(r, who));
        std::vector<double> cyc;
        for (const Sample& s : r.runs[who]) cyc.push_back(s.cycles);
        std::printf("  %-14s %7.2f %7.2f %7.2f %8.0f %7.2f %7.2f %7.2f", kName[who], m.min, m.median, m.max,
                    spread(cyc).median, rc.min, rc.median, rc.max);
        if (who >= kEngineIn) {
            const Spread rl = ratio(r, who, librte_of(who)), b = spread(beyond_hash(r, who));
            std::printf(" %7.2f %7.2f %7.2f %7.1f %7.1f %7.1f", rl.min, rl.median, rl.max, b.min, b.median, b.max);
        }
        std::printf("\n");
    }
    std::fflush(stdout);
}

void target(const char* what, int met, int rows) {
    std::printf("  %-56s %3d of %-3d %s\n", what, met, rows, met == rows ? "met" : "NOT MET");
}

void print_summary(const std::vector<Result>& results) {
    std::printf(
        "\nSummary: engine against librte_ipsec + crypto_aesni_mb and against the ceiling "
        "(hash-only; with a cipher, IPsec-MB doing the same cipher and hash work; medians of per-round figures, same "
        "run; beyond: "
        "ns/packet minus the ceiling's)\n");
    std::printf("%-4s %-9s %6s %8s %-4s %8s %8s %8s %9s %9s %9s %8s %8s %17s\n", "ip", "alg", "bytes", "SAs", "dir",
                "engine", "librte", "ceiling", "/librte", "/ceiling", "lib/ceil", "eng ns", "lib ns",
                "lib/eng min-max");
    int rows = 0, never_slower = 0, lean = 0;
    std::string misses;
    for (const Result& r : results)
        for (int who : {kEngineIn, kEngineOut}) {
            const Config& c = r.cfg;
            const int lib = librte_of(who);
            const Spread vl = ratio(r, who, lib), over = beyond_ratio(r, who);
            const int ceil = ceiling_of(r, who);
            const double vc = ratio(r, who, ceil).median;
            const char* dir = who == kEngineIn ? "in" : "out";
            std::printf("v%-3d %-9s %6u %8u %-4s %8.2f %8.2f %8.2f %9.2f %9.2f %9.2f %8.1f %8.1f %5.1f %5.1f-%5.1f\n",
                        c.ip, label(c).c_str(), c.size, c.sas, dir, mpps(r, who).median, mpps(r, lib).median,
                        mpps(r, ceil).median, vl.median, vc, ratio(r, lib, ceil).median,
                        spread(beyond_hash(r, who)).median, spread(beyond_hash(r, lib)).median, over.median, over.min,
                        over.max);
            ++rows;
            never_slower += vl.median >= 1;
            lean += over.median >= 5;
            if (vl.median < 1 || over.median < 5) {
                char miss[160];
                std::snprintf(miss, sizeof miss,
                              "  v%d %s %u B %u SA(s) %s: engine/librte %.2f, beyond the hash %.1f\n", c.ip,
                              label(c).c_str(), c.size, c.sas, dir, vl.median, over.median);
                misses += miss;
            }
        }
    std::printf("\nTargets (per configuration and direction, medians of per-round ratios):\n");
    target("engine never slower than librte_ipsec (/librte >= 1)", never_slower, rows);
    target("librte_ipsec's time beyond the hash >= 5x the engine's", lean, rows);
    std::printf("%s", misses.c_str());
}

void write_csv(const std::string& path, const std::vector<Result>& results) {
    std::ofstream f(path);
    f << "ip,alg,bytes,sas,librte_sas,contender,round,mpps,cycles_per_packet,ealg\n";
    for (const Result& r : results)
        for (int who = 0; who < kWho; ++who)
            for (size_t i = 0; i < r.runs[who].size(); ++i)
                f << r.cfg.ip << ',' << alg_label(r.cfg.alg) << ',' << r.cfg.size << ',' << r.cfg.sas << ','
                  << r.cfg.librte_sas << ',' << kName[who] << ',' << i << ',' << r.runs[who][i].mpps << ','
                  << r.runs[who][i].cycles << ',' << name(r.cfg.ealg) << '\n';
}

// ---- options and main ----

// The (alg, ealg) pairs the options ask for, in --ealg order: each HMAC of --alg with each
// ealg but aes-gcm; aes-gcm once, with alg=null (TS 33.203 Annex H); aes-gmac of --alg
// with ealg=null only.
std::vector<std::pair<Alg, Ealg>> pairs(const Options& o) {
    std::vector<std::pair<Alg, Ealg>> v;
    auto add = [&](Alg a, Ealg e) {
        if (transform(a, e) && std::ranges::find(v, std::pair{a, e}) == v.end()) v.emplace_back(a, e);
    };
    for (Ealg e : o.ealgs) {
        if (e == Ealg::aes_gcm) add(Alg::null, e);
        else
            for (Alg a : o.algs) add(a, e);
    }
    return v;
}

Options parse(int argc, char** argv) {
    Options o;
    bool sizes = false, sas = false, rounds = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto val = [&](const char* p) { return a.substr(std::strlen(p)); };
        if (a == "--quick") o.quick = true;
        else if (a == "--huge") o.huge = 1;
        else if (a == "--no-huge") o.huge = 0;
        else if (a.starts_with("--rounds="))
            rounds = true, o.rounds = std::max(1, number_arg<int>("--rounds=", val("--rounds=")));
        else if (a.starts_with("--passes=")) o.passes = std::max(1, number_arg<int>("--passes=", val("--passes=")));
        else if (a.starts_with("--packets=")) o.packets = number_arg<uint32_t>("--packets=", val("--packets="));
        else if (a.starts_with("--sas=")) sas = true, o.many_sas = number_arg<uint32_t>("--sas=", val("--sas="));
        else if (a.starts_with("--librte-sas="))
            o.librte_sas = number_arg<uint32_t>("--librte-sas=", val("--librte-sas="));
        else if (a.starts_with("--csv=")) o.csv = val("--csv=");
        else if (a.starts_with("--lcore=")) o.lcore = number_arg<int>("--lcore=", val("--lcore="));
        else if (a.starts_with("--sizes=")) {
            sizes = true;
            o.sizes = number_list_arg<uint32_t>("--sizes=", val("--sizes="));
        } else if (a.starts_with("--ip=")) {
            o.ips = ip_versions_arg("--ip=", val("--ip="));
        } else if (a.starts_with("--alg=")) {
            o.algs.clear();
            for (size_t w : word_list_arg(a, val("--alg="), {"sha1", "md5", "aes-gmac", "sha256"}))
                o.algs.push_back(
                    std::array{Alg::hmac_sha1_96, Alg::hmac_md5_96, Alg::aes_gmac, Alg::hmac_sha256_128}[w]);
        } else if (a.starts_with("--ealg=")) {
            o.ealgs.clear();
            for (size_t w : word_list_arg(a, val("--ealg="), {"null", "aes-cbc", "des-ede3-cbc", "aes-gcm"}))
                o.ealgs.push_back(std::array{Ealg::null, Ealg::aes_cbc, Ealg::des_ede3_cbc, Ealg::aes_gcm}[w]);
        } else {
            std::fprintf(stderr, "unknown option %s (see the top of bench/ipsec_compare.cpp)\n", argv[i]);
            std::exit(2);
        }
    }
    if (pairs(o).empty()) {
        std::fprintf(stderr,
                     "no ESP transform in --alg x --ealg: aes-gmac goes with ealg=null only, aes-gcm with "
                     "alg=null (it takes no --alg)\n");
        std::exit(2);
    }
    if (o.quick) {  // about ten seconds
        if (!sizes) o.sizes = {512};
        if (!sas) o.many_sas = 100'000;
        if (!rounds) o.rounds = 3;
    }
    o.packets = std::max(kBurst, o.packets / kBurst * kBurst);
    return o;
}

}  // namespace
}  // namespace pcscf::bench

int main(int argc, char** argv) {
    using namespace pcscf::bench;
    const Options o = parse(argc, argv);
    const uint32_t many = std::max(o.many_sas, 2u);
    const uint32_t librte_many = std::min(many, o.librte_sas);
    // Rough need: librte_ipsec ~4.5 KiB per SA (both directions; two 1.6 KiB cryptodev
    // sessions), the engine ~1 KiB (with the UE's engine of the checks), packets and
    // pools ~1 GiB; with a cipher, the engine's expanded CK_ESP ~1 KiB more per SA (both
    // directions).
    const auto configs = pairs(o);
    const bool ciphered =
        std::ranges::any_of(configs, [](const auto& p) { return transform(p.first, p.second) != Transform::hmac; });
    const uint64_t need_mb =
        (uint64_t{librte_many} * 4608 + uint64_t{many} * (ciphered ? 2048 : 1024) + (1ull << 30)) >> 20;
    const bool no_huge = o.huge == 0 || (o.huge < 0 && free_hugepage_bytes() >> 20 < need_mb);
    std::vector<std::string> eal_extra = {"--vdev=crypto_aesni_mb"};
    if (no_huge && need_mb > 6144)  // more than start_eal's -m (the last -m counts)
        eal_extra.insert(eal_extra.end(), {"-m", std::to_string(need_mb)});
    bool huge = false;
    if (!start_eal(argv[0], std::to_string(o.lcore), eal_extra, &huge, no_huge)) return 2;
    // Sessions for both directions of the SAs below the cap and of those the packets use.
    const uint32_t librte_max = many > librte_many ? librte_many + o.packets : librte_many;
    auto dev = CryptoDev::start(2 * librte_max + 64, o.packets);
    if (!dev) {
        std::fprintf(stderr, "ipsec_compare: %s\n", dev.error().c_str());
        return 2;
    }
    std::printf(
        "ipsec_compare: one core, bursts of %u, ring of %u packets, %u pass(es) per "
        "sample, %d rounds interleaved\n",
        kBurst, o.packets, o.passes, o.rounds);
    std::printf(
        "memory: %s; cryptodev session %u B; librte_ipsec holds up to %u SAs per "
        "direction (~%.1f GiB at %u)\n",
        huge ? "hugepages" : "anonymous 4 KiB pages (--no-huge)", (*dev)->session_bytes, librte_many,
        double(librte_bytes_per_sa(**dev)) * 2 * librte_many / (1 << 30), librte_many);
    std::vector<Result> results;
    for (const auto& [alg, ealg] : configs)
        if (!librte_supports(**dev, alg, ealg))
            std::printf("crypto_aesni_mb has no alg=%s ealg=%s with a %u-byte key: its configurations are skipped\n",
                        std::string(name(alg)).c_str(), std::string(name(ealg)).c_str(), cipher_key_len(alg, ealg));
    for (int ip : o.ips)
        for (const auto& [alg, ealg] : configs)
            for (uint32_t sas : {1u, many}) {
                if (!librte_supports(**dev, alg, ealg)) continue;
                std::unique_ptr<LibrteIpsec> lib;  // same SAs for every size: built once
                for (uint32_t size : o.sizes) {
                    Result r;
                    r.cfg = {ip, alg, ealg, EngineWorkload::size_for(size, ip == 6), sas, std::min(sas, librte_many)};
                    std::unique_ptr<EngineWorkload> w;
                    const uint64_t t0 = rte_get_tsc_cycles();
                    try {
                        w = std::make_unique<EngineWorkload>(alg, r.cfg.size, sas, o.packets, ip == 6, ealg);
                        r.cfg.size = w->ip_size();  // with a cipher: whole blocks
                        if (lib) lib->rebind(*w);
                        else lib = std::make_unique<LibrteIpsec>(**dev, *w, sas, librte_many, ip == 6);
                    } catch (const std::exception& e) {
                        die(r.cfg, e.what());
                    }
                    r.cfg.librte_sas = lib->installed();
                    const uint64_t t1 = rte_get_tsc_cycles();
                    validate(r.cfg, *w, *lib);
                    const uint64_t t2 = rte_get_tsc_cycles();
                    run_config(r, o, *w, *lib);
                    print_config(r);
                    const double hz = double(rte_get_tsc_hz());
                    std::printf("  (set-up %.1f s, checks %.1f s, measurement %.1f s)\n", double(t1 - t0) / hz,
                                double(t2 - t1) / hz, double(rte_get_tsc_cycles() - t2) / hz);
                    results.push_back(std::move(r));
                    if (&size == &o.sizes.back()) lib.reset();  // before the workload it points to
                }
            }
    print_summary(results);
    if (!o.csv.empty()) write_csv(o.csv, results);
    return 0;
}
