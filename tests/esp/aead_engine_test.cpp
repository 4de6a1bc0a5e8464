// ESP with AES-128-GCM (RFC 4106, TS 33.203 alg=null ealg=aes-gcm) and AES-128-GMAC
// (RFC 4543, alg=aes-gmac ealg=null) through the engine. Our outbound is opened by
// OpenSSL (the inner packet comes back exactly, the tag verifies, the IV is SPI ||
// sequence number, the padding is RFC 4303's); our inbound takes what OpenSSL seals and
// refuses every altered byte; both directions round-trip; the pairs Annex H does not
// allow are refused; the key pool fills, empties and rekeys without leaking.
#include <gtest/gtest.h>

#include <set>

#include "tests/common/packet_builder.hpp"
#include "tests/esp/aead_reference.hpp"
#include "tests/esp/engine_fixture.hpp"

namespace pcscf::test {
namespace {

struct Pair {
    Alg alg;
    Ealg ealg;
    Transform xf;
};
constexpr Pair kGcm{Alg::null, Ealg::aes_gcm, Transform::gcm};
constexpr Pair kGmac{Alg::aes_gmac, Ealg::null, Transform::gmac};

std::string pair_name(const ::testing::TestParamInfo<Pair>& info) {
    return info.param.xf == Transform::gcm ? "aes_gcm" : "aes_gmac";
}

class AeadEngine : public EngineTest, public ::testing::WithParamInterface<Pair> {
protected:
    static SaSpec spec(Direction dir, bool v6 = false) {
        SaSpec s;
        s.dir = dir;
        s.alg = GetParam().alg;
        s.ealg = GetParam().ealg;
        if (v6) {
            s.ue = kUe6;
            s.pcscf = kPcscf6;
        }
        if (dir == Direction::outbound) s.spi = 0xabcdef01;
        return s;
    }
    static std::vector<uint8_t> seal(const SaSpec& s, uint32_t seq, const std::vector<uint8_t>& plain,
                                     AeadSeal x = {}) {
        x.xf = GetParam().xf;
        x.spi = s.spi;
        x.seq = seq;
        x.keymat = cipher_key_of(s);
        return seal_aead(plain, x);
    }
    static AeadOpened open(const SaSpec& s, const std::vector<uint8_t>& pkt) {
        return open_aead(pkt, GetParam().xf, cipher_key_of(s));
    }
};

std::vector<size_t> every_pad_and_some_large() {
    std::vector<size_t> lens;
    for (size_t len = 0; len <= 20; ++len) lens.push_back(len);
    for (size_t len : {100, 458, 1000, 1400, 8000}) lens.push_back(len);
    return lens;
}

TEST_P(AeadEngine, OutboundIsWhatOpenSslOpens) {
    for (bool v6 : {false, true}) {
        const SaSpec o = spec(Direction::outbound, v6);
        add(o);
        uint32_t seq = 0;
        for (uint8_t proto : {uint8_t(17), uint8_t(6)}) {
            const auto lens = every_pad_and_some_large();
            std::vector<std::vector<uint8_t>> plain;
            for (size_t len : lens) plain.push_back(downlink(o, len, proto));
            const auto r = run(Direction::outbound, plain);
            for (size_t i = 0; i < r.size(); ++i) {
                SCOPED_TRACE(testing::Message() << "v6 " << v6 << " proto " << int(proto) << " len " << lens[i]);
                ASSERT_TRUE(r[i].ok) << name(r[i].reason);
                const AeadOpened got = open(o, r[i].bytes);
                ASSERT_EQ(got.error, "");
                EXPECT_EQ(got.plain, plain[i]);
                EXPECT_EQ(got.spi, o.spi);
                EXPECT_EQ(got.seq, ++seq);
                // IV = SPI || sequence number (RFC 4106 3.1: never twice under a key).
                const std::vector<uint8_t> iv{
                    0xab, 0xcd, 0xef, 0x01, uint8_t(seq >> 24), uint8_t(seq >> 16), uint8_t(seq >> 8), uint8_t(seq)};
                EXPECT_EQ(got.iv, iv);
            }
        }
        EXPECT_EQ(engine->outbound_stats({o.ue, o.ue_port, o.pcscf_port})->packets, seq);
        ASSERT_EQ(apply(SaOp::remove, o), 0);
    }
    EXPECT_EQ(engine->cipher_keys().in_use(), 0u);
}

TEST_P(AeadEngine, InboundTakesWhatOpenSslSeals) {
    for (bool v6 : {false, true}) {
        const SaSpec s = spec(Direction::inbound, v6);
        add(s);
        std::vector<std::vector<uint8_t>> plain, sealed;
        uint32_t seq = 0;
        for (uint8_t proto : {uint8_t(17), uint8_t(6)})
            for (size_t len : every_pad_and_some_large()) {
                plain.push_back(with_ethernet(uplink(s, len, proto)));
                sealed.push_back(with_ethernet(seal(s, ++seq, uplink(s, len, proto))));
            }
        const auto r = run(Direction::inbound, sealed, 14);
        for (size_t i = 0; i < r.size(); ++i) {
            ASSERT_TRUE(r[i].ok) << i << " " << name(r[i].reason);
            EXPECT_EQ(r[i].bytes, plain[i]) << i;
        }
        EXPECT_EQ(engine->inbound_stats(s.spi)->packets, seq);
        ASSERT_EQ(apply(SaOp::remove, s), 0);
    }
}

// Every byte after the SPI altered in turn: refused, for its ICV (a sequence number
// altered may first be a replay), and nothing decrypted reaches the caller.
TEST_P(AeadEngine, EveryAlteredByteIsRefused) {
    const SaSpec s = spec(Direction::inbound);
    add(s);
    const auto good = seal(s, 5000, uplink(s, 30));
    const size_t esp_at = 20;
    std::vector<std::vector<uint8_t>> bad;
    for (size_t k = esp_at + 4; k < good.size(); ++k) {
        auto b = good;
        b[k] ^= 0x01;
        bad.push_back(b);
    }
    const auto r = run(Direction::inbound, bad);
    for (size_t i = 0; i < r.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_FALSE(r[i].ok);
        EXPECT_TRUE(r[i].reason == DropReason::bad_icv || r[i].reason == DropReason::replay) << name(r[i].reason);
    }
    EXPECT_EQ(engine->inbound_stats(s.spi)->drops, bad.size());
    EXPECT_TRUE(run1(Direction::inbound, good).ok);  // the window never moved
    const auto again = run1(Direction::inbound, good);
    EXPECT_EQ(again.reason, DropReason::replay);
}

TEST_P(AeadEngine, WrongKeyShortAndLyingTrailersAreCountedDrops) {
    const SaSpec s = spec(Direction::inbound);
    add(s);
    SaSpec other = s;
    other.cipher_key = test_cipher_key(s.alg, s.ealg);
    other.cipher_key[3] ^= 0x80;
    EXPECT_EQ(run1(Direction::inbound, seal(other, 1, uplink(s))).reason, DropReason::bad_icv);
    other.cipher_key = test_cipher_key(s.alg, s.ealg);
    other.cipher_key[17] ^= 0x01;  // the salt alone
    EXPECT_EQ(run1(Direction::inbound, seal(other, 2, uplink(s))).reason, DropReason::bad_icv);

    // An ESP of 33 bytes: header, IV and ICV leave no room for the trailer.
    auto cut = seal(s, 3, uplink(s, 0));
    auto info = *parse_ip(cut.data(), uint32_t(cut.size()));
    const uint32_t esp_len = info.total_len - info.l3_len;
    cut.erase(cut.begin() + info.l3_len + 16, cut.begin() + info.l3_len + 16 + (esp_len - 33));
    patch_ip(cut.data(), info, kProtoEsp, -int32_t(esp_len - 33));
    EXPECT_EQ(run1(Direction::inbound, cut).reason, DropReason::too_short);

    AeadSeal lie;
    lie.pad_len_field = 200;
    EXPECT_EQ(run1(Direction::inbound, seal(s, 4, uplink(s, 10), lie)).reason, DropReason::bad_trailer);
    lie = {};
    lie.next_header = 50;
    EXPECT_EQ(run1(Direction::inbound, seal(s, 5, uplink(s, 10), lie)).reason, DropReason::bad_inner_protocol);
    EXPECT_EQ(engine->inbound_stats(s.spi)->drops, 5u);
    EXPECT_TRUE(run1(Direction::inbound, seal(s, 6, uplink(s))).ok);
}

TEST_P(AeadEngine, RoundTripThroughAPeerEngine) {
    auto ue_side = Engine::create(default_config());
    ASSERT_TRUE(ue_side.has_value());
    for (bool v6 : {false, true}) {
        SaSpec o = spec(Direction::outbound, v6);
        o.spi = 0x2000;
        add(o);
        ASSERT_EQ((*ue_side)->apply(peer_record(SaOp::add, o)), 0);
        for (uint8_t proto : {uint8_t(17), uint8_t(6)})
            for (size_t len : {0, 1, 2, 3, 100, 1400, 8000}) expect_round_trip(**ue_side, downlink(o, len, proto));
        ASSERT_EQ(apply(SaOp::remove, o), 0);
        ASSERT_EQ((*ue_side)->apply(peer_record(SaOp::remove, o)), 0);
    }
    EXPECT_EQ((*ue_side)->cipher_keys().in_use(), 0u);
}

// The set's SAs share one key (TS 33.203 7.1): two outbound SAs under the same key never
// use the same nonce, over thousands of interleaved packets.
TEST_P(AeadEngine, NoNonceTwiceUnderOneKey) {
    const auto ivs = ivs_of_two_sas(spec(Direction::outbound), 5, [](const SaSpec& s, const std::vector<uint8_t>& esp) {
        const AeadOpened got = open(s, esp);
        EXPECT_EQ(got.error, "");
        return got.iv;
    });
    ASSERT_EQ(ivs.size(), 5 * 400u);
    EXPECT_EQ(std::set(ivs.begin(), ivs.end()).size(), ivs.size()) << "a nonce was used twice";
}

// One burst with every transform: HMAC alone, CBC + HMAC, GCM and GMAC side by side.
TEST_P(AeadEngine, MixedBurstsWithEveryTransform) {
    const std::pair<Alg, Ealg> pairs[] = {{Alg::hmac_sha1_96, Ealg::null},
                                          {Alg::hmac_md5_96, Ealg::aes_cbc},
                                          {Alg::null, Ealg::aes_gcm},
                                          {Alg::aes_gmac, Ealg::null}};
    std::vector<SaSpec> sas;
    for (auto [alg, ealg] : pairs) {
        SaSpec s;
        s.dir = Direction::outbound;
        s.alg = alg;
        s.ealg = ealg;
        s.spi = 0x1100 + uint32_t(sas.size());
        s.ue_port = uint16_t(40000 + sas.size());
        add(s);
        sas.push_back(s);
    }
    std::vector<std::vector<uint8_t>> plain;
    for (size_t i = 0; i < 64; ++i) plain.push_back(downlink(sas[i % 4], i * 7));
    const auto r = run(Direction::outbound, plain);
    for (size_t i = 0; i < r.size(); ++i) {
        ASSERT_TRUE(r[i].ok) << i << " " << name(r[i].reason);
        if (i % 4 < 2) continue;  // the HMAC ones are the CBC and NULL tests' business
        const auto got =
            open_aead(r[i].bytes, i % 4 == 2 ? Transform::gcm : Transform::gmac, cipher_key_of(sas[i % 4]));
        EXPECT_EQ(got.error, "") << i;
        EXPECT_EQ(got.plain, plain[i]) << i;
    }
}

TEST_P(AeadEngine, KeyBlocksFollowAddUpdateRemove) {
    EngineConfig cfg = default_config();
    cfg.cipher_capacity = 2;
    make_engine(cfg);
    SaSpec a = spec(Direction::inbound), b = a, c = a;
    b.spi += 1;
    c.spi += 2;
    add(a);
    add(b);
    EXPECT_EQ(engine->cipher_keys().in_use(), 2u);
    EXPECT_EQ(apply(SaOp::add, c), -ENOSPC);
    EXPECT_EQ(engine->find_inbound(c.spi), nullptr);
    // b to an HMAC gives its block back; c then fits.
    SaSpec b_hmac = b;
    b_hmac.alg = Alg::hmac_sha1_96;
    b_hmac.ealg = Ealg::null;
    ASSERT_EQ(apply(SaOp::update, b_hmac), 0);
    EXPECT_EQ(engine->cipher_keys().in_use(), 1u);
    add(c);
    // a rekeyed in place: packets under the old key are refused, the new one's pass.
    SaSpec a2 = a;
    a2.cipher_key = test_cipher_key(a.alg, a.ealg);
    a2.cipher_key[0] ^= 0xff;
    ASSERT_EQ(apply(SaOp::update, a2), 0);
    EXPECT_EQ(run1(Direction::inbound, seal(a, 1, uplink(a))).reason, DropReason::bad_icv);
    EXPECT_TRUE(run1(Direction::inbound, seal(a2, 2, uplink(a))).ok);
    for (const SaSpec& s : {a, b_hmac, c}) ASSERT_EQ(apply(SaOp::remove, s), 0);
    EXPECT_EQ(engine->cipher_keys().in_use(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Aead, AeadEngine, ::testing::Values(kGcm, kGmac), pair_name);

// The pairs TS 33.203 Annex H does not have, and keys of the wrong length.
TEST_F(EngineTest, PairsOutsideAnnexHAreRefused) {
    for (auto [alg, ealg] : {std::pair{Alg::null, Ealg::null},
                             {Alg::null, Ealg::aes_cbc},
                             {Alg::aes_gmac, Ealg::aes_gcm},
                             {Alg::aes_gmac, Ealg::aes_cbc},
                             {Alg::hmac_sha1_96, Ealg::aes_gcm},
                             {Alg{0}, Ealg::null},
                             {Alg::hmac_md5_96, Ealg{7}}}) {
        SaSpec s;
        s.alg = alg;
        s.ealg = ealg;
        s.cipher_key.assign(20, 0x42);
        SaRecord r = record(SaOp::add, s);
        EXPECT_EQ(engine->apply(r), -EINVAL) << name(alg) << "/" << name(ealg);
    }
    SaSpec gcm;
    gcm.alg = Alg::null;
    gcm.ealg = Ealg::aes_gcm;
    gcm.cipher_key.assign(16, 0x42);  // no salt
    EXPECT_EQ(apply(SaOp::add, gcm), -EINVAL);
    EXPECT_EQ(engine->cipher_keys().in_use(), 0u);
}

}  // namespace
}  // namespace pcscf::test
