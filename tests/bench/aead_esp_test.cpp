// bench/aead_esp.hpp, which seals the benchmarks' AES-GCM and AES-GMAC ESP packets and is
// the IPsec-MB reference their figures are ratios to, checked against OpenSSL (its direct
// calls, the engine's esp::aead_direct, against its jobs): the RFC 4303
// transport layout, RFC 4106 (nonce = salt || IV, AAD = SPI || seq, payload .. trailer
// encrypted) and RFC 4543 (AAD = ESP header .. trailer, nothing encrypted).
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <numeric>
#include <optional>
#include <vector>

#include "bench/aead_esp.hpp"
#include "sa_contract/imb_manager.hpp"

namespace pcscf::bench {
namespace {

using esp::kAeadIcvLen;
using esp::kAeadIvLen;
using esp::kEspHeaderLen;

// IPv4 (20 bytes) + UDP (8) + `payload` bytes, or IPv6 (40).
std::vector<uint8_t> udp_packet(bool v6, size_t payload) {
    const size_t l3 = v6 ? 40 : 20, len = l3 + 8 + payload;
    std::vector<uint8_t> p(len, 0);
    if (v6) {
        p[0] = 0x60;
        p[4] = uint8_t((len - 40) >> 8), p[5] = uint8_t(len - 40);
        p[6] = 17;
        p[7] = 64;
        p[23] = 1, p[39] = 2;
    } else {
        p[0] = 0x45;
        p[2] = uint8_t(len >> 8), p[3] = uint8_t(len);
        p[8] = 64;
        p[9] = 17;
        p[12] = 10, p[15] = 1, p[16] = 198, p[17] = 51, p[18] = 100, p[19] = 1;
    }
    p[l3] = 0x13, p[l3 + 1] = 0xc6, p[l3 + 2] = 0x13, p[l3 + 3] = 0xc8;  // 5062 -> 5064
    p[l3 + 4] = uint8_t((8 + payload) >> 8), p[l3 + 5] = uint8_t(8 + payload);
    for (size_t i = 0; i < payload; ++i) p[l3 + 8 + i] = uint8_t(i * 7 + 3);
    return p;
}

uint16_t ipv4_sum(const uint8_t* h) {
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2) sum += uint32_t(h[i] << 8 | h[i + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return uint16_t(sum);
}

// AES-128-GCM by OpenSSL: decrypts `ct` with `aad` and checks `tag`; the plaintext, or
// nothing if the tag is wrong.
std::optional<std::vector<uint8_t>> openssl_open(const uint8_t* key, const uint8_t* nonce, const uint8_t* aad,
                                                 size_t aad_len, const uint8_t* ct, size_t ct_len, const uint8_t* tag) {
    std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> c(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
    std::vector<uint8_t> pt(ct_len + 16);
    int len = 0, fin = 0;
    if (EVP_DecryptInit_ex(c.get(), EVP_aes_128_gcm(), nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_SET_IVLEN, 12, nullptr) != 1 ||
        EVP_DecryptInit_ex(c.get(), nullptr, nullptr, key, nonce) != 1 ||
        EVP_DecryptUpdate(c.get(), nullptr, &len, aad, int(aad_len)) != 1)
        return std::nullopt;
    if (ct_len > 0 && EVP_DecryptUpdate(c.get(), pt.data(), &len, ct, int(ct_len)) != 1) return std::nullopt;
    if (EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_SET_TAG, 16, const_cast<uint8_t*>(tag)) != 1 ||
        EVP_DecryptFinal_ex(c.get(), pt.data() + len, &fin) != 1)
        return std::nullopt;
    pt.resize(ct_len);
    return pt;
}

class AeadEsp : public ::testing::Test {
protected:
    void SetUp() override {
        auto m = esp::ImbManager::create();
        ASSERT_TRUE(m.has_value()) << m.error();
        imb_ = std::make_unique<esp::ImbManager>(std::move(*m));
        std::iota(key_salt_.begin(), key_salt_.end(), uint8_t(0x41));
        expand_aead_key(imb_->get(), key_salt_, *key_);
    }
    // An ESP packet around `plain` with IV `iv`, sealed by aead_jobs().
    std::vector<uint8_t> seal(esp::Transform tf, const std::vector<uint8_t>& plain, uint64_t iv, size_t& l3) {
        std::vector<uint8_t> p = esp_transport(plain, 0x1234abcd, 7, kAeadIvLen, kAeadIcvLen);
        l3 = p[0] >> 4 == 4 ? 20 : 40;
        for (uint32_t i = 0; i < 8; ++i) p[l3 + 8 + i] = uint8_t(iv >> (56 - 8 * i));
        const uint32_t len = uint32_t(p.size() - l3 - kAeadIcvLen);
        const AeadPacket one{p.data() + l3, len, p.data() + l3 + len, key_.get()};
        EXPECT_EQ(aead_jobs(imb_->get(), tf, true, {&one, 1}), 0u);
        return p;
    }
    std::array<uint8_t, 12> nonce(const uint8_t* esp) const {
        std::array<uint8_t, 12> n;
        std::memcpy(n.data(), key_salt_.data() + 16, 4);
        std::memcpy(n.data() + 4, esp + kEspHeaderLen, kAeadIvLen);
        return n;
    }

    std::unique_ptr<esp::ImbManager> imb_;
    std::array<uint8_t, 20> key_salt_{};
    std::unique_ptr<AeadKey> key_ = std::make_unique<AeadKey>();
};

TEST_F(AeadEsp, TransportLayoutPadsToFourAndFixesTheHeader) {
    const auto plain = udp_packet(false, 9);  // 17 bytes of UDP: 1 byte of padding, then trailer
    const auto p = esp_transport(plain, 0x01020304, 9, kAeadIvLen, kAeadIcvLen);
    ASSERT_EQ(p.size(), 20 + 8 + 8 + 17 + 1 + 2 + 16u);
    EXPECT_EQ(p[9], 50);
    EXPECT_EQ(size_t(p[2] << 8 | p[3]), p.size());
    EXPECT_EQ(ipv4_sum(p.data()), 0xffff);  // the checksum holds
    EXPECT_EQ(std::vector<uint8_t>(p.begin() + 20, p.begin() + 28), (std::vector<uint8_t>{1, 2, 3, 4, 0, 0, 0, 9}));
    EXPECT_TRUE(std::equal(plain.begin() + 20, plain.end(), p.begin() + 36));
    const size_t trailer = 36 + 17;
    EXPECT_EQ(p[trailer], 1);       // padding byte 1
    EXPECT_EQ(p[trailer + 1], 1);   // pad length
    EXPECT_EQ(p[trailer + 2], 17);  // next header: UDP
    const auto p6 = esp_transport(udp_packet(true, 10), 1, 1, kAeadIvLen, kAeadIcvLen);
    EXPECT_EQ(p6[6], 50);
    EXPECT_EQ(size_t(p6[4] << 8 | p6[5]), p6.size() - 40);
    EXPECT_EQ(p6.size(), 40 + 8 + 8 + 18 + 2 + 16u);  // 18 + 2 is a multiple of 4: no padding
}

TEST_F(AeadEsp, GcmOpensWithOpenSsl) {
    for (bool v6 : {false, true})
        for (size_t payload : {2u, 11u, 466u, 1340u}) {
            const auto plain = udp_packet(v6, payload);
            size_t l3 = 0;
            const auto p = seal(esp::Transform::gcm, plain, 0x0102030405060708ull, l3);
            const uint8_t* e = p.data() + l3;
            const size_t ct = p.size() - l3 - 16 - kAeadIcvLen;
            const auto n = nonce(e);
            const auto pt = openssl_open(key_salt_.data(), n.data(), e, kEspHeaderLen, e + 16, ct, e + 16 + ct);
            ASSERT_TRUE(pt.has_value()) << "v6 " << v6 << " payload " << payload;
            EXPECT_TRUE(std::equal(plain.begin() + ptrdiff_t(l3), plain.end(), pt->begin()));  // then the trailer
            EXPECT_EQ(pt->back(), 17);
            // Any other AAD (the sequence number) fails.
            auto bad = std::vector<uint8_t>(e, e + 8);
            bad[7] ^= 1;
            EXPECT_FALSE(openssl_open(key_salt_.data(), n.data(), bad.data(), 8, e + 16, ct, e + 16 + ct).has_value());
        }
}

TEST_F(AeadEsp, GcmDecryptsInPlaceWithTheSameTag) {
    const auto plain = udp_packet(false, 466);
    size_t l3 = 0;
    auto p = seal(esp::Transform::gcm, plain, 42, l3);
    const auto sealed = p;
    const uint32_t len = uint32_t(p.size() - l3 - kAeadIcvLen);
    uint8_t tag[16];
    const AeadPacket one{p.data() + l3, len, tag, key_.get()};
    EXPECT_EQ(aead_jobs(imb_->get(), esp::Transform::gcm, false, {&one, 1}), 0u);
    EXPECT_EQ(0, std::memcmp(tag, sealed.data() + l3 + len, 16));
    EXPECT_TRUE(std::equal(plain.begin() + 20, plain.end(), p.begin() + 36));
}

TEST_F(AeadEsp, GmacTagsTheWholeEspInTheClear) {
    for (bool v6 : {false, true}) {
        const auto plain = udp_packet(v6, 466);
        size_t l3 = 0;
        const auto p = seal(esp::Transform::gmac, plain, 0x1122334455667788ull, l3);
        const uint8_t* e = p.data() + l3;
        const size_t len = p.size() - l3 - kAeadIcvLen;
        EXPECT_TRUE(std::equal(plain.begin() + ptrdiff_t(l3), plain.end(), e + 16));  // in the clear
        const auto n = nonce(e);
        EXPECT_TRUE(openssl_open(key_salt_.data(), n.data(), e, len, nullptr, 0, e + len).has_value());
        // The IV is covered too (RFC 4543 3.3).
        auto bad = std::vector<uint8_t>(e, e + len);
        bad[9] ^= 1;
        EXPECT_FALSE(openssl_open(key_salt_.data(), n.data(), bad.data(), len, nullptr, 0, e + len).has_value());
    }
}

TEST_F(AeadEsp, ABurstOfMixedLengthsMatchesOneByOne) {
    std::vector<std::vector<uint8_t>> ps;
    std::vector<AeadPacket> burst;
    std::vector<std::array<uint8_t, 16>> tags(70);
    for (size_t i = 0; i < 70; ++i) {  // more than the 64 nonces held at once
        size_t l3 = 0;
        ps.push_back(seal(esp::Transform::gcm, udp_packet(i % 2 == 1, 2 + 4 * i), i, l3));
    }
    for (size_t i = 0; i < ps.size(); ++i) {
        const size_t l3 = i % 2 == 1 ? 40 : 20;
        const uint32_t len = uint32_t(ps[i].size() - l3 - kAeadIcvLen);
        burst.push_back({ps[i].data() + l3, len, tags[i].data(), key_.get()});
    }
    EXPECT_EQ(aead_jobs(imb_->get(), esp::Transform::gcm, false, burst), 0u);
    for (size_t i = 0; i < ps.size(); ++i)
        EXPECT_EQ(0, std::memcmp(tags[i].data(), burst[i].esp + burst[i].len, 16)) << i;
}

// The direct GCM calls (GMAC as GCM with all as AAD) leave byte for byte what the jobs
// leave, sealing and opening, for every length a 4-byte pad gives.
TEST_F(AeadEsp, DirectCallsDoWhatTheJobsDo) {
    for (const esp::Transform tf : {esp::Transform::gcm, esp::Transform::gmac})
        for (size_t payload = 0; payload < 80; ++payload) {
            size_t l3 = 0;
            const auto by_jobs = seal(tf, udp_packet(payload % 2 == 1, payload), 0x0a0b0c0d00000000ull + payload, l3);
            auto p = by_jobs;
            const uint32_t len = uint32_t(p.size() - l3 - kAeadIcvLen);
            std::fill(p.begin() + ptrdiff_t(l3 + 16), p.end(), 0);  // the plain packet again, no tag
            const auto plain = esp_transport(udp_packet(payload % 2 == 1, payload), 0x1234abcd, 7, kAeadIvLen, 16);
            std::copy(plain.begin() + ptrdiff_t(l3 + 16), plain.end(), p.begin() + ptrdiff_t(l3 + 16));
            const AeadPacket one{p.data() + l3, len, p.data() + l3 + len, key_.get()};
            ASSERT_EQ(aead_calls(imb_->get(), tf, true, {&one, 1}), 0u);
            EXPECT_EQ(p, by_jobs) << "sealing, payload " << payload;
            uint8_t tag[16];
            const AeadPacket open{p.data() + l3, len, tag, key_.get()};
            ASSERT_EQ(aead_calls(imb_->get(), tf, false, {&open, 1}), 0u);
            EXPECT_EQ(0, std::memcmp(tag, by_jobs.data() + l3 + len, 16)) << "opening, payload " << payload;
            EXPECT_TRUE(std::equal(p.begin() + ptrdiff_t(l3 + 16), p.end() - 16, plain.begin() + ptrdiff_t(l3 + 16)))
                << "opened, payload " << payload;  // payload .. trailer in the clear again
        }
}

// What IPsec-MB refuses is reported, not taken for a tag.
TEST_F(AeadEsp, ADirectCallIpsecMbRefusesFails) {
    uint8_t esp[64] = {}, tag[16], nonce[16] = {};
    EXPECT_FALSE(esp::aead_direct(imb_->get(), {esp::Transform::gcm, true, nullptr, nonce, esp, 16, 32, tag}));
    EXPECT_FALSE(esp::aead_direct(imb_->get(), {esp::Transform::gmac, false, &key_->key, nonce, esp, 16, 48, nullptr}));
    EXPECT_TRUE(esp::aead_direct(imb_->get(), {esp::Transform::gmac, false, &key_->key, nonce, esp, 16, 48, tag}));
}

}  // namespace
}  // namespace pcscf::bench
