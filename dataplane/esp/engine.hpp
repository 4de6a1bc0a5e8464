#pragma once
// The ESP engine of one worker lcore: its inbound and outbound SA tables, its IPsec-MB
// manager, its drop counters and the events it raises. Transport mode, HMAC-MD5-96 /
// HMAC-SHA-1-96 with NULL encryption, AES-128-CBC or 3DES-CBC (TS 33.203 Annex H), IPv4
// and IPv6, UDP and TCP inside; and for UEs behind a NAT, IPv4 tunnel mode in UDP
// (TS 33.203 Annex M, RFC 3948; docs/architecture.md, "UEs behind a NAT").
//
// Threading: one engine per worker; only that worker calls any method, including
// apply(), which it runs between bursts for the records the control thread sends.
// Nothing here allocates, throws, locks or logs once the engine is created.
#include <rte_mbuf.h>

#include <array>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "dataplane/esp/cipher_keys.hpp"
#include "dataplane/esp/crypto_batch.hpp"
#include "dataplane/esp/inbound_table.hpp"
#include "dataplane/esp/iv_source.hpp"
#include "dataplane/esp/outbound_table.hpp"
#include "net/drop_reason.hpp"
#include "sa_contract/imb_manager.hpp"
#include "sa_contract/sa_record.hpp"
#include "sa_contract/spi_layout.hpp"

namespace pcscf::esp {

// The inbound SA count whose records (sizeof(InboundSa), 128 bytes with the default
// replay window) fill an L2 cache of `l2_bytes`: from there a burst's records are misses
// that looking ahead hides. 16,384 (2 MiB of records) where the size is unknown (0 or
// less).
uint32_t look_ahead_sas_for_l2(long l2_bytes) noexcept;
// The same for this CPU's L2 (sysconf): EngineConfig::look_ahead_from's default.
uint32_t default_look_ahead_sas() noexcept;

struct EngineConfig {
    uint32_t worker = 0;  // this engine owns the inbound SPIs spi.owner() == worker
    SpiLayout spi;        // also sizes the inbound table (slots_per_worker)
    uint32_t outbound_capacity = 1 << 16;
    // SAs with a key block (a cipher, AES-GMAC or HMAC-SHA-256), both directions together:
    // sizeof(CipherKeys) = 1,088 bytes each, allocated with the engine (17 MiB).
    uint32_t cipher_capacity = 1 << 14;
    uint32_t replay_window = 64;  // packets accepted behind the highest seen
    // Inbound SAs from which inbound() looks ahead at `next` (and a worker holds a burst
    // back for it): below, the records stay in the core's L2 and looking ahead only costs.
    uint32_t look_ahead_from = default_look_ahead_sas();
    // SAs in a direction from which that direction requests the key blocks of a burst's
    // ciphered SAs as soon as their records are in, before the burst's checks, rather than
    // as each packet is queued for its crypto. Higher than the look-ahead: with AES-GCM's
    // 1,008-byte key blocks, requesting them early measured slower at 10,000 SAs (whose
    // blocks the last-level cache holds) and faster at 100,000.
    uint32_t early_keys_from = 16384;
    uint32_t seq_near_end = 0xfff00000;  // report outbound SAs whose sequence passes this
    uint32_t seq_checkpoint = 0;         // report each SA's sequence every this many (a power of 2; 0: never)
    int socket = -1;                     // NUMA socket for the tables (SOCKET_ID_ANY)
};

// One SA's counters: packets and bytes that passed, and packets refused on the SA
// (ICV, replay, trailer, selector; outbound also sequence exhaustion and room).
struct SaStats {
    uint64_t packets = 0, bytes = 0, drops = 0;
};

// Packets and bytes that passed, per direction (drops are in DropCounters).
struct alignas(64) EngineStats {
    uint64_t in_packets = 0, in_bytes = 0;
    uint64_t out_packets = 0, out_bytes = 0;
    uint64_t events_lost = 0;  // events dropped because nobody drained them in time
};

class Engine {
public:
    static constexpr uint32_t kChunk = CryptoBatch::kMax;  // packets hashed per IPsec-MB call
    static constexpr uint32_t kMaxEvents = 256;

    static std::expected<std::unique_ptr<Engine>, std::string> create(const EngineConfig& cfg);

    // Verifies and decapsulates ESP packets in place. Each mbuf holds one contiguous packet
    // whose IP header starts `l2_len` bytes into the data (the L2 header is kept as it
    // is; a port's frames all carry the same L2 header, and m->l2_len sits in a cache line
    // the NIC never wrote). Returns the number of good packets, moved to the front of
    // `pkts` in arrival order; the others follow, with reasons[i] saying why
    // (reasons.size() >= pkts.size()). The caller frees those.
    //
    // `next`: the packets the following call will get, when the caller holds them already
    // and has read their headers (a worker that keeps one burst back). With at least
    // look_ahead_from SAs, their SA records are requested during this call's crypto, so
    // that the next call finds them in the cache: with millions of SAs a record is a miss
    // to memory (and a page walk), which the rest of a burst cannot hide but a burst's
    // crypto can.
    uint16_t inbound(std::span<rte_mbuf*> pkts, std::span<net::DropReason> reasons, uint16_t l2_len = 0,
                     std::span<rte_mbuf* const> next = {}) noexcept;

    // Whether inbound() looks at `next` (the table holds look_ahead_from SAs or more): a
    // caller that can hold a burst back gains from it only then.
    bool looks_ahead() const noexcept { return in_.count() >= cfg_.look_ahead_from; }
    // Whether direction `d` requests a burst's key blocks before its checks (from
    // early_keys_from SAs in it, once an SA has a key block).
    bool requests_keys_early(Direction d) const noexcept {
        return keys_early(d == Direction::inbound ? in_.count() : out_.count());
    }

    // Encapsulates plain UDP/TCP packets sent by the P-CSCF, same contract as inbound().
    uint16_t outbound(std::span<rte_mbuf*> pkts, std::span<net::DropReason> reasons, uint16_t l2_len = 0) noexcept;

    // Applies one record from the control thread: 0 or a negative errno (-EINVAL bad
    // record, e.g. a cipher key not cipher_key_len(ealg) bytes; -ERANGE / -EXDEV SPI
    // outside this worker's space; -EEXIST; -ENOENT; -ENOSPC table or cipher keys full).
    // On success `*handle`, when given, is where the SA now sits (as handle_of(); -1 after
    // a remove), so the caller need not look it up again.
    int apply(const SaRecord& rec, int32_t* handle = nullptr) noexcept;
    // Applies records in order, each as apply() does (results[i]; handles[i] when
    // `handles` is given). The table lines they will touch are requested for a group of
    // them first, so that with millions of SAs their cache misses overlap instead of
    // following one another.
    void apply(std::span<const SaRecord> recs, int* results, int32_t* handles = nullptr) noexcept;
    static constexpr uint32_t kApplyGroup = OutboundTable::kMaxBulk;  // records prefetched together

    // Events raised since the last clear_events() (first use, sequence number warnings,
    // a UDP-enc-tun SA's new NAT port).
    std::span<const SaEvent> events() const noexcept { return {events_.data(), n_events_}; }
    void clear_events() noexcept { n_events_ = 0; }

    const net::DropCounters& drops() const noexcept { return drops_; }
    const EngineStats& stats() const noexcept { return stats_; }
    const EngineConfig& config() const noexcept { return cfg_; }
    const FastSpiLayout& spi() const noexcept { return spi_; }  // config().spi, for the packet path
    const InboundTable& inbound_sas() const noexcept { return in_; }
    const OutboundTable& outbound_sas() const noexcept { return out_; }
    const CipherKeyPool& cipher_keys() const noexcept { return keys_; }
    const IvSource& ivs() const noexcept { return iv_; }
    const InboundSa* find_inbound(uint32_t spi) const noexcept;
    const OutboundSa* find_outbound(const OutboundKey& key) const noexcept;
    std::optional<SaStats> inbound_stats(uint32_t spi) const noexcept;
    std::optional<SaStats> outbound_stats(const OutboundKey& key) const noexcept;
    // Where an installed SA sits (inbound slot, outbound pool position), or -1. Other
    // threads may read counters through stats_at() with it, without touching the hash.
    int32_t handle_of(const SaConfig& sa) const noexcept;
    SaStats stats_at(Direction dir, int32_t handle) const noexcept;
    // The SA's sequence number at `handle`: outbound the last sent, inbound the window's
    // right edge (read while the worker is stopped, for a clean stop's exact marks).
    std::optional<uint32_t> seq_at(Direction dir, int32_t handle) const noexcept;
    IMB_MGR* imb() const noexcept { return imb_.get(); }

    Engine(const EngineConfig& cfg, ImbManager imb, InboundTable in, OutboundTable out, CipherKeyPool keys,
           IvSource iv) noexcept;

private:
    void inbound_chunk(std::span<rte_mbuf*> pkts, net::DropReason* reasons, uint16_t l2_len,
                       std::span<rte_mbuf* const> next) noexcept;
    void prefetch_inbound_sas(std::span<rte_mbuf* const> pkts, uint16_t l2_len) const noexcept;
    void outbound_chunk(std::span<rte_mbuf*> pkts, net::DropReason* reasons, uint16_t l2_len) noexcept;
    // Whether a direction whose table holds `sas` SAs requests a burst's key blocks before
    // its checks (EngineConfig::early_keys_from), rather than packet by packet.
    bool keys_early(uint32_t sas) const noexcept { return sas >= cfg_.early_keys_from && keys_.in_use() > 0; }
    void prefetch_tables(std::span<const SaRecord> recs) const noexcept;  // at most kApplyGroup
    int apply_inbound(const SaRecord& rec, int32_t& handle) noexcept;
    int apply_outbound(const SaRecord& rec, int32_t& handle) noexcept;
    // Gives an SA whose key block is (`xf`, `cipher`) the record's: a block taken, set
    // anew or given back; -ENOSPC when none is left. `ealg` follows.
    int rekey(Transform& xf, Ealg& ealg, uint32_t& cipher, const SaRecord& rec) noexcept;
    void release_cipher(Transform xf, uint32_t cipher) noexcept {
        if (xf != Transform::hmac) keys_.release(cipher);
    }
    void raise(EventKind kind, Direction dir, uint32_t spi, uint64_t cookie, uint64_t seq,
               uint16_t encap_port = 0) noexcept;
    // Whether a sequence number moving from `before` to `after` passed a multiple of
    // seq_checkpoint (never when checkpoints are off: the mask is then all ones).
    bool crossed_checkpoint(uint32_t before, uint32_t after) const noexcept {
        return ((before ^ after) & ~checkpoint_mask_) != 0;
    }

    EngineConfig cfg_;
    FastSpiLayout spi_;         // cfg_.spi without a division per packet
    uint32_t checkpoint_mask_;  // seq_checkpoint - 1, or all ones when off
    ImbManager imb_;
    InboundTable in_;
    OutboundTable out_;
    CipherKeyPool keys_;
    IvSource iv_;
    CryptoBatch batch_;
    net::DropCounters drops_;
    EngineStats stats_;
    uint32_t n_events_ = 0;
    std::array<SaEvent, kMaxEvents> events_;
};

// Moves packets whose reason is kPass to the front, keeping their order; returns how many.
uint16_t partition_good(std::span<rte_mbuf*> pkts, net::DropReason* reasons) noexcept;

}  // namespace pcscf::esp
