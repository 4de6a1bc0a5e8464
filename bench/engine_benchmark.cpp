// ESP engine throughput on one core against references measured in the same run on the
// same packets: IPsec-MB hash-only (the same HMACs straight into IPsec-MB, nothing else),
// single-buffer HMAC (OpenSSL, keyed states precomputed, as the kernel does) and, warm,
// the ideal loops (bench/ideal_esp.hpp: the least work RFC 4303 transport mode needs per
// packet, "ideal" inbound, "ideal_out" outbound; every transform but 3DES). Packets are
// put back as received before each pass, outside the time, for every row. Each on a
// warm ring (256 packets, L2-resident: compute alone) and a cold one (16,384 packets,
// caches flushed every pass: memory too); the engine also cold with 1,000,000 SAs.
// Inbound and outbound, both algorithms, 64 / 512 / 1400-byte packets, bursts of 32.
// Then ESP with encryption, AES-128-CBC and 3DES-CBC with HMAC-SHA-1-96, warm and cold,
// against IPsec-MB alone doing the same work on the same packets as the engine has it
// done (AES-CBC: one cipher burst and one hash burst; 3DES: chained cipher+hash jobs;
// warm, imb_jobs is AES-CBC through chained jobs too) (named
// hash_only/aes-sha1/... decrypting, hash_only_out/... encrypting, so the report puts
// them beside inbound and outbound); their sizes are the nearest whole cipher blocks
// allow (AES: 72 / 504 / 1400 B; 3DES: 64 / 512 / 1400 B); warm, "forged" is the engine
// inbound on the same packets with a bit of each ICV flipped (what a flood of forged ESP
// costs: the HMAC, no decryption). Then the combined transforms,
// AES-GCM-128 (RFC 4106, "gcm") and AES-GMAC-128 (RFC 4543, "gmac"), warm and cold at the
// AES-CBC rows' lengths (72 / 504 / 1400 B, named so), against IPsec-MB alone making the
// same direct GCM calls (decrypting for hash_only, encrypting for hash_only_out) or GMAC
// tags (GCM with the ESP bytes as AAD, the same either way: hash_only only) on the same
// packets, which IPsec-MB's job API sealed (bench/aead_esp.hpp); warm, imb_jobs is the
// same work through that job API.
// Beside the HMAC rows, warm, the engine with the same SA as UDP-enc-tun (a UE behind a
// NAT, named natt-sha1 / natt-md5): inbound IPv4 / UDP 4500 / ESP in tunnel mode around
// the same inner packet, outbound the same plain packets put so; sizes are the transport
// rows' (the same payload, 28 bytes more on the wire).
// Ends with per-round ratios and the targets (bench/ratio_report.hpp).
//
//   build/bench/engine_benchmark [--sas=1000000] [--rounds=3] [--quick] [gbench flags]
//       [--passes=N (exactly N timed passes per row; a "packets_run" counter says how many
//       packets they took, repeated passes included)] [--no-huge (anonymous memory, as
//       valgrind needs)]
#include <benchmark/benchmark.h>
#include <intel-ipsec-mb.h>
#include <rte_cycles.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "bench/bench_args.hpp"
#include "bench/bench_eal.hpp"
#include "bench/engine_workload.hpp"
#include "bench/ideal_esp.hpp"
#include "bench/ratio_report.hpp"
#include "bench/single_buffer_hmac.hpp"
#include "dataplane/esp/outbound_table.hpp"
#include "net/byte_order.hpp"
#include "net/ip_header.hpp"

namespace pcscf::bench {
namespace {

using namespace pcscf::esp;
using namespace pcscf::net;

constexpr uint32_t kBurst = 32;

uint32_t g_many_sas = 1'000'000;
int g_passes = 0;  // --passes: exactly so many timed passes per row (instruction counts)

// Every row is timed by its passes alone; with --passes, exactly that many.
void timed(benchmark::internal::Benchmark* b) {
    b->UseManualTime();
    if (g_passes > 0) b->Iterations(g_passes);
}

// A ring of distinct packets and what happens to it between passes (outside the time).
struct Ring {
    std::string name;
    uint32_t sas;
    uint32_t packets;
    bool cold;  // caches flushed before every pass, as a million active SAs leave them
};
// Warm: small enough to stay in L2 between passes, so the timed work is compute.
const Ring kWarm{"warm", 1, 256, false};
const Ring kCold{"cold", 1, 16384, true};
Ring many() { return {"cold_" + std::to_string(g_many_sas) + "sa", g_many_sas, 16384, true}; }

// The workloads of one algorithm and size stay alive: benchmarks are registered grouped so.
// Both modes of one algorithm and size stay too (their rows run in turn).
EngineWorkload& workload(Alg alg, uint32_t size, const Ring& r, Ealg ealg = Ealg::null, Mode mode = Mode::transport) {
    static std::map<std::tuple<Alg, Ealg, uint32_t, uint32_t, uint32_t, Mode>, std::unique_ptr<EngineWorkload>> cache;
    std::erase_if(cache, [&](const auto& kv) {
        return std::get<0>(kv.first) != alg || std::get<1>(kv.first) != ealg || std::get<2>(kv.first) != size;
    });
    auto& w = cache[{alg, ealg, size, r.sas, r.packets, mode}];
    if (!w) w = std::make_unique<EngineWorkload>(alg, size, r.sas, r.packets, false, ealg, mode);
    return *w;
}

// The same, or nullptr once the benchmark is stopped with why the workload could not be
// built (an engine that refuses the SAs, say).
EngineWorkload* workload_or_skip(benchmark::State& state, Alg alg, uint32_t size, const Ring& r, Ealg ealg,
                                 Mode mode = Mode::transport) {
    try {
        return &workload(alg, size, r, ealg, mode);
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
        return nullptr;
    }
}

// An iteration is one pass over the ring, timed by the TSC (manual time); before it,
// outside the time, `before` readies the ring (inbound packets sealed again with the
// next sequence numbers, packets put back as received: that leaves them warm) and, for
// a cold ring, the caches are flushed after it. A pass during which this thread lost its
// CPU measures the machine's other load: it is run again, up to kAttempts times. `pass`
// returns false once it has stopped the benchmark with an error.
template <class Before, class Pass>
void run_passes(benchmark::State& state, EngineWorkload& w, const Ring& r, Before before, Pass pass) {
    constexpr int kAttempts = 8;
    const size_t n = w.inbound().size() / kBurst * kBurst;
    const double hz = double(rte_get_tsc_hz());
    uint64_t packets = 0, repeated = 0;
    for (auto _ : state) {
        for (int attempt = 1;; ++attempt) {
            before();
            if (r.cold) EngineWorkload::evict_caches();
            const uint64_t preempted = preemptions_of_self();
            const uint64_t t0 = rte_rdtsc_precise();
            if (!pass(n)) return;
            const uint64_t t1 = rte_rdtsc_precise();
            if (preemptions_of_self() == preempted || attempt == kAttempts) {
                state.SetIterationTime(double(t1 - t0) / hz);
                break;
            }
            ++repeated;
        }
        packets += n;
    }
    state.SetItemsProcessed(int64_t(packets));
    state.counters["cycles/pkt"] =
        benchmark::Counter(double(packets) / hz, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.counters["repeated"] = double(repeated);  // passes run again because preempted
    if (g_passes > 0) state.counters["packets_run"] = double(packets + repeated * n);  // repeats too
}

void nothing_before() {}

// The ring of `dir` readied for a pass, outside the time: inbound packets sealed anew,
// then every packet put back as the NIC and its driver hand it over (the engine and the
// ideal loops change packets in place: inbound strips ESP, outbound adds it), its mbuf
// listed in `mbufs`. The timed pass gets the mbufs only, as hash-only gets its bytes.
// Returns false when the inbound numbers started again (fresh replay windows needed).
bool ready_ring(EngineWorkload& w, Direction dir, std::vector<rte_mbuf*>& mbufs) {
    const bool in = dir == Direction::inbound;
    const bool kept = !in || w.next_inbound_pass();
    auto& ring = in ? w.inbound() : w.outbound();
    mbufs.resize(ring.size());
    EngineWorkload::receive(ring, mbufs.data());
    return kept;
}

// Engine::inbound() or outbound() on the ring, a burst at a time, the SA in `mode`;
// inbound with the next burst as its look-ahead, as a worker gives it (which the engine
// takes from --look-ahead-sas SAs on: the many-SA rows).
// One timed pass of the engine over the first n mbufs, a burst at a time. Out of line,
// as ideal_pass(), so that an instruction count takes exactly the passes
// (scripts/instructions); the workload's own sealing also runs an engine.
[[gnu::noinline]] bool engine_pass(benchmark::State& state, Engine& e, bool in, std::span<rte_mbuf*> mbufs, size_t n) {
    net::DropReason why[kBurst];
    for (size_t pos = 0; pos < n; pos += kBurst) {
        const std::span<rte_mbuf*> b = mbufs.subspan(pos, kBurst);
        const std::span<rte_mbuf* const> next{mbufs.data() + pos + kBurst, pos + kBurst < n ? kBurst : 0};
        if (const uint16_t good = in ? e.inbound(b, why, 0, next) : e.outbound(b, why); good != kBurst) {
            state.SkipWithError(
                (std::string(in ? "inbound" : "outbound") + " dropped: " + std::string(name(why[good]))).c_str());
            return false;
        }
    }
    return true;
}

void bm_engine_in(benchmark::State& state, Direction dir, Alg alg, uint32_t size, Ring r, Ealg ealg, Mode mode) {
    EngineWorkload* wp = workload_or_skip(state, alg, size, r, ealg, mode);
    if (wp == nullptr) return;
    EngineWorkload& w = *wp;
    const bool in = dir == Direction::inbound;
    std::vector<rte_mbuf*> mbufs;
    run_passes(
        state, w, r, [&] { ready_ring(w, dir, mbufs); },
        [&](size_t n) { return engine_pass(state, w.engine(), in, mbufs, n); });
}

// Engine::inbound() on the ring with every packet's ICV forged (a bit flipped after
// sealing), as a flood of forged ESP reaches a worker: each must be dropped as bad_icv.
void bm_forged(benchmark::State& state, Alg alg, uint32_t size, Ring r, Ealg ealg) {
    EngineWorkload* wp = workload_or_skip(state, alg, size, r, ealg);
    if (wp == nullptr) return;
    EngineWorkload& w = *wp;
    std::vector<rte_mbuf*> mbufs;
    run_passes(
        state, w, r,
        [&] {
            ready_ring(w, Direction::inbound, mbufs);
            for (const Template& t : w.inbound()) t.esp[t.esp_len] ^= 0x01;  // the ICV's first byte
        },
        [&](size_t n) {
            net::DropReason why[kBurst];
            for (size_t pos = 0; pos < n; pos += kBurst) {
                const std::span<rte_mbuf*> b{&mbufs[pos], kBurst};
                const uint16_t good = w.engine().inbound(b, why);
                const auto* other =
                    std::find_if(why, why + kBurst, [](DropReason d) { return d != DropReason::bad_icv; });
                if (good != 0 || other != why + kBurst) {
                    const std::string what = good != 0 ? "passed" : "dropped as " + std::string(name(*other));
                    state.SkipWithError(("a forged packet " + what).c_str());
                    return false;
                }
            }
            return true;
        });
}

void bm_engine(benchmark::State& state, Direction dir, Alg alg, uint32_t size, Ring r, Ealg ealg) {
    bm_engine_in(state, dir, alg, size, r, ealg, Mode::transport);
}

// The hash-only reference: the same HMACs over the same bytes, straight into IPsec-MB
// (with a cipher: the same cipher+hash jobs; AES-GCM and AES-GMAC: its direct GCM calls,
// or its job API for the imb_jobs rows).
void bm_hash_only(benchmark::State& state, Alg alg, uint32_t size, Ring r, Ealg ealg, bool encrypt, ImbApi api) {
    EngineWorkload* wp = workload_or_skip(state, alg, size, r, ealg);
    if (wp == nullptr) return;
    EngineWorkload& w = *wp;
    IMB_JOB jobs[kBurst];
    std::memset(jobs, 0, sizeof jobs);
    alignas(16) uint8_t tags[kBurst][16];
    run_passes(state, w, r, nothing_before, [&](size_t n) {
        for (size_t pos = 0; pos < n; pos += kBurst) {
            if (hmac_only(w.transform())) w.hash_only({&w.inbound()[pos], kBurst}, jobs, tags);
            else w.cipher_hash_only({&w.inbound()[pos], kBurst}, tags, encrypt, api);
            benchmark::DoNotOptimize(tags);
        }
        return true;
    });
}

// One HMAC per packet, OpenSSL, keyed states precomputed (see single_buffer_hmac.hpp).
void bm_single_buffer(benchmark::State& state, Alg alg, uint32_t size, Ring r) {
    EngineWorkload& w = workload(alg, size, r);
    const std::vector<uint8_t> key(key_len(alg), 0x5a);
    const SingleBufferHmac hmac(alg, key);
    uint8_t tag[kMaxIcvLen];
    run_passes(state, w, r, nothing_before, [&](size_t n) {
        for (size_t k = 0; k < n; ++k) {
            hmac.icv(w.inbound()[k].esp, w.inbound()[k].esp_len, tag);
            benchmark::DoNotOptimize(tag);
        }
        return true;
    });
}

// The ideal loop (bench/ideal_esp.hpp) on the engine's packets, one SA: the least work
// transport-mode ESP needs, the sound bound on the engine's compute.
// One timed pass of the ideal loop, inbound with `in_sa`, else outbound (see engine_pass).
[[gnu::noinline]] bool ideal_pass(benchmark::State& state, IdealEsp& ideal, IdealInboundSa* in_sa,
                                  IdealOutboundSa& out_sa, std::span<rte_mbuf*> mbufs, size_t n) {
    bool ok[kBurst];
    for (size_t pos = 0; pos < n; pos += kBurst) {
        const std::span<rte_mbuf* const> b = mbufs.subspan(pos, kBurst);
        if ((in_sa != nullptr ? ideal.inbound(*in_sa, b, ok) : ideal.outbound(out_sa, b, ok)) != kBurst) {
            state.SkipWithError(in_sa != nullptr ? "the ideal inbound loop refused a packet"
                                                 : "the ideal outbound loop refused a packet");
            return false;
        }
    }
    return true;
}

void bm_ideal(benchmark::State& state, Direction dir, Alg alg, uint32_t size, Ring r, Ealg ealg) {
    EngineWorkload& w = workload(alg, size, r, ealg);
    IdealEsp ideal(w.engine().imb());
    const AeadKey* aead = is_aead(w.transform()) ? &w.aead_key(0) : nullptr;
    const CipherKeys* cbc = w.transform() == Transform::cbc_hmac ? &w.cipher_keys(0) : nullptr;
    IdealInboundSa in_sa = IdealInboundSa::of(w.inbound_record(0), aead, cbc);
    IdealOutboundSa out_sa = IdealOutboundSa::of(w.outbound_record(0), aead, cbc);
    const bool in = dir == Direction::inbound;
    std::vector<rte_mbuf*> mbufs;
    run_passes(
        state, w, r,
        [&] {
            if (!ready_ring(w, dir, mbufs))
                in_sa = IdealInboundSa::of(w.inbound_record(0), aead, cbc);  // a fresh window
        },
        [&](size_t n) { return ideal_pass(state, ideal, in ? &in_sa : nullptr, out_sa, mbufs, n); });
}

// The outbound SA lookup alone, warm, on the keys the engine forms from the ring's packets
// (UE address, UE port, P-CSCF port), each packet's made its own (the UE address's last
// two bytes its index in the ring, one SA per key): the engine's own table
// (esp::OutboundTable, which also reads the record to confirm the key) or DPDK's rte_hash
// (lookup_bulk_data, its key store confirming), each holding those SAs. What the ideal
// loop leaves out and any ESP implementation must pay for packets to many UEs; with one
// SA's packets in a row the engine reuses the answer for the key before instead.
void bm_lookup(benchmark::State& state, bool dpdk, Alg alg, uint32_t size, Ring r, Ealg ealg) {
    EngineWorkload& w = workload(alg, size, r, ealg);
    std::vector<rte_mbuf*> mbufs;
    ready_ring(w, Direction::outbound, mbufs);
    std::vector<OutboundKey> keys;
    for (rte_mbuf* m : mbufs) {
        const uint8_t* ip = rte_pktmbuf_mtod(m, const uint8_t*);
        const auto info = parse_ip(ip, m->data_len);
        if (!info) return state.SkipWithError("a ring packet does not parse");
        const uint8_t* l4 = ip + info->l3_len;
        keys.push_back({info->dst(ip), load_be16(l4 + 2), load_be16(l4)});
        keys.back().ue_addr.bytes[14] = uint8_t(keys.size() >> 8);
        keys.back().ue_addr.bytes[15] = uint8_t(keys.size());
    }
    auto table = OutboundTable::create(1024, SOCKET_ID_ANY);
    if (!table) return state.SkipWithError(table.error().c_str());
    const std::string name = "bench_lookup_" + std::to_string(size);
    rte_hash_parameters params{};
    params.name = name.c_str();
    params.entries = 1024;
    params.key_len = kOutboundKeyLen;
    params.hash_func = rte_hash_crc;
    params.socket_id = SOCKET_ID_ANY;
    std::unique_ptr<rte_hash, decltype(&rte_hash_free)> h(rte_hash_create(&params), rte_hash_free);
    if (h == nullptr) return state.SkipWithError("rte_hash_create failed");
    if (w.used_sas().size() != 1) return state.SkipWithError("the lookup rows take a one-SA ring");
    SaRecord rec = w.outbound_record(w.used_sas().front());
    for (const OutboundKey& k : keys) {
        rec.sa.ue_addr = k.ue_addr;
        ++rec.sa.spi;
        const int32_t pos = table->insert(rec.sa, rec.key);
        if (pos < 0 || rte_hash_add_key_data(h.get(), &k, reinterpret_cast<void*>(uintptr_t(pos))) != 0)
            return state.SkipWithError("cannot install an SA per key");
    }
    run_passes(state, w, r, nothing_before, [&](size_t n) {
        const OutboundKey* ptrs[kBurst];
        int32_t pos[kBurst];
        void* data[kBurst];
        uint64_t hits = 0;
        for (size_t at = 0; at < n; at += kBurst) {
            for (size_t k = 0; k < kBurst; ++k) ptrs[k] = &keys[at + k];
            bool found;
            if (dpdk) {
                found = rte_hash_lookup_bulk_data(h.get(), reinterpret_cast<const void**>(ptrs), kBurst, &hits, data) ==
                        int(kBurst);
                benchmark::DoNotOptimize(data);
            } else {
                table->find_bulk(ptrs, kBurst, pos);
                found = std::all_of(pos, pos + kBurst, [](int32_t p) { return p >= 0; });
            }
            if (!found) {
                state.SkipWithError("a key was not found");
                return false;
            }
        }
        return true;
    });
}

std::string label(Alg alg, Ealg ealg = Ealg::null) {
    if (ealg == Ealg::aes_gcm) return "gcm";
    if (alg == Alg::aes_gmac) return "gmac";
    const std::string hash = alg == Alg::hmac_sha1_96 ? "sha1" : alg == Alg::hmac_sha256_128 ? "sha256" : "md5";
    return ealg == Ealg::null ? hash : (ealg == Ealg::aes_cbc ? "aes-" : "3des-") + hash;
}

// Each workload's benchmarks run `rounds` times in turn (engine, references, engine,
// ...), so slow drifts of a shared machine hit all of them alike; the report takes its
// ratios within each round.
void register_all(bool quick, int rounds) {
    const std::vector<uint32_t> sizes = quick ? std::vector<uint32_t>{512} : std::vector<uint32_t>{64, 512, 1400};
    for (Alg alg : {Alg::hmac_sha1_96, Alg::hmac_md5_96})
        for (uint32_t size : sizes)
            for (int round = 0; round < rounds; ++round)
                for (const Ring& r : {kWarm, kCold, many()}) {
                    const std::string suffix = "/" + label(alg) + "/" + std::to_string(size) + "B/" + r.name;
                    std::vector<benchmark::internal::Benchmark*> b = {
                        benchmark::RegisterBenchmark(("inbound" + suffix).c_str(), bm_engine, Direction::inbound, alg,
                                                     size, r, Ealg::null),
                        benchmark::RegisterBenchmark(("outbound" + suffix).c_str(), bm_engine, Direction::outbound, alg,
                                                     size, r, Ealg::null)};
                    if (r.sas == 1) {
                        b.push_back(benchmark::RegisterBenchmark(("hash_only" + suffix).c_str(), bm_hash_only, alg,
                                                                 size, r, Ealg::null, false, ImbApi::direct));
                        b.push_back(benchmark::RegisterBenchmark(("single_buffer" + suffix).c_str(), bm_single_buffer,
                                                                 alg, size, r));
                    }
                    if (r.sas == 1 && !r.cold) {
                        // The ideal loops: compute, so warm only (a cold row would add minutes
                        // of cache flushes to a full run and bound nothing the report uses).
                        b.push_back(benchmark::RegisterBenchmark(("ideal" + suffix).c_str(), bm_ideal,
                                                                 Direction::inbound, alg, size, r, Ealg::null));
                        b.push_back(benchmark::RegisterBenchmark(("ideal_out" + suffix).c_str(), bm_ideal,
                                                                 Direction::outbound, alg, size, r, Ealg::null));
                        for (const bool dpdk : {false, true})
                            b.push_back(
                                benchmark::RegisterBenchmark(((dpdk ? "rte_hash_out" : "lookup_out") + suffix).c_str(),
                                                             bm_lookup, dpdk, alg, size, r, Ealg::null));
                        // The same SA and packets as UDP-enc-tun.
                        const std::string natt = "/natt-" + label(alg) + "/" + std::to_string(size) + "B/" + r.name;
                        for (Direction dir : {Direction::inbound, Direction::outbound})
                            b.push_back(benchmark::RegisterBenchmark(
                                ((dir == Direction::inbound ? "inbound" : "outbound") + natt).c_str(), bm_engine_in,
                                dir, alg, size, r, Ealg::null, Mode::udp_enc_tun));
                    }
                    for (auto* one : b) timed(one);
                }
    // HMAC-SHA-256-128: the engine, the hash-only reference and (warm) the ideal loops.
    for (uint32_t size : sizes)
        for (int round = 0; round < rounds; ++round)
            for (const Ring& r : {kWarm, kCold}) {
                const Alg alg = Alg::hmac_sha256_128;
                const std::string suffix = "/" + label(alg) + "/" + std::to_string(size) + "B/" + r.name;
                std::vector<benchmark::internal::Benchmark*> b = {
                    benchmark::RegisterBenchmark(("inbound" + suffix).c_str(), bm_engine, Direction::inbound, alg, size,
                                                 r, Ealg::null),
                    benchmark::RegisterBenchmark(("outbound" + suffix).c_str(), bm_engine, Direction::outbound, alg,
                                                 size, r, Ealg::null),
                    benchmark::RegisterBenchmark(("hash_only" + suffix).c_str(), bm_hash_only, alg, size, r, Ealg::null,
                                                 false, ImbApi::direct)};
                if (!r.cold) {
                    b.push_back(benchmark::RegisterBenchmark(("ideal" + suffix).c_str(), bm_ideal, Direction::inbound,
                                                             alg, size, r, Ealg::null));
                    b.push_back(benchmark::RegisterBenchmark(("ideal_out" + suffix).c_str(), bm_ideal,
                                                             Direction::outbound, alg, size, r, Ealg::null));
                }
                for (auto* one : b) timed(one);
            }
    // With encryption: the engine and IPsec-MB doing the same cipher and hash work, warm and cold.
    for (Ealg ealg : {Ealg::aes_cbc, Ealg::des_ede3_cbc})
        for (uint32_t size : sizes)
            for (int round = 0; round < rounds; ++round)
                for (const Ring& r : {kWarm, kCold}) {
                    const Alg alg = Alg::hmac_sha1_96;
                    const std::string suffix = "/" + label(alg, ealg) + "/" + std::to_string(size) + "B/" + r.name;
                    for (auto* one : {benchmark::RegisterBenchmark(("inbound" + suffix).c_str(), bm_engine,
                                                                   Direction::inbound, alg, size, r, ealg),
                                      benchmark::RegisterBenchmark(("outbound" + suffix).c_str(), bm_engine,
                                                                   Direction::outbound, alg, size, r, ealg),
                                      benchmark::RegisterBenchmark(("hash_only" + suffix).c_str(), bm_hash_only, alg,
                                                                   size, r, ealg, false, ImbApi::direct),
                                      benchmark::RegisterBenchmark(("hash_only_out" + suffix).c_str(), bm_hash_only,
                                                                   alg, size, r, ealg, true, ImbApi::direct)})
                        timed(one);
                    if (!r.cold)
                        timed(benchmark::RegisterBenchmark(("forged" + suffix).c_str(), bm_forged, alg, size, r, ealg));
                    if (ealg == Ealg::aes_cbc && !r.cold)  // 3DES has chained jobs only, and no ideal loop
                        for (auto* one : {benchmark::RegisterBenchmark(("imb_jobs" + suffix).c_str(), bm_hash_only, alg,
                                                                       size, r, ealg, false, ImbApi::jobs),
                                          benchmark::RegisterBenchmark(("ideal" + suffix).c_str(), bm_ideal,
                                                                       Direction::inbound, alg, size, r, ealg),
                                          benchmark::RegisterBenchmark(("ideal_out" + suffix).c_str(), bm_ideal,
                                                                       Direction::outbound, alg, size, r, ealg),
                                          benchmark::RegisterBenchmark(("lookup_out" + suffix).c_str(), bm_lookup,
                                                                       false, alg, size, r, ealg),
                                          benchmark::RegisterBenchmark(("rte_hash_out" + suffix).c_str(), bm_lookup,
                                                                       true, alg, size, r, ealg)})
                            timed(one);
                }
    // AES-GCM and AES-GMAC: the engine and IPsec-MB's own direct GCM calls, warm and cold,
    // at the lengths the AES-CBC rows measure; warm, also its job API for the same work.
    const std::vector<uint32_t> aead_sizes = quick ? std::vector<uint32_t>{504} : std::vector<uint32_t>{72, 504, 1400};
    for (const auto& [alg, ealg] : {std::pair{Alg::null, Ealg::aes_gcm}, std::pair{Alg::aes_gmac, Ealg::null}})
        for (uint32_t size : aead_sizes)
            for (int round = 0; round < rounds; ++round)
                for (const Ring& r : {kWarm, kCold}) {
                    const std::string suffix = "/" + label(alg, ealg) + "/" + std::to_string(size) + "B/" + r.name;
                    std::vector<benchmark::internal::Benchmark*> b = {
                        benchmark::RegisterBenchmark(("inbound" + suffix).c_str(), bm_engine, Direction::inbound, alg,
                                                     size, r, ealg),
                        benchmark::RegisterBenchmark(("outbound" + suffix).c_str(), bm_engine, Direction::outbound, alg,
                                                     size, r, ealg),
                        benchmark::RegisterBenchmark(("hash_only" + suffix).c_str(), bm_hash_only, alg, size, r, ealg,
                                                     false, ImbApi::direct)};
                    if (ealg == Ealg::aes_gcm)  // GMAC's tag is the same both ways
                        b.push_back(benchmark::RegisterBenchmark(("hash_only_out" + suffix).c_str(), bm_hash_only, alg,
                                                                 size, r, ealg, true, ImbApi::direct));
                    if (!r.cold) {
                        b.push_back(benchmark::RegisterBenchmark(("imb_jobs" + suffix).c_str(), bm_hash_only, alg, size,
                                                                 r, ealg, false, ImbApi::jobs));
                        b.push_back(benchmark::RegisterBenchmark(("ideal" + suffix).c_str(), bm_ideal,
                                                                 Direction::inbound, alg, size, r, ealg));
                        b.push_back(benchmark::RegisterBenchmark(("ideal_out" + suffix).c_str(), bm_ideal,
                                                                 Direction::outbound, alg, size, r, ealg));
                        for (const bool dpdk : {false, true})
                            b.push_back(
                                benchmark::RegisterBenchmark(((dpdk ? "rte_hash_out" : "lookup_out") + suffix).c_str(),
                                                             bm_lookup, dpdk, alg, size, r, ealg));
                    }
                    for (auto* one : b) timed(one);
                }
}

}  // namespace
}  // namespace pcscf::bench

int main(int argc, char** argv) {
    using namespace pcscf::bench;
    bool quick = false, no_huge = false;
    int rounds = 3;
    std::vector<char*> rest = {argv[0]};
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--quick") quick = true;
        else if (a.rfind("--rounds=", 0) == 0) rounds = std::max(1, number_arg<int>("--rounds", a.substr(9)));
        else if (a.rfind("--sas=", 0) == 0) g_many_sas = number_arg<uint32_t>("--sas", a.substr(6));
        else if (a.rfind("--passes=", 0) == 0) g_passes = std::max(1, number_arg<int>("--passes", a.substr(9)));
        else if (a == "--no-huge") no_huge = true;
        else rest.push_back(argv[i]);
    }
    // --quick: short samples too, unless asked for others (a cold pass costs several
    // times its measured time in cache flushes).
    static char quick_time[] = "--benchmark_min_time=0.1";
    if (quick && std::none_of(rest.begin(), rest.end(),
                              [](const char* a) { return std::string_view(a).starts_with("--benchmark_min_time"); }))
        rest.push_back(quick_time);
    int n = int(rest.size());
    benchmark::Initialize(&n, rest.data());
    // What neither we nor Google Benchmark took is a typo: say so rather than ignore it.
    if (benchmark::ReportUnrecognizedArguments(n, rest.data())) return 2;
    bool huge = false;
    if (!start_eal(argv[0], "0", {}, &huge, no_huge)) return 2;
    std::printf("memory: %s\n", huge ? "hugepages" : "anonymous 4 KiB pages (--no-huge)");
    register_all(quick, rounds);
    RatioReporter reporter(g_many_sas);
    benchmark::RunSpecifiedBenchmarks(&reporter);
    reporter.print_summary();
    benchmark::Shutdown();
    return 0;
}
