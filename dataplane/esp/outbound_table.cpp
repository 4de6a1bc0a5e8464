#include "dataplane/esp/outbound_table.hpp"

#include <emmintrin.h>
#include <rte_common.h>
#include <rte_malloc.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace pcscf::esp {

namespace {

using Bucket = OutboundBucket;
constexpr uint32_t kWays = Bucket::kWays;
constexpr uint32_t kEmpty = Bucket::kEmpty;
constexpr uint32_t kMaxKicks = 128;  // cuckoo steps an insert may take before it gives up
constexpr uint32_t kMaxCapacity = 1u << 28;

// Bit w set where the bucket's entry w carries `sig` (free entries carry 0).
uint32_t sig_matches(const Bucket& b, uint32_t sig) noexcept {
    const __m128i s = _mm_set1_epi32(int(sig));
    const __m128i lo = _mm_cmpeq_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(b.sig)), s);
    const __m128i hi = _mm_cmpeq_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(b.sig + 4)), s);
    return uint32_t(_mm_movemask_ps(_mm_castsi128_ps(lo))) | uint32_t(_mm_movemask_ps(_mm_castsi128_ps(hi))) << 4;
}

bool put(Bucket& b, uint32_t sig, uint32_t pos) noexcept {
    for (uint32_t w = 0; w < kWays; ++w)
        if (b.pos[w] == kEmpty) {
            b.sig[w] = sig;
            b.pos[w] = pos;
            return true;
        }
    return false;
}

bool take(Bucket& b, uint32_t pos) noexcept {  // frees the entry of `pos`, if here
    for (uint32_t w = 0; w < kWays; ++w)
        if (b.pos[w] == pos) {
            b.sig[w] = 0;
            b.pos[w] = kEmpty;
            return true;
        }
    return false;
}

}  // namespace

std::expected<OutboundTable, std::string> OutboundTable::create(uint32_t capacity, int socket) {
    if (capacity < 8 || capacity > kMaxCapacity)
        return std::unexpected("outbound table needs 8 to " + std::to_string(kMaxCapacity) + " entries, not " +
                               std::to_string(capacity));
    // Two entries per SA: the buckets stay at most half full, where cuckoo inserts find
    // room within a step or two.
    const uint32_t n_buckets = rte_align32pow2(std::max<uint32_t>(2, (capacity + 3) / 4));
    auto* buckets = static_cast<Bucket*>(
        rte_malloc_socket("pcscf_outbound_buckets", size_t{n_buckets} * sizeof(Bucket), 64, socket));
    auto* pool = static_cast<OutboundSa*>(
        rte_zmalloc_socket("pcscf_outbound_sa", size_t{capacity} * sizeof(OutboundSa), 64, socket));
    auto* free = static_cast<uint32_t*>(rte_malloc_socket("pcscf_outbound_free", size_t{capacity} * 4, 64, socket));
    auto* cookies =
        static_cast<uint64_t*>(rte_zmalloc_socket("pcscf_outbound_cookies", size_t{capacity} * 8, 64, socket));
    auto* nat =
        static_cast<NatSide*>(rte_zmalloc_socket("pcscf_outbound_nat", size_t{capacity} * sizeof(NatSide), 64, socket));
    if (buckets == nullptr || pool == nullptr || free == nullptr || cookies == nullptr || nat == nullptr) {
        rte_free(buckets);
        rte_free(pool);
        rte_free(free);
        rte_free(cookies);
        rte_free(nat);
        return std::unexpected("cannot allocate " + std::to_string(capacity) +
                               " outbound SAs (hugepages or EAL -m too small?)");
    }
    for (uint32_t b = 0; b < n_buckets; ++b) {
        std::memset(buckets[b].sig, 0, sizeof buckets[b].sig);
        std::memset(buckets[b].pos, 0xff, sizeof buckets[b].pos);
    }
    for (uint32_t i = 0; i < capacity; ++i) free[i] = capacity - 1 - i;  // position 0 first
    return OutboundTable(buckets, n_buckets - 1, pool, cookies, nat, free, capacity);
}

OutboundTable::OutboundTable(OutboundTable&& o) noexcept
    : buckets_(std::exchange(o.buckets_, nullptr)),
      mask_(o.mask_),
      pool_(std::exchange(o.pool_, nullptr)),
      cookies_(std::exchange(o.cookies_, nullptr)),
      nat_(std::exchange(o.nat_, nullptr)),
      free_(std::exchange(o.free_, nullptr)),
      capacity_(o.capacity_),
      n_free_(o.n_free_),
      rng_(o.rng_) {}

OutboundTable::~OutboundTable() {
    rte_free(buckets_);
    rte_free(pool_);
    rte_free(free_);
    rte_free(cookies_);
    rte_free(nat_);
}

template <typename Accept>
uint32_t OutboundTable::first_match(const Hash& h, Accept accept) const noexcept {
    for (const uint32_t b : {h.bucket, alt(h.bucket, h.sig)}) {
        const Bucket& bk = buckets_[b];
        for (uint32_t m = sig_matches(bk, h.sig); m != 0; m &= m - 1) {
            const uint32_t pos = bk.pos[__builtin_ctz(m)];
            if (pos != kEmpty && accept(pos)) return pos;
        }
    }
    return kEmpty;
}

// Inlined into find_bulk, its one caller on the packet path.
[[gnu::always_inline]] inline uint32_t OutboundTable::candidate(const Hash& h) const noexcept {
    return first_match(h, [](uint32_t) { return true; });
}

int32_t OutboundTable::find_hashed(const OutboundKey& k, const Hash& h) const noexcept {
    const uint32_t pos = first_match(h, [&](uint32_t p) { return pool_[p].sel == k; });
    return pos == kEmpty ? -ENOENT : int32_t(pos);
}

int32_t OutboundTable::find(const OutboundKey& key) const noexcept { return find_hashed(key, hash(key)); }

// Three rounds, each over every key before the next: buckets requested, signatures
// compared and the records requested, keys confirmed on the records. A key equal to the
// one before it (packets to one UE in a row: a TCP segment train, a burst of one SA)
// takes that one's answer and skips the rounds.
void OutboundTable::find_bulk(const OutboundKey* const* keys, uint32_t n, int32_t* positions) const noexcept {
    for (uint32_t off = 0; off < n; off += kMaxBulk) {
        const uint32_t m = std::min(kMaxBulk, n - off);
        Hash h[kMaxBulk];
        uint32_t cand[kMaxBulk];
        bool repeat[kMaxBulk];
        for (uint32_t i = 0; i < m; ++i) {
            repeat[i] = off + i > 0 && *keys[off + i] == *keys[off + i - 1];
            if (repeat[i]) continue;
            h[i] = hash(*keys[off + i]);
            prefetch_buckets(h[i]);
        }
        for (uint32_t i = 0; i < m; ++i) {
            if (repeat[i]) continue;
            cand[i] = candidate(h[i]);
            if (cand[i] != kEmpty) prefetch(int32_t(cand[i]));
        }
        for (uint32_t i = 0; i < m; ++i) {
            const OutboundKey& k = *keys[off + i];
            int32_t& out = positions[off + i];
            if (repeat[i]) out = positions[off + i - 1];
            else if (cand[i] == kEmpty) out = -ENOENT;  // no signature matched: absent
            else if (pool_[cand[i]].sel == k) out = int32_t(cand[i]);
            else out = find_hashed(k, h[i]);  // a signature collision (rare)
        }
    }
}

// Into a free entry of either bucket, or else a random walk that moves entries to their
// other bucket until one has room; a walk that finds none is undone.
bool OutboundTable::place(Hash h, uint32_t pos) noexcept {
    uint32_t sig = h.sig, b = h.bucket;
    if (put(buckets_[b], sig, pos)) return true;
    b = alt(b, sig);
    if (put(buckets_[b], sig, pos)) return true;
    struct Step {
        uint32_t bucket, way;
    } path[kMaxKicks];
    auto swap_with = [&](const Step& s) {
        std::swap(sig, buckets_[s.bucket].sig[s.way]);
        std::swap(pos, buckets_[s.bucket].pos[s.way]);
    };
    for (uint32_t k = 0; k < kMaxKicks; ++k) {
        rng_ ^= rng_ << 13;  // xorshift32
        rng_ ^= rng_ >> 17;
        rng_ ^= rng_ << 5;
        path[k] = {b, rng_ % kWays};
        swap_with(path[k]);  // carry the evicted entry on to its other bucket
        b = alt(b, sig);
        if (put(buckets_[b], sig, pos)) return true;
    }
    for (uint32_t k = kMaxKicks; k-- > 0;) swap_with(path[k]);
    return false;
}

int32_t OutboundTable::insert(const SaConfig& sa, const HmacKey& key, uint32_t cipher) noexcept {
    const OutboundKey k{sa.ue_addr, sa.ue_port, sa.pcscf_port};
    const Hash h = hash(k);
    if (find_hashed(k, h) >= 0) return -EEXIST;
    if (n_free_ == 0) return -ENOSPC;
    const uint32_t pos = free_[n_free_ - 1];
    if (!place(h, pos)) return -ENOSPC;  // never seen at half load; the table is unchanged
    --n_free_;
    OutboundSa& r = pool_[pos];
    std::memset(static_cast<void*>(&r), 0, sizeof r);
    r.spi = sa.spi;
    r.alg = sa.alg;
    r.ealg = sa.ealg;
    r.xf = transform(sa.alg, sa.ealg).value_or(Transform::hmac);  // the engine checked the pair
    r.cipher = cipher;
    r.key = HmacKey160::of(key);
    cookies_[pos] = sa.cookie;
    if (sa.mode == Mode::udp_enc_tun) r.flags = OutboundSa::kUdpEncTun;
    nat_[pos] = NatSide::of(sa);
    r.pcscf_addr = sa.pcscf_addr;
    r.sel = k;
    r.seq = sa.seq_start;
    return int32_t(pos);
}

void OutboundTable::erase(int32_t pos) noexcept {
    OutboundSa& r = pool_[pos];
    const Hash h = hash(r.sel);
    if (!take(buckets_[h.bucket], uint32_t(pos))) take(buckets_[alt(h.bucket, h.sig)], uint32_t(pos));
    std::memset(static_cast<void*>(&r), 0, sizeof r);
    cookies_[pos] = 0;
    nat_[pos] = NatSide{};
    free_[n_free_++] = uint32_t(pos);
}

}  // namespace pcscf::esp
