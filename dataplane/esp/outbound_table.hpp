#pragma once
// One worker's outbound SAs, found by (UE address, UE port, P-CSCF port): the selectors
// of a packet the P-CSCF sends. A bucketised cuckoo hash maps the key to the SA's
// position in a pool of hot records: each key has two candidate buckets of eight entries
// (a 32-bit signature and a position each), and the record itself holds the key that
// confirms a match. A lookup so waits for two rounds of cache misses (the buckets, then
// the record it needs anyway); rte_hash's separate key store made that three, which at a
// million SAs was most of outbound's extra cost per packet. Fixed capacity, buckets at
// most half full, nothing allocated after creation; an SA keeps its position for life,
// so handles (Engine::handle_of) stay valid.
//
// Threading: only the owning worker reads or writes a table.
#include <rte_hash_crc.h>
#include <rte_prefetch.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <expected>
#include <string>

#include "dataplane/esp/nat_side.hpp"
#include "sa_contract/sa_config.hpp"

namespace pcscf::esp {

struct alignas(8) OutboundKey {
    net::IpAddr ue_addr;
    uint16_t ue_port = 0;     // host order
    uint16_t pcscf_port = 0;  // host order
    friend bool operator==(const OutboundKey& a, const OutboundKey& b) noexcept {
        return a.ue_addr == b.ue_addr && a.ue_port == b.ue_port && a.pcscf_port == b.pcscf_port;
    }
};
inline constexpr uint32_t kOutboundKeyLen = 20;
static_assert(offsetof(OutboundKey, pcscf_port) + 2 == kOutboundKeyLen, "no inner padding");

struct alignas(64) OutboundSa {
    // Line 0: what the packet path needs. The control plane's cookie, read only for
    // events, lives apart (OutboundTable::cookie).
    uint32_t spi;  // 0 while the position is free
    Alg alg;
    uint8_t flags;  // kNearEndReported, kExhaustedReported, kUdpEncTun
    Ealg ealg;
    Transform xf;     // from (alg, ealg); all but hmac have a key block in `cipher`
    uint64_t seq;     // last sequence number sent; the next packet gets seq + 1
    HmacKey160 key;   // for HMAC-MD5 and HMAC-SHA-1 (SHA-256: in the key block)
    uint32_t cipher;  // index in the engine's CipherKeyPool (xf not hmac)
    uint32_t reserved2;
    // Line 1: the lookup key, the source selector and counters.
    net::IpAddr pcscf_addr;  // unspecified = any source address
    OutboundKey sel;
    uint64_t packets;
    uint64_t bytes;
    uint64_t drops;

    static constexpr uint8_t kNearEndReported = 1;
    static constexpr uint8_t kExhaustedReported = 2;
    static constexpr uint8_t kUdpEncTun = 4;  // Mode::udp_enc_tun: OutboundTable::nat holds its addressing
};
static_assert(sizeof(OutboundSa) == 128, "two cache lines");

// Eight entries in one cache line.
struct alignas(64) OutboundBucket {
    static constexpr uint32_t kWays = 8;
    static constexpr uint32_t kEmpty = UINT32_MAX;
    uint32_t sig[kWays];
    uint32_t pos[kWays];  // kEmpty: a free entry (its sig is 0)
};
static_assert(sizeof(OutboundBucket) == 64, "one cache line");

class OutboundTable {
public:
    static constexpr uint32_t kMaxBulk = 64;

    static std::expected<OutboundTable, std::string> create(uint32_t capacity, int socket);
    OutboundTable(OutboundTable&& o) noexcept;
    OutboundTable& operator=(OutboundTable&&) = delete;
    ~OutboundTable();

    uint32_t capacity() const noexcept { return capacity_; }
    uint32_t count() const noexcept { return capacity_ - n_free_; }
    uint32_t pool_size() const noexcept { return capacity_; }  // positions are 0..capacity-1

    // Position of the SA, or a negative value if none.
    int32_t find(const OutboundKey& key) const noexcept;
    // Looks keys up kMaxBulk at a time, their cache misses overlapped round by round;
    // positions[i] < 0 where there is no SA. The records found are in the cache after it.
    void find_bulk(const OutboundKey* const* keys, uint32_t n, int32_t* positions) const noexcept;

    OutboundSa& at(int32_t pos) noexcept { return pool_[pos]; }
    uint64_t& cookie(int32_t pos) noexcept { return cookies_[pos]; }
    uint64_t cookie(int32_t pos) const noexcept { return cookies_[pos]; }
    NatSide& nat(int32_t pos) noexcept { return nat_[pos]; }
    const NatSide& nat(int32_t pos) const noexcept { return nat_[pos]; }
    const OutboundSa& at(int32_t pos) const noexcept { return pool_[pos]; }
    void prefetch(int32_t pos) const noexcept {
        rte_prefetch0(&pool_[pos]);
        rte_prefetch0(reinterpret_cast<const uint8_t*>(&pool_[pos]) + 64);
    }

    // Returns the new position, or -EEXIST / -ENOSPC. `cipher` is the SA's CipherKeyPool
    // block when sa.ealg is not null.
    int32_t insert(const SaConfig& sa, const HmacKey& key, uint32_t cipher = 0) noexcept;
    void erase(int32_t pos) noexcept;

    template <typename F>
    void for_each(F&& f) const {  // visits every installed SA
        for (uint32_t i = 0; i < capacity_; ++i)
            if (pool_[i].spi != 0) f(pool_[i]);
    }

    // Where a key goes: its first bucket and its signature; its second bucket is
    // alt(bucket, sig). Public for tests that need keys sharing buckets or signatures.
    struct Hash {
        uint32_t bucket;
        uint32_t sig;
    };
    Hash hash(const OutboundKey& k) const noexcept;
    uint32_t alt(uint32_t bucket, uint32_t sig) const noexcept;
    uint32_t buckets() const noexcept { return mask_ + 1; }

private:
    OutboundTable(OutboundBucket* buckets, uint32_t mask, OutboundSa* pool, uint64_t* cookies, NatSide* nat,
                  uint32_t* free, uint32_t capacity) noexcept
        : buckets_(buckets),
          mask_(mask),
          pool_(pool),
          cookies_(cookies),
          nat_(nat),
          free_(free),
          capacity_(capacity),
          n_free_(capacity) {}

    void prefetch_buckets(const Hash& h) const noexcept;
    // The position of the first entry of the key's buckets whose signature matches and
    // that `accept(position)` takes, or kEmpty.
    template <typename Accept>
    uint32_t first_match(const Hash& h, Accept accept) const noexcept;
    uint32_t candidate(const Hash& h) const noexcept;                         // any signature match
    int32_t find_hashed(const OutboundKey& k, const Hash& h) const noexcept;  // every match
    bool place(Hash h, uint32_t pos) noexcept;                                // cuckoo insertion of (sig, pos)

    OutboundBucket* buckets_;
    uint32_t mask_;  // buckets - 1 (a power of two)
    OutboundSa* pool_;
    uint64_t* cookies_;  // per position
    NatSide* nat_;       // per position
    uint32_t* free_;     // free positions, a stack
    uint32_t capacity_;
    uint32_t n_free_;            // capacity_ - the SAs installed
    uint32_t rng_ = 0x9e3779b9;  // picks the entry a cuckoo step moves
};

// Defined here so the lookup inlines them (they run once or twice a packet).

// CRC32-C of the key in two word orders: two different linear maps of it, so the bucket
// and the signature are independent bits and keys sharing a bucket rarely share a sig.
inline OutboundTable::Hash OutboundTable::hash(const OutboundKey& k) const noexcept {
    uint64_t w0, w1;
    uint32_t ports;
    std::memcpy(&w0, k.ue_addr.bytes.data(), 8);
    std::memcpy(&w1, k.ue_addr.bytes.data() + 8, 8);
    std::memcpy(&ports, &k.ue_port, 4);  // ue_port and pcscf_port
    const uint32_t b = rte_hash_crc_4byte(ports, rte_hash_crc_8byte(w1, rte_hash_crc_8byte(w0, 0x2545f491)));
    const uint32_t s = rte_hash_crc_8byte(w0, rte_hash_crc_8byte(w1, rte_hash_crc_4byte(ports, 0x9e3779b9)));
    return {b & mask_, s};
}

// The other bucket of an entry in `bucket`: an odd offset derived from the signature
// alone, so it is found again from either bucket without reading the record.
inline uint32_t OutboundTable::alt(uint32_t bucket, uint32_t sig) const noexcept {
    return (bucket ^ ((sig * 0x9e3779b1u) >> 8 | 1)) & mask_;
}

inline void OutboundTable::prefetch_buckets(const Hash& h) const noexcept {
    rte_prefetch0(&buckets_[h.bucket]);
    rte_prefetch0(&buckets_[alt(h.bucket, h.sig)]);
}

}  // namespace pcscf::esp
