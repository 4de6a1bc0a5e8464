// SA scale on one core: as the SA count per direction grows from 1 to 4,000,000,
//   memory     bytes per SA of the inbound table (slots by SPI) and of the outbound table
//              (hash buckets + record pool), read from DPDK's malloc heap around their creation
//   throughput Engine::inbound() / outbound() on packets spread at random over the SAs,
//              as engine_benchmark measures it (bursts of 32, cold caches every pass),
//              inbound with the next burst as its look-ahead, as a worker gives it
//   ideal      the least an SA count can cost on the same packets: per packet its crypto
//              (IPsec-MB) and one random 128-byte record of an N-record table, prefetched a
//              burst ahead, read and written, the keys the crypto reads prefetched with it
//              (one key block per SA, as the engine's, for the transforms that have one);
//              the engine's scale (N / 1 SA) is held to the ideal's (engine scale >= 0.9 x
//              ideal scale at every N)
//   lookup     the SA lookup alone, as the engine does it, on random SAs
//   records/s  Engine::apply() of N add records into an empty engine, then N deletes, 16
//              at a time as a worker applies what it takes from its command ring
//   churn      the throughput while SAs are added and deleted at --churn per second on SAs
//              the packets do not use, the records that fell due applied together between bursts
// Every figure is a ratio to a baseline of the same round: throughput and lookup against a
// 1-SA engine kept for the whole run, the ideal against the ideal at 1 SA, records/s
// against adding and deleting one SA, churn against the same engine without records; min /
// median / max over the rounds, which are interleaved (baseline first in odd rounds, last
// in even ones). Every burst must pass every packet, every lookup find its SA and every
// record apply, or the program stops. An SA count whose tables do not fit in the memory
// left is skipped, with the reason.
//
//   build/bench/sa_scale_benchmark [--quick] [--sas-list=1,1k,10k,100k,1M,2M,4M]
//       [--rounds=5] [--passes=8] [--packets=16384] [--size=512]
//       [--alg=sha1|md5|aes-sha1|gcm|gmac|sha256 (HMAC-SHA-1 with AES-CBC; AES-GCM; ...)]
//       [--churn=100000] [--lookups=16384] [--attempts=8] [--lcore=0] [--csv=FILE]
//       [--no-huge] [--look-ahead-sas=N (as pcscf-espd's: the SAs whose records fill this
//       core's L2; 4294967295: never)] [--early-key-sas=16384 (as pcscf-espd's)]
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <expected>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/bench_args.hpp"
#include "bench/bench_eal.hpp"
#include "bench/engine_workload.hpp"
#include "bench/sa_churn.hpp"
#include "bench/spread.hpp"
#include "net/mbuf_ip.hpp"

namespace pcscf::bench {
namespace {

using esp::Alg;
using esp::Direction;
using esp::Engine;
using esp::EngineConfig;
using esp::SaOp;
using esp::SaRecord;
using net::DropReason;

constexpr uint32_t kBurst = 32;

struct Options {
    bool quick = false, no_huge = false;
    std::vector<uint32_t> sas{1, 1'000, 10'000, 100'000, 1'000'000, 2'000'000, 4'000'000};
    int rounds = 5;
    uint32_t passes = 8;  // over the ring of packets (or of lookup keys) per sample
    uint32_t packets = 16384;
    uint32_t size = 512;  // IP length of the ESP packet
    Alg alg = Alg::hmac_sha1_96;
    esp::Ealg ealg = esp::Ealg::null;
    double churn = 100'000;    // SAs added per second, and as many deleted
    uint32_t lookups = 16384;  // random SAs looked up per pass
    uint32_t attempts = 8;     // per pass, while preempted
    unsigned lcore = 0;
    std::string csv;

    esp::Transform transform() const { return esp::transform(alg, ealg).value_or(esp::Transform::hmac); }
    std::string alg_text() const {
        return std::string(esp::name(alg)) + (ealg == esp::Ealg::null ? "" : " / " + std::string(esp::name(ealg)));
    }
};

const char* label(Direction d) { return d == Direction::inbound ? "in" : "out"; }
double seconds(uint64_t tsc) { return double(tsc) / double(rte_get_tsc_hz()); }
double mib(uint64_t bytes) { return double(bytes) / double(1 << 20); }

std::string sas_text(uint64_t n) { return count(n) + (n == 1 ? " SA" : " SAs"); }

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "sa_scale_benchmark: %s\n", what.c_str());
    std::exit(1);
}

uint64_t g_repeated = 0;   // passes measured again because this thread was preempted
uint64_t g_preempted = 0;  // passes counted although preempted (attempts exhausted)

// ---- memory ----------------------------------------------------------------------------

struct Heap {
    uint64_t alloc = 0, free = 0;
};
// DPDK's malloc heaps, all sockets.
Heap heap() {
    Heap h;
    for (unsigned i = 0; i < rte_socket_count(); ++i) {
        rte_malloc_socket_stats s{};
        if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &s) != 0) continue;
        h.alloc += s.heap_allocsz_bytes;
        h.free += s.heap_freesz_bytes;
    }
    return h;
}
// What DPDK can still hand out: its heaps' free space, and hugepages not mapped yet.
uint64_t available(bool huge) { return heap().free + (huge ? free_hugepage_bytes() : 0); }

struct Memory {
    uint32_t in_slots = 0, out_capacity = 0, out_pool = 0;
    size_t in_stride = 0;
    uint64_t in_bytes = 0, out_bytes = 0;  // heap growth for each table alone
    uint64_t engine_bytes = 0;             // heap growth for the whole engine
    uint64_t hugepages_taken = 0;          // free hugepages before - after the engine
};

// Each table alone, created and freed again: the heap's allocated bytes before and after.
std::expected<Memory, std::string> table_memory(const EngineConfig& cfg) {
    Memory m;
    {
        const uint64_t before = heap().alloc;
        auto in = esp::InboundTable::create(cfg.spi.slots_per_worker, cfg.replay_window, SOCKET_ID_ANY);
        if (!in) return std::unexpected(in.error());
        m.in_bytes = heap().alloc - before;
        m.in_slots = in->slots();
        m.in_stride = in->bytes_per_sa();
    }
    const uint64_t before = heap().alloc;
    auto out = esp::OutboundTable::create(cfg.outbound_capacity, SOCKET_ID_ANY);
    if (!out) return std::unexpected(out.error());
    m.out_bytes = heap().alloc - before;
    m.out_capacity = out->capacity();
    m.out_pool = out->pool_size();
    return m;
}

// ---- records applied per second --------------------------------------------------------

// Records a worker takes from its command ring per poll and applies together (dp::Worker).
constexpr uint32_t kRecordGroup = 16;

// Applies `recs` (at most kRecordGroup) as one group; returns how many were refused.
uint32_t apply_group(Engine& e, std::span<const SaRecord> recs) noexcept {
    int result[kRecordGroup];
    e.apply(recs, result);
    return uint32_t(std::count_if(result, result + recs.size(), [](int r) { return r != 0; }));
}

struct ApplyRate {
    double add = 0, del = 0, both = 0;  // records per second; add and del 0 below 64 SAs
};

// Engine::apply() of n adds of SAs 0..n-1 in random order into the empty engine `e`, then
// n deletes in another random order, repeated until at least 524,288 of each were applied;
// kRecordGroup records at a time, as a worker applies them.
// Records are built beforehand in blocks of up to 4,096, outside the time. Adds and
// deletes are timed apart, per block; below 64 SAs a block is too short for that and only
// the two together are timed.
ApplyRate apply_rate(Engine& e, const EngineWorkload& w, Direction dir, uint32_t n, std::mt19937& rng) {
    constexpr uint32_t kBlock = 4096;
    const uint32_t repeat = std::max<uint32_t>(1, ((1u << 19) + n - 1) / n);
    const bool per_block = n >= 64;
    std::vector<uint32_t> order[2];
    std::vector<SaRecord> block[2];
    for (int op = 0; op < 2; ++op) {
        order[op].resize(n);
        std::iota(order[op].begin(), order[op].end(), 0u);
        std::shuffle(order[op].begin(), order[op].end(), rng);
        block[op].resize(std::min(n, kBlock));
    }
    auto build = [&](int op, uint32_t at) {
        for (uint32_t k = 0; k < block[op].size() && at + k < n; ++k) {
            const uint32_t sa = order[op][at + k];
            block[op][k] = dir == Direction::inbound ? w.inbound_record(sa) : w.outbound_record(sa);
            block[op][k].op = op == 0 ? SaOp::add : SaOp::remove;
        }
    };
    if (n <= kBlock) {
        build(0, 0);
        build(1, 0);
    }
    uint64_t tsc[2] = {}, failed = 0;
    const uint64_t t_all = rte_rdtsc();
    for (uint32_t r = 0; r < repeat; ++r)
        for (int op = 0; op < 2; ++op)
            for (uint32_t at = 0; at < n; at += kBlock) {
                if (n > kBlock) build(op, at);
                const uint32_t k = std::min(kBlock, n - at);
                const uint64_t t0 = per_block ? rte_rdtsc() : 0;
                for (uint32_t i = 0; i < k; i += kRecordGroup)
                    failed += apply_group(e, std::span(block[op]).subspan(i, std::min(kRecordGroup, k - i)));
                if (per_block) tsc[op] += rte_rdtsc() - t0;
            }
    const uint64_t all = rte_rdtsc() - t_all;
    if (failed != 0) fail(std::to_string(failed) + " " + label(dir) + "bound records refused at " + sas_text(n));
    const double records = double(n) * repeat;
    if (!per_block) return {0, 0, 2 * records / seconds(all)};
    return {records / seconds(tsc[0]), records / seconds(tsc[1]), 2 * records / seconds(tsc[0] + tsc[1])};
}

// ---- passes, repeated while preempted ---------------------------------------------------

struct Timed {
    uint64_t tsc = 0, items = 0;  // items: churn records applied in the time
};

// Runs `pass` (set-up outside its time, then the timed part) --passes times; a pass during
// which this thread lost its CPU to another task is run again, up to --attempts times.
template <typename Pass>
Timed timed_passes(const Options& o, Pass&& pass) {
    Timed sum;
    for (uint32_t p = 0; p < o.passes; ++p)
        for (uint32_t attempt = 1;; ++attempt) {
            const uint64_t before = preemptions_of_self();
            const Timed t = pass();
            const bool hit = preemptions_of_self() != before;
            if (hit && attempt < o.attempts) {
                ++g_repeated;
                continue;
            }
            g_preempted += hit;
            sum.tsc += t.tsc;
            sum.items += t.items;
            break;
        }
    return sum;
}

// ---- throughput ------------------------------------------------------------------------

// Records of the churn applied by the engine itself, as a worker applies what it takes
// from its command ring between bursts: together, up to kRecordGroup at a time.
class EngineSink : public RecordSink {
public:
    explicit EngineSink(Engine& e) noexcept : e_(e) {}
    bool try_send(const SaRecord& r) noexcept override {
        pending_[n_++] = r;
        if (n_ == kRecordGroup) flush();
        return true;
    }
    void send(const SaRecord& r) override { try_send(r); }
    void flush() noexcept override {
        failed_ += apply_group(e_, {pending_, n_});
        n_ = 0;
    }
    uint64_t failed() const noexcept { return failed_; }

private:
    Engine& e_;
    SaRecord pending_[kRecordGroup];
    uint32_t n_ = 0;
    uint64_t failed_ = 0;
};

struct Rate {
    double mpps = 0, cycles = 0;  // TSC cycles per packet
    double churn = 0;             // SAs added (and as many deleted) per second, achieved
};

// The rate of --passes passes of `per_pass` packets that took `t`.
Rate rate_of(const Options& o, size_t per_pass, const Timed& t) {
    const double packets = double(per_pass) * o.passes;
    return {packets / seconds(t.tsc) / 1e6, double(t.tsc) / packets, double(t.items) / 2 / seconds(t.tsc)};
}

// As engine_benchmark: before each burst the packets are written back as built (in the
// time); before each pass the ESP packets get the next sequence numbers and the caches are
// flushed (outside it). With `churn`, the records that fell due are applied after each
// burst (in the time).
Rate throughput(const Options& o, EngineWorkload& w, Direction dir, uint32_t sas, Churn* churn) {
    auto& ring = dir == Direction::inbound ? w.inbound() : w.outbound();
    const size_t n = ring.size() / kBurst * kBurst;
    EngineSink sink(w.engine());
    const Timed t = timed_passes(o, [&] {
        if (dir == Direction::inbound) w.next_inbound_pass();
        if (churn != nullptr) churn->prime(sink);
        EngineWorkload::evict_caches();
        const uint64_t t0 = rte_rdtsc();
        if (churn != nullptr) churn->start(t0);
        w.process_ring(dir, {ring.data(), n}, kBurst, [&](uint16_t good, const DropReason* why) {
            if (good != kBurst)
                fail(std::string(label(dir)) + "bound at " + sas_text(sas) + (churn ? " with churn" : "") + ": " +
                     std::to_string(good) + " of " + std::to_string(kBurst) +
                     " packets passed, first drop: " + std::string(net::name(why[good])));
            if (churn != nullptr) churn->tick(sink, rte_rdtsc());
            return true;
        });
        const uint64_t t1 = rte_rdtsc();
        const uint64_t records = churn != nullptr ? churn->records() : 0;
        if (churn != nullptr) churn->unwind(sink);
        return Timed{t1 - t0, records};
    });
    if (sink.failed() != 0) fail(std::to_string(sink.failed()) + " churn records refused at " + sas_text(sas));
    return rate_of(o, n, t);
}

// ---- the ideal -------------------------------------------------------------------------

// The least work N SAs can cost a packet: its HMAC (IPsec-MB, as EngineWorkload::hash_only;
// with a cipher or AES-GCM/GMAC, the crypto as cipher_hash_only has it done, decrypting) and
// one 128-byte record of N, its SA's, prefetched a burst ahead, then read and written (an SA
// lookup must at least bring the record in, and the replay window and counters change with
// every packet). Where the engine keeps an SA's keys in a key block of their own (a cipher,
// AES-GCM/GMAC, HMAC-SHA-256's states), the crypto reads them from one copy per SA (N of
// them, as the engine's blocks), prefetched with the record; MD5 and SHA-1 keys, which the
// engine keeps in the record, come from the workload's few thousand, prefetched too. Same
// packets as the engine's throughput, cold caches every pass; what it loses from 1 to N
// SAs is what memory costs at N, and the engine's loss is held to it.
class Ideal {
public:
    Ideal(EngineWorkload& w, uint32_t records) : w_(w), tf_(w.transform()) {
        table_.reset(alloc<Record>("ideal_records", records));
        if (tf_ == esp::Transform::cbc_hmac) cbc_.reset(alloc<esp::CipherKeys>("ideal_cbc_keys", records));
        if (esp::is_aead(tf_)) aead_.reset(alloc<AeadKey>("ideal_aead_keys", records));
        if (w.alg() == Alg::hmac_sha256_128) hmac_.reset(alloc<esp::HmacKey>("ideal_hmac_keys", records));
        for (uint32_t sa = 0; sa < records; ++sa) {
            if (cbc_) std::memcpy(static_cast<void*>(&cbc_.get()[sa]), &w.cipher_keys(sa), sizeof(esp::CipherKeys));
            if (aead_) std::memcpy(static_cast<void*>(&aead_.get()[sa]), &w.aead_key(sa), sizeof(AeadKey));
            if (hmac_) hmac_.get()[sa] = w.key(sa);
        }
        w.use_reference_keys({hmac_.get(), cbc_.get(), aead_.get()});
        std::memset(jobs_, 0, sizeof jobs_);
    }
    ~Ideal() { w_.use_reference_keys({}); }
    Ideal(const Ideal&) = delete;
    Ideal& operator=(const Ideal&) = delete;

    // Its memory at N SAs of transform `tf` (`sha256`: HMAC-SHA-256).
    static uint64_t bytes(uint32_t records, esp::Transform tf, bool sha256) {
        const size_t keys = tf == esp::Transform::cbc_hmac ? sizeof(esp::CipherKeys)
                            : esp::is_aead(tf)             ? sizeof(AeadKey)
                                                           : 0;
        return uint64_t{records} * (sizeof(Record) + keys + (sha256 ? sizeof(esp::HmacKey) : 0));
    }

    Rate rate(const Options& o) {
        const auto& ring = w_.inbound();
        const size_t n = ring.size() / kBurst * kBurst;
        const Timed t = timed_passes(o, [&] {
            EngineWorkload::evict_caches();
            const uint64_t t0 = rte_rdtsc();
            prefetch(ring, 0);
            for (size_t pos = 0; pos < n; pos += kBurst) {
                if (pos + kBurst < n) prefetch(ring, pos + kBurst);
                for (size_t k = pos; k < pos + kBurst; ++k) {
                    Record& r = table_.get()[ring[k].sa];
                    r.word[0] += 1;  // both lines read and written
                    r.word[8] += r.word[0];
                }
                if (esp::hmac_only(tf_)) w_.hash_only({&ring[pos], kBurst}, jobs_, tags_);
                else w_.cipher_hash_only({&ring[pos], kBurst}, tags_);
            }
            return Timed{rte_rdtsc() - t0, 0};
        });
        return rate_of(o, n, t);
    }

private:
    struct alignas(64) Record {
        uint64_t word[16];
    };
    template <class T>
    static T* alloc(const char* name, uint32_t n) {
        auto* p = static_cast<T*>(rte_zmalloc(name, size_t{n} * sizeof(T), 64));
        if (p == nullptr) throw std::runtime_error(std::string("no memory for the ideal's ") + name);
        return p;
    }
    // A burst's records and the keys its crypto reads.
    void prefetch(const std::vector<Template>& ring, size_t at) const noexcept {
        for (size_t k = at; k < at + kBurst; ++k) {
            const uint32_t sa = ring[k].sa;
            net::prefetch_for_write(&table_.get()[sa].word[0]);
            net::prefetch_for_write(&table_.get()[sa].word[8]);
            if (hmac_) rte_prefetch0(&hmac_.get()[sa]);
            else if (esp::is_hmac(w_.alg())) rte_prefetch0(&w_.key(sa));
            if (cbc_) cbc_.get()[sa].prefetch(tf_, w_.ealg(), true);
            if (aead_) net::prefetch_lines(&aead_.get()[sa], &aead_.get()[sa] + 1);
        }
    }

    EngineWorkload& w_;
    esp::Transform tf_;
    struct Free {
        void operator()(void* p) const noexcept { rte_free(p); }
    };
    std::unique_ptr<Record, Free> table_;
    std::unique_ptr<esp::CipherKeys, Free> cbc_;  // per SA: AES-CBC
    std::unique_ptr<AeadKey, Free> aead_;         // per SA: AES-GCM / GMAC
    std::unique_ptr<esp::HmacKey, Free> hmac_;    // per SA: HMAC-SHA-256
    IMB_JOB jobs_[kBurst];
    alignas(16) uint8_t tags_[kBurst][16];
};

// ---- lookup alone ----------------------------------------------------------------------

// The SA lookup as the engine does it for a chunk of 32 packets, and nothing else:
// inbound, the slot the SPI names (prefetch its two lines, then compare the SPI);
// outbound, OutboundTable::find_bulk on the selectors (which brings the record in), then its SPI.
// Keys of SAs drawn at random among the installed ones. Before each pass the caches are
// flushed and the keys read back in (a packet's headers are in the cache when the engine
// looks its SA up), so what is timed is the tables' cost. Four times --passes passes.
class Lookups {
public:
    Lookups(EngineWorkload& w, uint32_t sas, uint32_t n, uint32_t seed) : e_(w.engine()), sas_(sas) {
        std::mt19937 rng(seed);
        const esp::SpiLayout& layout = e_.config().spi;
        for (uint32_t i = 0; i < std::max(kBurst, n / kBurst * kBurst); ++i) {
            const uint32_t sa = sas == 1 ? 0 : uint32_t(rng() % sas);
            const SaRecord in = w.inbound_record(sa), out = w.outbound_record(sa);
            slot_.push_back(layout.slot(in.sa.spi));
            spi_in_.push_back(in.sa.spi);
            key_.push_back({out.sa.ue_addr, out.sa.ue_port, out.sa.pcscf_port});
            spi_out_.push_back(out.sa.spi);
        }
    }

    // Nanoseconds per lookup.
    double ns(const Options& o, Direction dir) const {
        Options more = o;
        more.passes = 4 * o.passes;
        const Timed t = timed_passes(more, [&] {
            EngineWorkload::evict_caches();
            warm_keys();
            const uint64_t t0 = rte_rdtsc();
            const uint64_t wrong = dir == Direction::inbound ? inbound() : outbound();
            const uint64_t t1 = rte_rdtsc();
            if (wrong != 0)
                fail(std::to_string(wrong) + " " + label(dir) + "bound lookups missed at " + sas_text(sas_));
            return Timed{t1 - t0, 0};
        });
        return seconds(t.tsc) * 1e9 / double(slot_.size() * more.passes);
    }

private:
    void warm_keys() const noexcept {
        uint64_t sum = 0;
        for (size_t i = 0; i < slot_.size(); ++i) sum += slot_[i] + spi_in_[i] + spi_out_[i] + key_[i].ue_port;
        asm volatile("" ::"r"(sum));
    }
    uint64_t inbound() const noexcept {
        const esp::InboundTable& t = e_.inbound_sas();
        uint64_t wrong = 0;
        for (size_t at = 0; at < slot_.size(); at += kBurst) {
            for (size_t k = at; k < at + kBurst; ++k) t.prefetch(slot_[k]);
            for (size_t k = at; k < at + kBurst; ++k) wrong += t.at(slot_[k]).spi != spi_in_[k];
        }
        return wrong;
    }
    uint64_t outbound() const noexcept {
        const esp::OutboundTable& t = e_.outbound_sas();
        const esp::OutboundKey* keys[kBurst];
        int32_t pos[kBurst];
        uint64_t wrong = 0;
        for (size_t at = 0; at < key_.size(); at += kBurst) {
            for (uint32_t k = 0; k < kBurst; ++k) keys[k] = &key_[at + k];
            t.find_bulk(keys, kBurst, pos);  // and brings the records in, as the engine's lookup does
            for (uint32_t k = 0; k < kBurst; ++k) wrong += pos[k] < 0 || t.at(pos[k]).spi != spi_out_[at + k];
        }
        return wrong;
    }

    const Engine& e_;
    uint32_t sas_;
    std::vector<uint32_t> slot_, spi_in_, spi_out_;
    std::vector<esp::OutboundKey> key_;
};

// ---- results ---------------------------------------------------------------------------

// One figure at one SA count, round by round, with its baseline of the same round.
struct Series {
    std::vector<double> value, base;
    void add(double v, double b) {
        value.push_back(v);
        base.push_back(b);
    }
    Spread values() const { return spread(value); }
    Spread ratios() const { return ratio(value, base); }
};

struct Count {
    uint32_t sas = 0;
    std::string skipped;  // why it was not measured (or only in part)
    Memory mem;
    std::map<std::string, Series> fig;
};

// ---- one SA count ----------------------------------------------------------------------

struct Baseline {
    EngineWorkload& w;  // 1 SA: the throughput and lookup baseline
    Engine& apply;      // empty, 1,024 slots: the records/s baseline
    const Lookups& lookups;
    Ideal& ideal;  // on w's packets, 1 record
};

// Memory, and records applied per second, on an engine of its own (created empty and
// freed again before the traffic's engine is built, so that both need not fit at once).
bool measure_tables(const Options& o, Count& c, Baseline& b, bool huge, std::mt19937& rng) {
    const EngineConfig cfg = EngineWorkload::engine_config(c.sas, o.transform());
    auto mem = table_memory(cfg);
    if (!mem) {
        c.skipped = "tables do not fit: " + mem.error() + "; " + count(available(huge) >> 20) + " MiB free";
        return false;
    }
    c.mem = *mem;
    const uint64_t before = heap().alloc, huge_before = free_hugepage_bytes();
    auto e = Engine::create(cfg);
    if (!e) {
        c.skipped = "engine does not fit: " + e.error() + "; " + count(available(huge) >> 20) + " MiB free";
        return false;
    }
    c.mem.engine_bytes = heap().alloc - before;
    c.mem.hugepages_taken = huge_before - std::min(huge_before, free_hugepage_bytes());
    c.fig["in_bytes_per_sa"].add(double(c.mem.in_bytes) / c.sas, sizeof(esp::InboundSa));
    c.fig["out_bytes_per_sa"].add(double(c.mem.out_bytes) / c.sas, sizeof(esp::OutboundSa));
    std::printf(
        "  memory: inbound %.1f MiB (%s slots x %zu B + 8 B of drop counter), "
        "outbound %.1f MiB (buckets and per-SA side arrays %.1f MiB + %s records x %zu B), engine %.1f MiB, "
        "hugepages taken %.0f MiB\n",
        mib(c.mem.in_bytes), count(c.mem.in_slots).c_str(), c.mem.in_stride, mib(c.mem.out_bytes),
        mib(c.mem.out_bytes - uint64_t{c.mem.out_pool} * sizeof(esp::OutboundSa)), count(c.mem.out_pool).c_str(),
        sizeof(esp::OutboundSa), mib(c.mem.engine_bytes), mib(c.mem.hugepages_taken));
    for (int round = 0; round < o.rounds; ++round) {
        std::string line = "  records round " + std::to_string(round + 1) + ":";
        for (Direction dir : {Direction::inbound, Direction::outbound}) {
            ApplyRate one, n;
            if (round % 2 == 0) one = apply_rate(b.apply, b.w, dir, 1, rng);
            n = apply_rate(**e, b.w, dir, c.sas, rng);
            if (round % 2 == 1) one = apply_rate(b.apply, b.w, dir, 1, rng);
            const std::string d = label(dir);
            c.fig[d + "_records_per_s"].add(n.both, one.both);
            if (n.add > 0) {
                c.fig[d + "_adds_per_s"].add(n.add, one.both);
                c.fig[d + "_deletes_per_s"].add(n.del, one.both);
            }
            char buf[128];
            std::snprintf(buf, sizeof buf, "  %s %.2f M/s (1 SA %.2f M/s)", d.c_str(), n.both / 1e6, one.both / 1e6);
            line += buf;
            if (n.add > 0) {
                std::snprintf(buf, sizeof buf, " adds %.2f, deletes %.2f", n.add / 1e6, n.del / 1e6);
                line += buf;
            }
        }
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
    }
    return true;
}

// Throughput, lookups and churn on the traffic's engine, against the baselines.
void measure_traffic(const Options& o, Count& c, Baseline& b, bool huge) {
    // The engine as measured above, the packet pool (mbufs of 2 KiB + headers), the ideal's
    // records and slack.
    const uint64_t need = c.mem.engine_bytes + (2ull * o.packets + 1024) * 2560 +
                          Ideal::bytes(c.sas, o.transform(), o.alg == Alg::hmac_sha256_128) + (32 << 20);
    if (const uint64_t have = available(huge); have < need) {
        c.skipped = "traffic engine does not fit: needs ~" + count(need >> 20) + " MiB, " + count(have >> 20) +
                    " MiB free (hugepages free: " + count(free_hugepage_bytes() >> 20) + " MiB)";
        return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::unique_ptr<EngineWorkload> w;
    std::unique_ptr<Ideal> ideal;
    try {
        w = std::make_unique<EngineWorkload>(o.alg, o.size, c.sas, o.packets, false, o.ealg);
        ideal = std::make_unique<Ideal>(*w, c.sas);
    } catch (const std::exception& e) {
        c.skipped = std::string("traffic engine could not be built: ") + e.what();
        return;
    }
    const Lookups lookups(*w, c.sas, o.lookups, c.sas);
    Churn churn(*w, c.sas, o.churn, 0);
    std::printf("  traffic engine built in %.1f s; %s packets over %s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), count(o.packets).c_str(),
                sas_text(w->used_sas().size()).c_str());
    for (int round = 0; round < o.rounds; ++round) {
        std::string line = "  traffic round " + std::to_string(round + 1) + ":";
        const bool base_first = round % 2 == 0;
        Rate ideal_one, ideal_n;
        if (base_first) ideal_one = b.ideal.rate(o);
        ideal_n = ideal->rate(o);
        if (!base_first) ideal_one = b.ideal.rate(o);
        const double ideal_scale = ideal_n.mpps / ideal_one.mpps;
        c.fig["ideal_mpps"].add(ideal_n.mpps, ideal_one.mpps);
        char buf[160];
        std::snprintf(buf, sizeof buf, "  ideal %.2f Mpps (1 SA %.2f; %.3f)", ideal_n.mpps, ideal_one.mpps,
                      ideal_scale);
        line += buf;
        for (Direction dir : {Direction::inbound, Direction::outbound}) {
            Rate one, n, churned;
            double l1 = 0, ln = 0;
            if (base_first) one = throughput(o, b.w, dir, 1, nullptr), l1 = b.lookups.ns(o, dir);
            n = throughput(o, *w, dir, c.sas, nullptr);
            churned = throughput(o, *w, dir, c.sas, &churn);
            ln = lookups.ns(o, dir);
            if (!base_first) one = throughput(o, b.w, dir, 1, nullptr), l1 = b.lookups.ns(o, dir);
            const std::string d = label(dir);
            c.fig[d + "_mpps"].add(n.mpps, one.mpps);
            c.fig[d + "_cycles"].add(n.cycles, one.cycles);
            c.fig[d + "_lookup_ns"].add(ln, l1);
            c.fig[d + "_churn_mpps"].add(churned.mpps, n.mpps);
            c.fig[d + "_churn_sas_per_s"].add(churned.churn, o.churn);
            c.fig[d + "_scale_vs_ideal"].add(n.mpps / one.mpps, ideal_scale);
            std::snprintf(buf, sizeof buf,
                          "  %s %.2f Mpps (1 SA %.2f; %.3f), churn %.2f (%.3f), lookup %.1f ns (1 SA %.1f)", d.c_str(),
                          n.mpps, one.mpps, n.mpps / one.mpps, churned.mpps, churned.mpps / n.mpps, ln, l1);
            line += buf;
        }
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
    }
}

// ---- summary ---------------------------------------------------------------------------

// A column of a summary table: a figure's median over the rounds, times `scale`, and
// with a `ratio` header also its ratio to its baseline, median [min-max].
struct Column {
    const char* name;
    const char* fig;
    double scale;
    const char* fmt;
    const char* ratio = nullptr;
};

std::string cell(const Count& c, const Column& col) {
    const auto it = c.fig.find(col.fig);
    if (it == c.fig.end()) return col.ratio ? "- | -" : "-";
    char buf[96];
    const int n = std::snprintf(buf, sizeof buf, col.fmt, it->second.values().median * col.scale);
    if (col.ratio) {
        const Spread r = it->second.ratios();
        std::snprintf(buf + n, sizeof buf - size_t(n), " | %.3f [%.3f-%.3f]", r.median, r.min, r.max);
    }
    return buf;
}

// A markdown table, a row per SA count that has the first column's figure; with `slots`,
// the tables' sizes after the SA count.
void print_table(const std::vector<Count>& counts, std::initializer_list<Column> cols, bool slots = false) {
    std::string head = "| SAs |", rule = "|---:|";
    if (slots) head += " table slots in / out |", rule += "---:|";
    for (const Column& col : cols) {
        head += std::string(" ") + col.name + " |", rule += "---:|";
        if (col.ratio) head += std::string(" ") + col.ratio + " |", rule += "---:|";
    }
    std::printf("%s\n%s\n", head.c_str(), rule.c_str());
    for (const Count& c : counts) {
        if (!c.fig.count(cols.begin()->fig)) continue;
        std::string row = "| ";
        row.append(count(c.sas)).append(" |");
        if (slots)
            row.append(" ").append(count(c.mem.in_slots)).append(" / ").append(count(c.mem.out_capacity)).append(" |");
        for (const Column& col : cols) row.append(" ").append(cell(c, col)).append(" |");
        std::printf("%s\n", row.c_str());
    }
}

void print_summary(const Options& o, const std::vector<Count>& counts) {
    std::printf("\nMedian of %d rounds; ratios to the same round's baseline, median [min-max]\n", o.rounds);
    std::printf(
        "\nMemory per SA (DPDK heap bytes of each table / SAs) and records applied per second\n"
        "(adds and deletes; ratio: to adding and deleting 1 SA)\n\n");
    print_table(counts,
                {{"in B/SA", "in_bytes_per_sa", 1, "%.0f"},
                 {"out B/SA", "out_bytes_per_sa", 1, "%.0f"},
                 {"in records/s", "in_records_per_s", 1e-6, "%.2f M", "/ 1 SA"},
                 {"out records/s", "out_records_per_s", 1e-6, "%.2f M", "/ 1 SA"},
                 {"in adds/s", "in_adds_per_s", 1e-6, "%.2f M"},
                 {"in deletes/s", "in_deletes_per_s", 1e-6, "%.2f M"},
                 {"out adds/s", "out_adds_per_s", 1e-6, "%.2f M"},
                 {"out deletes/s", "out_deletes_per_s", 1e-6, "%.2f M"}},
                true);
    std::printf(
        "\nThroughput (%s %u B, bursts of 32; ratio: to the 1-SA engine) and the lookup "
        "alone (ns per lookup; ratio: cost against 1 SA)\n\n",
        o.alg_text().c_str(), o.size);
    print_table(counts, {{"in Mpps", "in_mpps", 1, "%.2f", "/ 1 SA"},
                         {"in cycles/pkt", "in_cycles", 1, "%.0f"},
                         {"out Mpps", "out_mpps", 1, "%.2f", "/ 1 SA"},
                         {"out cycles/pkt", "out_cycles", 1, "%.0f"},
                         {"in lookup ns", "in_lookup_ns", 1, "%.1f", "x 1 SA"},
                         {"out lookup ns", "out_lookup_ns", 1, "%.1f", "x 1 SA"}});
    std::printf(
        "\nScale against the ideal (per packet its crypto and one random 128-byte record of N, prefetched a burst "
        "ahead with the keys the crypto reads, read and written): engine scale = engine / 1-SA engine, ideal "
        "scale = ideal / ideal at 1 SA, "
        "same round; target: engine scale >= 0.9 x ideal scale\n\n");
    print_table(counts, {{"ideal Mpps", "ideal_mpps", 1, "%.2f", "ideal scale"},
                         {"in scale", "in_scale_vs_ideal", 1, "%.3f", "/ ideal scale"},
                         {"out scale", "out_scale_vs_ideal", 1, "%.3f", "/ ideal scale"}});
    std::printf(
        "\nThroughput while %s SAs/s are added and as many deleted (records applied between "
        "bursts as they fall due, half inbound, half outbound; ratio: to the same engine "
        "without records)\n\n",
        count(uint64_t(o.churn)).c_str());
    print_table(counts, {{"in Mpps with records", "in_churn_mpps", 1, "%.2f", "/ without"},
                         {"out Mpps with records", "out_churn_mpps", 1, "%.2f", "/ without"},
                         {"SAs/s achieved", "in_churn_sas_per_s", 1, "%.0f"}});
    std::string skipped;
    for (const Count& c : counts)
        if (!c.skipped.empty()) skipped += "  " + sas_text(c.sas) + ": " + c.skipped + "\n";
    if (!skipped.empty()) std::printf("\nSkipped or measured in part:\n%s", skipped.c_str());

    // The verdict: at every SA count and in both directions, the engine's scale at least
    // 0.9 of the ideal's (the median of the per-round ratios).
    double worst = 2, worst_round = 2;
    std::string where, missing;
    for (const Count& c : counts) {
        if (!c.fig.count("in_scale_vs_ideal")) missing += (missing.empty() ? "" : ", ") + sas_text(c.sas);
        for (const char* d : {"in", "out"}) {
            const auto it = c.fig.find(std::string(d) + "_scale_vs_ideal");
            if (it == c.fig.end()) continue;
            const Spread r = it->second.ratios();
            worst_round = std::min(worst_round, r.min);
            if (r.median < worst) {
                worst = r.median;
                where = std::string(d) + "bound at " + sas_text(c.sas);
            }
        }
    }
    if (where.empty()) {
        std::printf("\nverdict: engine scale >= 0.9 x ideal scale: NOT SHOWN (no SA count measured)\n");
        return;
    }
    std::printf(
        "\nverdict: engine scale >= 0.9 x ideal scale at every SA count: %s (worst median %.3f, %s; worst "
        "single round %.3f)%s%s\n",
        worst >= 0.9 ? "MET" : "NOT MET", worst, where.c_str(), worst_round, missing.empty() ? "" : "; NOT SHOWN for ",
        missing.c_str());
}

// One row per figure, SA count and round: its value, its baseline and their ratio.
// Baselines: *_mpps, *_cycles, *_lookup_ns: the 1-SA engine; ideal_mpps: the ideal at 1 SA;
// *_scale_vs_ideal: the engine's scale (N / 1 SA) against the ideal's; *_records_per_s,
// *_adds_per_s, *_deletes_per_s: adding and deleting 1 SA; *_churn_mpps: the same engine
// without records; *_churn_sas_per_s: the rate asked for; *_bytes_per_sa: an SA record (128 B).
void write_csv(const std::string& path, const std::vector<Count>& counts) {
    std::ofstream f(path);
    f << "sas,figure,round,value,baseline,ratio\n";
    for (const Count& c : counts)
        for (const auto& [name, s] : c.fig)
            for (size_t i = 0; i < s.value.size(); ++i)
                f << c.sas << ',' << name << ',' << i << ',' << s.value[i] << ',' << s.base[i] << ','
                  << (s.base[i] > 0 ? s.value[i] / s.base[i] : 0) << '\n';
    if (!f) fail("cannot write " + path);
}

// ---- options and main ------------------------------------------------------------------

uint32_t parse_count(const std::string& s) {  // 100k, 4M, 4000000
    size_t end = 0;
    const double v = std::stod(s, &end);
    const std::string unit = s.substr(end);
    const double scale = unit == "k" || unit == "K" ? 1e3 : unit == "M" || unit == "m" ? 1e6 : 1;
    if (!unit.empty() && scale == 1) throw std::invalid_argument("bad count " + s);
    return uint32_t(v * scale);
}

Options parse(int argc, char** argv) {
    Options o;
    bool list = false, rounds = false, passes = false;
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            auto val = [&](const char* p) { return a.substr(std::strlen(p)); };
            auto num = [&](const char* p) { return number_arg<uint32_t>(p, val(p)); };
            if (a == "--quick") o.quick = true;
            else if (a == "--no-huge") o.no_huge = true;
            else if (a.starts_with("--sas-list=")) {
                list = true;
                o.sas.clear();
                std::stringstream in(val("--sas-list="));
                for (std::string item; std::getline(in, item, ',');) o.sas.push_back(std::max(1u, parse_count(item)));
            } else if (a.starts_with("--rounds="))
                rounds = true, o.rounds = std::max(1, number_arg<int>("--rounds=", val("--rounds=")));
            else if (a.starts_with("--passes=")) passes = true, o.passes = std::max(1u, num("--passes="));
            else if (a.starts_with("--packets=")) o.packets = std::max(kBurst, num("--packets=") / kBurst * kBurst);
            else if (a.starts_with("--size=")) o.size = num("--size=");
            else if (a.starts_with("--alg=")) {
                constexpr std::pair<Alg, esp::Ealg> kAlgs[] = {
                    {Alg::hmac_sha1_96, esp::Ealg::null},    {Alg::hmac_md5_96, esp::Ealg::null},
                    {Alg::hmac_sha1_96, esp::Ealg::aes_cbc}, {Alg::null, esp::Ealg::aes_gcm},
                    {Alg::aes_gmac, esp::Ealg::null},        {Alg::hmac_sha256_128, esp::Ealg::null}};
                std::tie(o.alg, o.ealg) =
                    kAlgs[word_arg(a, val("--alg="), {"sha1", "md5", "aes-sha1", "gcm", "gmac", "sha256"})];
            } else if (a.starts_with("--churn="))
                o.churn = std::max(1.0, number_arg<double>("--churn=", val("--churn=")));
            else if (a.starts_with("--lookups=")) o.lookups = num("--lookups=");
            else if (a.starts_with("--attempts=")) o.attempts = std::max(1u, num("--attempts="));
            else if (a.starts_with("--lcore=")) o.lcore = num("--lcore=");
            else if (a.starts_with("--csv=")) o.csv = val("--csv=");
            else if (a.starts_with("--look-ahead-sas=")) EngineWorkload::look_ahead_from = num("--look-ahead-sas=");
            else if (a.starts_with("--early-key-sas=")) EngineWorkload::early_keys_from = num("--early-key-sas=");
            else throw std::invalid_argument("unknown option " + a);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sa_scale_benchmark: %s (see the top of bench/sa_scale_benchmark.cpp)\n", e.what());
        std::exit(2);
    }
    if (o.quick) {  // about a minute: 4 SA counts, 2 rounds, shorter samples
        if (!list) o.sas = {1, 100'000, 1'000'000, 4'000'000};
        if (!rounds) o.rounds = 2;
        if (!passes) o.passes = 4;
    }
    std::sort(o.sas.begin(), o.sas.end());
    o.sas.erase(std::unique(o.sas.begin(), o.sas.end()), o.sas.end());
    return o;
}

int run(const char* prog, const Options& o) {
    const RunTimer timer;
    bool huge = false;
    if (!start_eal(prog, std::to_string(o.lcore), {}, &huge, o.no_huge)) return 2;
    std::printf(
        "sa_scale_benchmark: one core (lcore %u), %s %u B, bursts of %u, ring of %s "
        "packets, %u passes per sample, %d rounds interleaved; churn %s SAs/s; inbound looks a burst "
        "ahead from %u SAs, key blocks are requested early from %u\n"
        "memory: %s, %s MiB free for DPDK\n",
        o.lcore, o.alg_text().c_str(), o.size, kBurst, count(o.packets).c_str(), o.passes, o.rounds,
        count(uint64_t(o.churn)).c_str(), EngineWorkload::look_ahead_from, EngineWorkload::early_keys_from,
        huge ? "2 MiB hugepages" : "anonymous 4 KiB pages (--no-huge)", count(available(huge) >> 20).c_str());
    std::vector<Count> counts;
    try {
        // The baselines, alive for the whole run.
        EngineWorkload one(o.alg, o.size, 1, o.packets, false, o.ealg);
        auto apply_one = Engine::create(EngineWorkload::engine_config(1, o.transform()));
        if (!apply_one) fail(apply_one.error());
        const Lookups lookups_one(one, 1, o.lookups, 1);
        Ideal ideal_one(one, 1);
        Baseline base{one, **apply_one, lookups_one, ideal_one};
        std::mt19937 rng(5);
        for (uint32_t sas : o.sas) {
            Count& c = counts.emplace_back();
            c.sas = sas;
            std::printf("\n%s per direction\n", sas_text(sas).c_str());
            std::fflush(stdout);
            if (measure_tables(o, c, base, huge, rng)) measure_traffic(o, c, base, huge);
            if (!c.skipped.empty()) std::printf("  skipped: %s\n", c.skipped.c_str());
        }
    } catch (const std::exception& e) {
        fail(e.what());
    }
    print_summary(o, counts);
    std::printf(
        "passes measured again because this thread was preempted: %s; counted although "
        "preempted (after --attempts=%u): %s\n",
        count(g_repeated).c_str(), o.attempts, count(g_preempted).c_str());
    if (!o.csv.empty()) write_csv(o.csv, counts);
    timer.print_total();
    return 0;
}

}  // namespace
}  // namespace pcscf::bench

int main(int argc, char** argv) { return pcscf::bench::run(argv[0], pcscf::bench::parse(argc, argv)); }
