// HMAC-MD5-96 and HMAC-SHA-1-96 against the RFC 2202 test cases, through the same
// multi-buffer batch the engine uses, plus TS 33.203 Annex I key derivation.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dataplane/esp/crypto_batch.hpp"
#include "sa_contract/hmac_key.hpp"
#include "sa_contract/imb_manager.hpp"
#include "tests/common/hex.hpp"

namespace pcscf::test {
namespace {

using namespace pcscf::esp;
using namespace pcscf::net;

struct Rfc2202Case {
    Alg alg;
    std::vector<uint8_t> key;
    std::string data;
    std::string digest;  // full digest, hex; ESP uses the first 12 bytes
};

std::vector<uint8_t> fill(uint8_t b, size_t n) { return std::vector<uint8_t>(n, b); }
std::vector<uint8_t> ascending(size_t n) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = uint8_t(i + 1);
    return v;
}
std::vector<uint8_t> text(const std::string& s) { return {s.begin(), s.end()}; }
std::string str(const std::vector<uint8_t>& v) { return {v.begin(), v.end()}; }

// Cases 6 and 7 use 80-byte keys, which RFC 2104 hashes first; the hashed keys below
// were computed with Python's hashlib (MD5 / SHA-1 of 80 bytes of 0xaa).
const std::string kLongKeyData6 = "Test Using Larger Than Block-Size Key - Hash Key First";
const std::string kLongKeyData7 = "Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data";

std::vector<Rfc2202Case> rfc2202_cases() {
    const auto md5_long = from_hex("8fb6ab01840023ec453ecdec73dc1b66");
    const auto sha1_long = from_hex("4ca0ef38f1794b28a8f8ee110ee79d48ce13be25");
    const Alg md5 = Alg::hmac_md5_96, sha1 = Alg::hmac_sha1_96;
    return {
        {md5, fill(0x0b, 16), "Hi There", "9294727a3638bb1c13f48ef8158bfc9d"},
        {md5, text("Jefe"), "what do ya want for nothing?", "750c783e6ab0b503eaa86e310a5db738"},
        {md5, fill(0xaa, 16), str(fill(0xdd, 50)), "56be34521d144c88dbb8c733f0e8b3f6"},
        {md5, ascending(25), str(fill(0xcd, 50)), "697eaf0aca3a3aea3a75164746ffaa79"},
        {md5, fill(0x0c, 16), "Test With Truncation", "56461ef2342edc00f9bab995690efd4c"},
        {md5, md5_long, kLongKeyData6, "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"},
        {md5, md5_long, kLongKeyData7, "6f630fad67cda0ee1fb1f562db3aa53e"},
        {sha1, fill(0x0b, 20), "Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"},
        {sha1, text("Jefe"), "what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
        {sha1, fill(0xaa, 20), str(fill(0xdd, 50)), "125d7342b9ac11cd91a39af48aa17b4f63f175d3"},
        {sha1, ascending(25), str(fill(0xcd, 50)), "4c9007f4026250c6bc8414f9bf50c86c2d7235da"},
        {sha1, fill(0x0c, 20), "Test With Truncation", "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"},
        {sha1, sha1_long, kLongKeyData6, "aa4ae5e15272d00e95705637ce8a3b55ed402112"},
        {sha1, sha1_long, kLongKeyData7, "e8e99d0f45237d786d6bbaa7965c7808bbff1a91"},
    };
}

class HmacTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto m = ImbManager::create();
        ASSERT_TRUE(m.has_value()) << m.error();
        mgr.emplace(std::move(*m));
    }
    std::optional<ImbManager> mgr;
};

TEST_F(HmacTest, Rfc2202AllCasesInOneMixedBatch) {
    const auto cases = rfc2202_cases();
    std::vector<HmacKey> keys;
    for (const auto& c : cases) {
        auto k = hmac_states(mgr->get(), c.alg, c.key);
        ASSERT_TRUE(k.has_value()) << k.error();
        keys.push_back(*k);
    }
    CryptoBatch batch(mgr->get());
    std::vector<std::array<uint8_t, 16>> tags(cases.size());
    for (size_t i = 0; i < cases.size(); ++i) {
        tags[i].fill(0xee);  // canary: only 12 bytes may be written
        batch.add(cases[i].alg, keys[i], reinterpret_cast<const uint8_t*>(cases[i].data.data()),
                  uint32_t(cases[i].data.size()), tags[i].data());
    }
    batch.run();
    for (size_t i = 0; i < cases.size(); ++i) {
        SCOPED_TRACE("case " + std::to_string(i % 7 + 1) + " " + std::string(name(cases[i].alg)));
        EXPECT_TRUE(batch.ok(uint32_t(i)));
        EXPECT_EQ(to_hex({tags[i].data(), 12}), cases[i].digest.substr(0, 24));
        for (size_t b = 12; b < 16; ++b) EXPECT_EQ(tags[i][b], 0xee) << "wrote past the ICV";
    }
}

// More jobs than the SIMD lanes (16 for SHA-1 on AVX-512), with varied lengths, must
// give the same tags as computing each alone.
TEST_F(HmacTest, FullBatchMatchesOneAtATime) {
    std::vector<uint8_t> data(2000);
    for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 7 + 3);
    for (Alg alg : {Alg::hmac_md5_96, Alg::hmac_sha1_96}) {
        const auto key = *hmac_states(mgr->get(), alg, fill(0x42, key_len(alg)));
        CryptoBatch all(mgr->get());
        std::vector<std::array<uint8_t, 12>> many(CryptoBatch::kMax), one(CryptoBatch::kMax);
        for (uint32_t i = 0; i < CryptoBatch::kMax; ++i) all.add(alg, key, data.data() + i, 30 * i + 1, many[i].data());
        EXPECT_TRUE(all.full());
        all.run();
        for (uint32_t i = 0; i < CryptoBatch::kMax; ++i) {
            CryptoBatch single(mgr->get());
            single.add(alg, key, data.data() + i, 30 * i + 1, one[i].data());
            single.run();
            ASSERT_TRUE(all.ok(i) && single.ok(0));
            EXPECT_EQ(many[i], one[i]) << name(alg) << " job " << i;
        }
    }
}

TEST_F(HmacTest, AnnexIKeyDerivation) {
    std::array<uint8_t, 16> ik;
    for (size_t i = 0; i < ik.size(); ++i) ik[i] = uint8_t(0x10 + i);
    const EspKey md5 = ik_esp(Alg::hmac_md5_96, ik);
    EXPECT_EQ(to_hex(md5.span()), "101112131415161718191a1b1c1d1e1f");
    const EspKey sha1 = ik_esp(Alg::hmac_sha1_96, ik);
    EXPECT_EQ(to_hex(sha1.span()), "101112131415161718191a1b1c1d1e1f00000000");
}

TEST_F(HmacTest, SaKeysOfTheWrongLengthAreRefused) {
    for (Alg alg : {Alg::hmac_md5_96, Alg::hmac_sha1_96}) {
        for (size_t len : {0, 15, 17, 19, 21, 64}) {
            if (len == key_len(alg)) continue;
            const auto r = expand_key(mgr->get(), alg, fill(1, len));
            ASSERT_FALSE(r.has_value()) << name(alg) << " accepted a " << len << "-byte key";
            EXPECT_NE(r.error().find("-byte key"), std::string::npos) << r.error();
        }
        EXPECT_TRUE(expand_key(mgr->get(), alg, fill(1, key_len(alg))).has_value());
    }
    EXPECT_FALSE(hmac_states(mgr->get(), Alg::hmac_sha1_96, fill(1, 65)).has_value());
}

}  // namespace
}  // namespace pcscf::test
