// The outbound SA table: a bucketised cuckoo hash over a pool of records. Checked against
// what it must keep (every SA found at the position it was given, until erased), and in
// the cases a hash table gets wrong: full tables, signature collisions, both buckets full.
#include <gtest/gtest.h>
#include <rte_memory.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <random>
#include <unordered_map>
#include <vector>

#include "dataplane/esp/outbound_table.hpp"

namespace pcscf::esp {
namespace {

OutboundKey v4_key(uint32_t i, uint16_t ue_port = 5062, uint16_t pcscf_port = 5064) {
    const uint8_t b[4] = {10, uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)};
    return OutboundKey{net::IpAddr::v4(b), ue_port, pcscf_port};
}

OutboundKey v6_key(std::mt19937_64& rng) {
    OutboundKey k;
    for (auto& b : k.ue_addr.bytes) b = uint8_t(rng());
    k.ue_addr.bytes[0] = 0x20;  // not v4-mapped
    k.ue_port = uint16_t(1024 + rng() % 60000);
    k.pcscf_port = uint16_t(1024 + rng() % 60000);
    return k;
}

SaConfig sa_of(const OutboundKey& k, uint32_t spi) {
    SaConfig sa;
    sa.dir = Direction::outbound;
    sa.spi = spi;
    sa.ue_addr = k.ue_addr;
    sa.ue_port = k.ue_port;
    sa.pcscf_port = k.pcscf_port;
    return sa;
}

OutboundTable make(uint32_t capacity) {
    auto t = OutboundTable::create(capacity, SOCKET_ID_ANY);
    EXPECT_TRUE(t.has_value()) << t.error();
    return std::move(*t);
}

std::vector<int32_t> bulk(const OutboundTable& t, const std::vector<OutboundKey>& keys) {
    std::vector<const OutboundKey*> ptrs;
    for (const auto& k : keys) ptrs.push_back(&k);
    std::vector<int32_t> pos(keys.size(), 12345);
    t.find_bulk(ptrs.data(), uint32_t(ptrs.size()), pos.data());
    return pos;
}

TEST(OutboundTable, RefusesSizesItCannotHold) {
    EXPECT_FALSE(OutboundTable::create(7, SOCKET_ID_ANY).has_value());
    auto huge = OutboundTable::create((1u << 28) + 1, SOCKET_ID_ANY);
    ASSERT_FALSE(huge.has_value());
    EXPECT_NE(huge.error().find("entries"), std::string::npos) << huge.error();
}

// The benchmark's keys (consecutive IPv4 UEs) and random IPv6 ones, up to capacity.
TEST(OutboundTable, FillsToCapacityAndFindsEverySa) {
    constexpr uint32_t kCap = 1 << 16;
    std::mt19937_64 rng(7);
    for (bool v6 : {false, true}) {
        OutboundTable t = make(kCap);
        std::vector<OutboundKey> keys;
        std::vector<int32_t> at;
        std::vector<bool> taken(kCap, false);
        for (uint32_t i = 0; i < kCap; ++i) {
            keys.push_back(v6 ? v6_key(rng) : v4_key(i));
            const int32_t pos = t.insert(sa_of(keys.back(), i + 1), HmacKey{});
            ASSERT_GE(pos, 0) << "insert " << i << " of " << kCap << (v6 ? " (v6)" : "");
            ASSERT_LT(uint32_t(pos), t.pool_size());
            ASSERT_FALSE(taken[pos]) << "position " << pos << " given twice";
            taken[pos] = true;
            at.push_back(pos);
        }
        EXPECT_EQ(t.count(), kCap);
        for (uint32_t i = 0; i < kCap; ++i) {
            ASSERT_EQ(t.find(keys[i]), at[i]) << i;
            ASSERT_EQ(t.at(at[i]).spi, i + 1);
        }
        EXPECT_EQ(bulk(t, keys), at) << "bulk lookups (more than one group of 64) agree";
        OutboundKey absent = v4_key(kCap + 5, 1, 2);
        EXPECT_EQ(t.insert(sa_of(absent, 1), HmacKey{}), -ENOSPC);
        EXPECT_EQ(t.insert(sa_of(keys[17], 1), HmacKey{}), -EEXIST) << "full, but present";
        EXPECT_LT(t.find(absent), 0);
    }
}

TEST(OutboundTable, ErasedSasAreGoneTheOthersKeepTheirPositions) {
    OutboundTable t = make(4096);
    std::vector<OutboundKey> keys;
    std::vector<int32_t> at;
    for (uint32_t i = 0; i < 4096; ++i) {
        keys.push_back(v4_key(i, uint16_t(6000 + i % 7)));
        at.push_back(t.insert(sa_of(keys.back(), i + 1), HmacKey{}));
        ASSERT_GE(at.back(), 0);
    }
    for (uint32_t i = 0; i < 4096; i += 3) t.erase(at[i]);
    EXPECT_EQ(t.count(), 4096u - 1366u);
    const std::vector<int32_t> found = bulk(t, keys);
    for (uint32_t i = 0; i < 4096; ++i) {
        if (i % 3 == 0) {
            EXPECT_LT(t.find(keys[i]), 0) << i;
            EXPECT_LT(found[i], 0) << i;
            EXPECT_EQ(t.at(at[i]).spi, 0u) << "an erased record is cleared";
        } else {
            EXPECT_EQ(t.find(keys[i]), at[i]) << i;
            EXPECT_EQ(found[i], at[i]) << i;
        }
    }
    for (uint32_t i = 0; i < 4096; i += 3) EXPECT_GE(t.insert(sa_of(keys[i], 1), HmacKey{}), 0);
    EXPECT_EQ(t.count(), 4096u);
}

// Keys in runs, as a burst to few UEs brings them: a key equal to the one before takes its
// answer, so every run must still get its own SA. Runs of present and absent keys, keys
// that differ from the one before only in a port, and runs across the bulk size.
TEST(OutboundTable, KeysInRunsEachFindTheirOwnSa) {
    OutboundTable t = make(1024);
    std::vector<OutboundKey> present;
    std::vector<int32_t> at;
    for (uint32_t i = 0; i < 8; ++i) {
        present.push_back(v4_key(i / 2, uint16_t(6000 + i % 2)));  // pairs of one UE, two ports
        at.push_back(t.insert(sa_of(present.back(), i + 1), HmacKey{}));
        ASSERT_GE(at.back(), 0);
    }
    const OutboundKey absent = v4_key(0, 6002);  // the first UE, a port with no SA
    std::mt19937 rng(11);
    std::vector<OutboundKey> keys;
    std::vector<int32_t> want;
    while (keys.size() < 5 * OutboundTable::kMaxBulk) {
        const uint32_t pick = rng() % 9, run = 1 + rng() % 9;
        for (uint32_t r = 0; r < run; ++r) {
            keys.push_back(pick < 8 ? present[pick] : absent);
            want.push_back(pick < 8 ? at[pick] : -1);
        }
    }
    const std::vector<int32_t> found = bulk(t, keys);
    for (size_t i = 0; i < keys.size(); ++i) {
        if (want[i] < 0) EXPECT_LT(found[i], 0) << i;
        else EXPECT_EQ(found[i], want[i]) << i;
    }
}

// Two keys with the same 32-bit signature in a two-bucket table, so each lookup meets the
// other key's entry: the record's key, not the signature, decides.
TEST(OutboundTable, ASignatureCollisionIsNotAMatch) {
    OutboundTable t = make(8);
    ASSERT_EQ(t.buckets(), 2u);
    // Random keys: CRC32-C tells apart any keys that differ in fewer than 33 bits, so
    // consecutive addresses never collide; random ones do, by the birthday bound.
    std::mt19937_64 rng(3);
    std::unordered_map<uint32_t, OutboundKey> by_sig;
    OutboundKey a, b;
    bool found = false;
    for (uint32_t i = 0; i < 2'000'000 && !found; ++i) {
        const OutboundKey k = v6_key(rng);
        const auto [it, fresh] = by_sig.emplace(t.hash(k).sig, k);
        if (!fresh && !(it->second == k)) {
            a = it->second;
            b = k;
            found = true;
        }
    }
    ASSERT_TRUE(found) << "no two keys share a signature";
    ASSERT_EQ(t.hash(a).sig, t.hash(b).sig);
    ASSERT_FALSE(a == b);

    const int32_t pa = t.insert(sa_of(a, 1), HmacKey{});
    ASSERT_GE(pa, 0);
    EXPECT_LT(t.find(b), 0);
    EXPECT_LT(bulk(t, {b})[0], 0);
    const int32_t pb = t.insert(sa_of(b, 2), HmacKey{});
    ASSERT_GE(pb, 0) << "the collision is not taken for the key itself";
    EXPECT_NE(pa, pb);
    EXPECT_EQ(t.find(a), pa);
    EXPECT_EQ(t.find(b), pb);
    EXPECT_EQ(bulk(t, {b, a}), (std::vector<int32_t>{pb, pa}));
    t.erase(pa);
    EXPECT_LT(t.find(a), 0);
    EXPECT_EQ(t.find(b), pb);
    EXPECT_EQ(bulk(t, {a, b}), (std::vector<int32_t>{-ENOENT, pb}));
}

// Both buckets of a key filled by keys that start there: the insert must move one of them
// to its other bucket, and every SA is still found afterwards.
TEST(OutboundTable, AnInsertIntoTwoFullBucketsMovesAnEntry) {
    OutboundTable t = make(4096);
    const OutboundKey target = v4_key(0, 1, 1);
    const OutboundTable::Hash h = t.hash(target);
    const uint32_t first = h.bucket, second = t.alt(h.bucket, h.sig);
    std::vector<OutboundKey> filler;
    uint32_t in_first = 0, in_second = 0;
    for (uint32_t i = 1; in_first + in_second < 2 * OutboundBucket::kWays; ++i) {
        ASSERT_LT(i, 10'000'000u);
        const OutboundKey k = v4_key(i, 1, 1);
        const uint32_t b = t.hash(k).bucket;
        if (b == first && in_first < OutboundBucket::kWays) ++in_first;
        else if (b == second && in_second < OutboundBucket::kWays) ++in_second;
        else continue;
        filler.push_back(k);
    }
    std::vector<int32_t> at;
    for (size_t i = 0; i < filler.size(); ++i) {  // each goes to its own first bucket
        at.push_back(t.insert(sa_of(filler[i], uint32_t(i + 1)), HmacKey{}));
        ASSERT_GE(at.back(), 0);
    }
    const int32_t pt = t.insert(sa_of(target, 99), HmacKey{});
    ASSERT_GE(pt, 0) << "both buckets were full: an entry had to move";
    EXPECT_EQ(t.find(target), pt);
    for (size_t i = 0; i < filler.size(); ++i) EXPECT_EQ(t.find(filler[i]), at[i]) << i;
    filler.push_back(target);
    at.push_back(pt);
    EXPECT_EQ(bulk(t, filler), at);
    for (int32_t p : at) t.erase(p);
    EXPECT_EQ(t.count(), 0u);
    for (const auto& k : filler) EXPECT_LT(t.find(k), 0);
}

// Random inserts and erases over a small key space against a std::map: results, errors
// and positions agree at every step, through fills, refusals and reuse.
TEST(OutboundTable, RandomOperationsAgreeWithAMap) {
    constexpr uint32_t kCap = 512, kKeys = 1500;
    OutboundTable t = make(kCap);
    std::mt19937_64 rng(11);
    std::vector<OutboundKey> keys;
    for (uint32_t i = 0; i < kKeys; ++i) keys.push_back(i % 2 ? v6_key(rng) : v4_key(i * 7919));
    auto less = [](const OutboundKey& x, const OutboundKey& y) { return std::memcmp(&x, &y, kOutboundKeyLen) < 0; };
    std::map<OutboundKey, int32_t, decltype(less)> model(less);
    for (uint32_t step = 0; step < 60'000; ++step) {
        const OutboundKey& k = keys[rng() % kKeys];
        const auto it = model.find(k);
        if (rng() % 100 < 55) {
            const int32_t r = t.insert(sa_of(k, step + 1), HmacKey{});
            if (it != model.end()) ASSERT_EQ(r, -EEXIST) << step;
            else if (model.size() == kCap) ASSERT_EQ(r, -ENOSPC) << step;
            else {
                ASSERT_GE(r, 0) << step;
                model.emplace(k, r);
            }
        } else if (it != model.end()) {
            t.erase(it->second);
            model.erase(it);
        }
        ASSERT_EQ(t.count(), model.size());
        if (step % 1000 == 0) {
            const std::vector<int32_t> found = bulk(t, keys);
            for (uint32_t i = 0; i < kKeys; ++i) {
                const auto m = model.find(keys[i]);
                ASSERT_EQ(found[i], m == model.end() ? -ENOENT : m->second) << step << " key " << i;
                ASSERT_EQ(t.find(keys[i]), found[i]);
            }
        }
    }
}

}  // namespace
}  // namespace pcscf::esp
