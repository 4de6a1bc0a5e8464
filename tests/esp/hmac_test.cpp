// HMAC-MD5-96 and HMAC-SHA-1-96 against the RFC 2202 test cases, HMAC-SHA-256-128 against
// RFC 4231's (RFC 4868 2.7.2.1 uses them, truncated to 128 bits), all through the same
// multi-buffer batch the engine uses, plus TS 33.203 Annex I key derivation.
#include <gtest/gtest.h>

#include <memory>
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
    std::string digest;  // full digest, hex; ESP uses the first 12 bytes (16 for SHA-256)
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

// RFC 4231 4.2-4.8. Cases 6 and 7 use 131-byte keys: the SHA-256 of 131 bytes of 0xaa
// (Python's hashlib) stands for them, as RFC 2104 2 says.
std::vector<Rfc2202Case> rfc4231_cases() {
    const auto sha256_long = from_hex("45ad4b37c6e2fc0a2cfcc1b5da524132ec707615c2cae1dbbc43c97aa521db81");
    const Alg sha256 = Alg::hmac_sha256_128;
    return {
        {sha256, fill(0x0b, 20), "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        {sha256, text("Jefe"), "what do ya want for nothing?",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {sha256, fill(0xaa, 20), str(fill(0xdd, 50)),
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
        {sha256, ascending(25), str(fill(0xcd, 50)),
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
        {sha256, fill(0x0c, 20), "Test With Truncation", "a3b6167473100ee06e0c796c2955552b"},
        {sha256, sha256_long, "Test Using Larger Than Block-Size Key - Hash Key First",
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
        {sha256, sha256_long,
         "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be "
         "hashed before being used by the HMAC algorithm.",
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
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

TEST_F(HmacTest, Rfc2202And4231AllCasesInOneMixedBatch) {
    auto cases = rfc2202_cases();
    for (auto& c : rfc4231_cases()) cases.push_back(std::move(c));
    std::vector<HmacKey> keys;
    for (const auto& c : cases) {
        auto k = hmac_states(mgr->get(), c.alg, c.key);
        ASSERT_TRUE(k.has_value()) << k.error();
        keys.push_back(*k);
    }
    CryptoBatch batch(mgr->get());
    std::vector<std::array<uint8_t, 20>> tags(cases.size());
    for (size_t i = 0; i < cases.size(); ++i) {
        tags[i].fill(0xee);  // canary: only the ICV's 12 (16) bytes may be written
        batch.add(cases[i].alg, keys[i], reinterpret_cast<const uint8_t*>(cases[i].data.data()),
                  uint32_t(cases[i].data.size()), tags[i].data());
    }
    batch.run();
    for (size_t i = 0; i < cases.size(); ++i) {
        SCOPED_TRACE("case " + std::to_string(i % 7 + 1) + " " + std::string(name(cases[i].alg)));
        const uint32_t icv = icv_len(cases[i].alg, Transform::hmac);
        EXPECT_TRUE(batch.ok(uint32_t(i)));
        EXPECT_EQ(to_hex({tags[i].data(), icv}), cases[i].digest.substr(0, 2 * icv));
        for (size_t b = icv; b < tags[i].size(); ++b) EXPECT_EQ(tags[i][b], 0xee) << "wrote past the ICV";
    }
}

// More jobs than the SIMD lanes (16 for SHA-1 on AVX-512), with varied lengths, must
// give the same tags as computing each alone.
TEST_F(HmacTest, FullBatchMatchesOneAtATime) {
    std::vector<uint8_t> data(2000);
    for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 7 + 3);
    for (Alg alg : {Alg::hmac_md5_96, Alg::hmac_sha1_96, Alg::hmac_sha256_128}) {
        const auto key = *hmac_states(mgr->get(), alg, fill(0x42, key_len(alg)));
        CryptoBatch all(mgr->get());
        std::vector<std::array<uint8_t, 16>> many(CryptoBatch::kMax), one(CryptoBatch::kMax);
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

// IPsec-MB refuses a whole burst for one job it finds invalid: it runs none of them and
// leaves the others' status as the previous burst left it (completed). Every job of
// such a burst must fail, none be taken for done: the hash bursts and the AES-CBC
// cipher bursts alike.
TEST_F(HmacTest, AJobTheBurstRefusesFailsTheWholeBurst) {
    const auto key = *hmac_states(mgr->get(), Alg::hmac_sha1_96, fill(0x42, 20));
    auto aes = std::make_unique<CipherKeys>();
    const auto ck = fill(0x24, 16);
    IMB_AES_KEYEXP_128(mgr->get(), ck.data(), aes->cbc.sched, aes->cbc.sched + CbcKeys::kAesSchedule);
    std::vector<uint8_t> data(4 * 64, 0x5a);
    uint8_t tags[4][16];
    CryptoBatch batch(mgr->get());
    // Per job the ESP header and a 16-byte IV, then 32 bytes of payload to encrypt; job 2
    // without a tag to write (hash) or with a length of no whole blocks (cipher).
    auto run = [&](bool bad_hash, bool bad_cipher) {
        batch.clear();
        for (uint32_t i = 0; i < 4; ++i) {
            uint8_t* p = data.data() + 64 * i;
            const bool bad = i == 2;
            batch.add(Alg::hmac_sha1_96, key, p, 56, bad && bad_hash ? nullptr : tags[i],
                      CbcPart{Ealg::aes_cbc, false, aes.get(), p + 8, 24, bad && bad_cipher ? 31u : 32u});
        }
        batch.run();
    };
    run(false, false);
    for (uint32_t i = 0; i < 4; ++i) ASSERT_TRUE(batch.ok(i)) << i;
    run(true, false);
    for (uint32_t i = 0; i < 4; ++i) EXPECT_FALSE(batch.ok(i)) << "hash burst refused, job " << i;
    run(false, false);
    for (uint32_t i = 0; i < 4; ++i) ASSERT_TRUE(batch.ok(i)) << i;
    run(false, true);
    for (uint32_t i = 0; i < 4; ++i) EXPECT_FALSE(batch.ok(i)) << "cipher burst refused, job " << i;
}

// HMAC-MD5 goes through IPsec-MB's job API, which judges each job alone: a job it
// refuses (here one with no tag to write) fails, and only that one, whatever the
// others' place around it in the manager's queue; the next batch is unaffected.
TEST_F(HmacTest, AJobTheJobApiRefusesFailsAlone) {
    const auto key = *hmac_states(mgr->get(), Alg::hmac_md5_96, fill(0x42, 16));
    std::vector<uint8_t> data(64 * 40, 0x5a);
    uint8_t tags[40][16];
    CryptoBatch batch(mgr->get());
    for (uint32_t bad : {0u, 2u, 17u, 39u}) {
        batch.clear();
        for (uint32_t i = 0; i < 40; ++i)
            batch.add(Alg::hmac_md5_96, key, data.data() + 64 * i, 56, i == bad ? nullptr : tags[i]);
        batch.run();
        for (uint32_t i = 0; i < 40; ++i) EXPECT_EQ(batch.ok(i), i != bad) << "job " << i << ", refused " << bad;
    }
    batch.clear();
    for (uint32_t i = 0; i < 40; ++i) batch.add(Alg::hmac_md5_96, key, data.data() + 64 * i, 56, tags[i]);
    batch.run();
    for (uint32_t i = 0; i < 40; ++i) EXPECT_TRUE(batch.ok(i)) << i;
}

TEST_F(HmacTest, AnnexIKeyDerivation) {
    std::array<uint8_t, 16> ik;
    for (size_t i = 0; i < ik.size(); ++i) ik[i] = uint8_t(0x10 + i);
    const EspKey md5 = ik_esp(Alg::hmac_md5_96, ik);
    EXPECT_EQ(to_hex(md5.span()), "101112131415161718191a1b1c1d1e1f");
    const EspKey sha1 = ik_esp(Alg::hmac_sha1_96, ik);
    EXPECT_EQ(to_hex(sha1.span()), "101112131415161718191a1b1c1d1e1f00000000");
    const EspKey sha256 = ik_esp(Alg::hmac_sha256_128, ik);
    EXPECT_EQ(to_hex(sha256.span()), "101112131415161718191a1b1c1d1e1f00000000000000000000000000000000");
}

// RFC 2104 2 pads a key with zeros to the block, so the 256-bit IK_ESP keys the same MAC
// as IK alone: Python's hmac (hmac.new(IK, b"abc", sha256)) computed the expected ICV.
TEST_F(HmacTest, Sha256IkEspKeysTheMacOfIk) {
    std::array<uint8_t, 16> ik;
    for (size_t i = 0; i < ik.size(); ++i) ik[i] = uint8_t(0x10 + i);
    const auto key = expand_key(mgr->get(), Alg::hmac_sha256_128, ik_esp(Alg::hmac_sha256_128, ik).span());
    ASSERT_TRUE(key.has_value()) << key.error();
    CryptoBatch batch(mgr->get());
    std::array<uint8_t, 16> tag{};
    const std::string abc = "abc";
    batch.add(Alg::hmac_sha256_128, *key, reinterpret_cast<const uint8_t*>(abc.data()), 3, tag.data());
    batch.run();
    ASSERT_TRUE(batch.ok(0));
    EXPECT_EQ(to_hex(tag), "c7f4a9f610e55bb33a0881ded2e7db01");
}

TEST_F(HmacTest, SaKeysOfTheWrongLengthAreRefused) {
    for (Alg alg : {Alg::hmac_md5_96, Alg::hmac_sha1_96, Alg::hmac_sha256_128}) {
        for (size_t len : {0, 15, 17, 19, 21, 31, 33, 64}) {
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
