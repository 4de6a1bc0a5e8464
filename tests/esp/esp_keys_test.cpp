// TS 33.203 Annex I key derivations (sa_contract/esp_keys) for every alg/ealg of Annex H.
//
// The expected values were computed independently with tests/esp/vectors/annex_i_vectors.py
// (/usr/bin/python3 and Debian's python3-cryptography 38.0.4: HMAC-SHA-256 for the
// TS 33.220 KDF, odd parity by bit count; the script also checks that TripleDES encrypts
// the same with and without the parity adjustment). No published vectors exist for the
// 0x58/0x59 labels; HMAC-SHA-256 itself is checked against RFC 4231 cases 1 and 2.
// Set 1 uses the CK/IK of the Milenage test set 1 (TS 35.208) as plain 16-byte inputs.
#include <gtest/gtest.h>

#include <string>

#include "sa_contract/esp_keys.hpp"
#include "sa_contract/hmac_key.hpp"
#include "sa_contract/imb_manager.hpp"
#include "tests/common/hex.hpp"

namespace pcscf::test {
namespace {

using namespace pcscf::esp;

struct Vectors {
    std::string ck, ik, des3, gcm_kdf, gcm_salt, gmac_kdf, gmac_salt;
};

const Vectors kSet1{"b40ba9a3c58b2a05bbf0d987b21bf8cb",
                    "f769bcd751044604127672711c6d3441",
                    "b50ba8a2c48a2a04baf1d986b31af8cbb50ba8a2c48a2a04",
                    "990208b8e98def9647b3267bbc4fb85ba56472b9fe616bae6ed8e3d589273db6",
                    "89273db6",
                    "de2d8fa4a81e8872bed63550622ea1e4b741f4e0ef633fa3ecbf4e12dbc2b1c2",
                    "dbc2b1c2"};
const Vectors kSet2{"000102030405060708090a0b0c0d0e0f",
                    "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
                    "010102020404070708080b0b0d0d0e0e0101020204040707",
                    "112b41804eda0e53ebfd9e35d37a0411e69015548fca21341a6e17e56607c502",
                    "6607c502",
                    "efe248c5afab290926b591c4ccf5226a2cd905afd6c7ec06abcbb98dca326c7e",
                    "ca326c7e"};

std::array<uint8_t, 16> key16(const std::string& hex) {
    const auto v = from_hex(hex);
    std::array<uint8_t, 16> k{};
    std::copy(v.begin(), v.end(), k.begin());
    return k;
}
std::span<const uint8_t> bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

class EspKeysTest : public ::testing::TestWithParam<Vectors> {
protected:
    static void SetUpTestSuite() {
        auto m = ImbManager::create();
        ASSERT_TRUE(m) << m.error();
        mgr_ = new ImbManager(std::move(*m));
    }
    static void TearDownTestSuite() {
        delete mgr_;
        mgr_ = nullptr;
    }
    static IMB_MGR* mgr() { return mgr_->get(); }
    static inline ImbManager* mgr_ = nullptr;
};

TEST_F(EspKeysTest, HmacSha256MatchesRfc4231) {
    const auto k1 = std::vector<uint8_t>(20, 0x0b);
    auto d1 = hmac_sha256(mgr(), k1, bytes("Hi There"));
    ASSERT_TRUE(d1) << d1.error();
    EXPECT_EQ(to_hex(*d1), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    auto d2 = hmac_sha256(mgr(), bytes("Jefe"), bytes("what do ya want for nothing?"));
    ASSERT_TRUE(d2) << d2.error();
    EXPECT_EQ(to_hex(*d2), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    EXPECT_FALSE(hmac_sha256(mgr(), std::vector<uint8_t>(65, 1), bytes("x")));
}

TEST_P(EspKeysTest, IntegrityKeys) {
    const auto ik = key16(GetParam().ik);
    EXPECT_EQ(to_hex(ik_esp(Alg::hmac_md5_96, ik).span()), GetParam().ik);
    EXPECT_EQ(to_hex(ik_esp(Alg::hmac_sha1_96, ik).span()), GetParam().ik + "00000000");
}

TEST_P(EspKeysTest, EncryptionKeys) {
    const auto ck = key16(GetParam().ck);
    EXPECT_EQ(to_hex(ck_esp_aes_cbc(ck)), GetParam().ck);
    auto des3 = derive_ck_esp_3des(ck);
    ASSERT_TRUE(des3) << des3.error();
    EXPECT_EQ(to_hex(*des3), GetParam().des3);
}

TEST_P(EspKeysTest, KdfOutputsAndSalts) {
    const auto& v = GetParam();
    const auto ck = key16(v.ck), ik = key16(v.ik);
    std::array<uint8_t, 32> kdf_key;
    std::copy(ck.begin(), ck.end(), kdf_key.begin());
    std::copy(ik.begin(), ik.end(), kdf_key.begin() + 16);

    const std::array<std::span<const uint8_t>, 1> gcm_p{bytes("AES_GCM_SALT")};
    auto gcm_out = kdf_33220(mgr(), kdf_key, 0x59, gcm_p);
    ASSERT_TRUE(gcm_out) << gcm_out.error();
    EXPECT_EQ(to_hex(*gcm_out), v.gcm_kdf);
    const std::array<std::span<const uint8_t>, 1> gmac_p{bytes("AES_GMAC_SALT")};
    auto gmac_out = kdf_33220(mgr(), kdf_key, 0x58, gmac_p);
    ASSERT_TRUE(gmac_out) << gmac_out.error();
    EXPECT_EQ(to_hex(*gmac_out), v.gmac_kdf);

    auto gcm = derive_gcm_key_salt(mgr(), ck, ik);
    ASSERT_TRUE(gcm) << gcm.error();
    EXPECT_EQ(to_hex(gcm->key), v.ck);  // CK_ESP = CK_IM
    EXPECT_EQ(to_hex(gcm->salt), v.gcm_salt);
    auto gmac = derive_gmac_key_salt(mgr(), ck, ik);
    ASSERT_TRUE(gmac) << gmac.error();
    EXPECT_EQ(to_hex(gmac->key), v.ik);  // IK_ESP = IK_IM
    EXPECT_EQ(to_hex(gmac->salt), v.gmac_salt);

    auto by_fc = derive_aead_key_salt(mgr(), ck, ik, kFcAesGcmSalt);
    ASSERT_TRUE(by_fc);
    EXPECT_EQ(*by_fc, *gcm);
    EXPECT_FALSE(derive_aead_key_salt(mgr(), ck, ik, 0x57));
}

TEST_P(EspKeysTest, EveryPairOfAnnexH) {
    const auto& v = GetParam();
    const auto ck = key16(v.ck), ik = key16(v.ik);
    const std::string gcm = v.ck + v.gcm_salt, gmac = v.ik + v.gmac_salt;
    const std::pair<Alg, Ealg> pairs[] = {
        {Alg::hmac_md5_96, Ealg::null},  {Alg::hmac_md5_96, Ealg::aes_cbc},  {Alg::hmac_md5_96, Ealg::des_ede3_cbc},
        {Alg::hmac_sha1_96, Ealg::null}, {Alg::hmac_sha1_96, Ealg::aes_cbc}, {Alg::hmac_sha1_96, Ealg::des_ede3_cbc},
        {Alg::aes_gmac, Ealg::null},     {Alg::null, Ealg::aes_gcm},
    };
    for (const auto& [alg, ealg] : pairs) {
        SCOPED_TRACE(std::string(name(alg)) + "/" + std::string(name(ealg)));
        auto k = cipher_key(mgr(), alg, ealg, ck, ik);
        ASSERT_TRUE(k) << k.error();
        const std::string want = ealg == Ealg::aes_cbc        ? v.ck
                                 : ealg == Ealg::des_ede3_cbc ? v.des3
                                 : ealg == Ealg::aes_gcm      ? gcm
                                 : alg == Alg::aes_gmac       ? gmac
                                                              : "";
        EXPECT_EQ(to_hex(k->span()), want);
        EXPECT_EQ(k->len, cipher_key_len(alg, ealg));
    }
    for (auto [alg, ealg] : {std::pair{Alg::aes_gmac, Ealg::aes_cbc},
                             {Alg::hmac_sha1_96, Ealg::aes_gcm},
                             {Alg::null, Ealg::null},
                             {Alg::null, Ealg::aes_cbc},
                             {Alg::aes_gmac, Ealg::aes_gcm},
                             {Alg{0}, Ealg::null},
                             {Alg::hmac_sha1_96, Ealg{9}}}) {
        SCOPED_TRACE(std::string(name(alg)) + "/" + std::string(name(ealg)));
        auto k = cipher_key(mgr(), alg, ealg, ck, ik);
        ASSERT_FALSE(k);
        EXPECT_NE(k.error().find("Annex H"), std::string::npos) << k.error();
    }
}

INSTANTIATE_TEST_SUITE_P(Sets, EspKeysTest, ::testing::Values(kSet1, kSet2));

TEST(EspKeys3des, RefusesDegenerateAndWeakKeys) {
    // CK2 equal to CK1 up to parity bits: 3DES would be single DES.
    auto same = derive_ck_esp_3des(key16("0123456789abcdef0022446688aaccee"));
    ASSERT_FALSE(same);
    EXPECT_NE(same.error().find("same DES key"), std::string::npos);
    // The weak key 0101..01 and the semi-weak 01fe01fe.. (here with even parity).
    EXPECT_FALSE(derive_ck_esp_3des(key16("00000000000000000123456789abcdef")));
    EXPECT_FALSE(derive_ck_esp_3des(key16("0123456789abcdef00ff00ff00ff00ff")));
    auto ok = derive_ck_esp_3des(key16("0123456789abcdeffedcba9876543210"));
    ASSERT_TRUE(ok) << ok.error();
    EXPECT_EQ(to_hex(*ok), "0123456789abcdeffedcba98765432100123456789abcdef");  // already odd parity
}

TEST(EspKeysKdf, RefusesBadParameters) {
    auto m = ImbManager::create();
    ASSERT_TRUE(m) << m.error();
    const std::array<uint8_t, 32> key{};
    const std::array<std::span<const uint8_t>, 1> empty{std::span<const uint8_t>{}};
    EXPECT_FALSE(kdf_33220(m->get(), key, 0x59, empty));
    const std::vector<uint8_t> big(0x10000, 1);
    const std::array<std::span<const uint8_t>, 1> too_long{big};
    EXPECT_FALSE(kdf_33220(m->get(), key, 0x59, too_long));
}

}  // namespace
}  // namespace pcscf::test
