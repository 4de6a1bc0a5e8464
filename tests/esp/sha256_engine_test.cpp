// HMAC-SHA-256-128 (RFC 4868) in the engine: its 16-byte ICV, its hash states in the SA's
// key block (they do not fit the record's first line), and the checks every SA gets.
// scapy_interop_test holds scapy's packets for it, cbc_engine_test and natt_engine_test
// its pairs with a cipher and in UDP; the ICVs here are OpenSSL's.
#include <gtest/gtest.h>

#include "tests/common/hex.hpp"
#include "tests/common/packet_builder.hpp"
#include "tests/esp/cbc_reference.hpp"
#include "tests/esp/engine_fixture.hpp"
#include "tests/esp/esp_builder.hpp"

namespace pcscf::test {
namespace {

using namespace pcscf::esp;
using namespace pcscf::net;

class Sha256Engine : public EngineTest {
protected:
    static SaSpec spec(Direction dir = Direction::inbound) {
        SaSpec s;
        s.dir = dir;
        s.alg = Alg::hmac_sha256_128;
        if (dir == Direction::outbound) s.spi = 0xabcdef01;
        return s;
    }
    static std::vector<uint8_t> uplink(size_t len) { return make_packet(Flow{kUe4, kPcscf4, 38003, 50718, 17}, len); }
    Seal sealer(const SaSpec& s, uint32_t seq) {
        Seal x;
        x.spi = s.spi;
        x.seq = seq;
        x.alg = s.alg;
        x.key = *expand_key(engine->imb(), s.alg, test_key(s.alg));
        return x;
    }
};

// The ICV is OpenSSL's HMAC-SHA-256 over the ESP header to the trailer, first 16 bytes.
TEST_F(Sha256Engine, OutboundIcvIsOpensslsFirst16Bytes) {
    add(spec(Direction::outbound));
    for (size_t len : {0, 1, 2, 3, 100, 1400}) {
        const auto plain = make_packet(Flow{kPcscf4, kUe4, 50718, 38003, 17}, len);
        const Result r = run1(Direction::outbound, plain);
        ASSERT_TRUE(r.ok) << name(r.reason);
        const IpInfo info = *parse_ip(r.bytes.data(), uint32_t(r.bytes.size()));
        const uint32_t esp_len = info.total_len - info.l3_len;
        const uint32_t payload = uint32_t(plain.size()) - 20;
        EXPECT_EQ(esp_len, 8 + payload + (4 - (payload + 2) % 4) % 4 + 2 + 16) << len;
        EXPECT_EQ(esp_len % 4, 0u) << "RFC 4303 2.4: the ICV starts 4-byte aligned";
        const uint8_t* e = r.bytes.data() + info.l3_len;
        const auto want = openssl_icv(Alg::hmac_sha256_128, test_key(Alg::hmac_sha256_128), e, esp_len - 16);
        EXPECT_EQ(to_hex({e + esp_len - 16, 16}), to_hex(want)) << len;
    }
}

TEST_F(Sha256Engine, InboundVerifiesAndRefusesTamperingAndReplays) {
    const SaSpec s = spec();
    add(s);
    const auto pkt = seal(engine->imb(), uplink(200), sealer(s, 7));
    for (size_t byte : {size_t(20 + 8), pkt.size() - 17, pkt.size() - 1}) {
        auto bad = pkt;
        bad[byte] ^= 1;
        EXPECT_EQ(run1(Direction::inbound, bad).reason, DropReason::bad_icv) << byte;
    }
    // A 96-bit truncation (the ICV length of the other HMACs) is not this SA's ICV.
    auto short_icv = pkt;
    short_icv.resize(pkt.size() - 4);
    short_icv[2] = uint8_t((short_icv.size()) >> 8);
    short_icv[3] = uint8_t(short_icv.size());
    fix_ipv4_checksum(short_icv);
    EXPECT_EQ(run1(Direction::inbound, short_icv).reason, DropReason::bad_icv);
    const Result ok = run1(Direction::inbound, pkt);
    ASSERT_TRUE(ok.ok) << name(ok.reason);
    EXPECT_EQ(ok.bytes, uplink(200));
    EXPECT_EQ(run1(Direction::inbound, pkt).reason, DropReason::replay);
    EXPECT_EQ(engine->find_inbound(s.spi)->packets, 1u);
}

// An ESP of 22 to 25 bytes holds the 96-bit HMACs' header, trailer and ICV but not this
// SA's 16-byte ICV: too short, charged to the SA, and no HMAC is computed over a negative
// length. 26 bytes is the least well-formed packet (no payload).
TEST_F(Sha256Engine, EspShorterThanItsIcvIsTooShort) {
    const SaSpec s = spec();
    add(s);
    const auto pkt = seal(engine->imb(), uplink(0), sealer(s, 1));
    for (uint32_t esp_len = 22; esp_len <= 26; ++esp_len) {
        std::vector<uint8_t> p(pkt.begin(), pkt.begin() + 20 + esp_len);
        p[2] = 0;
        p[3] = uint8_t(p.size());
        fix_ipv4_checksum(p);
        const Result r = run1(Direction::inbound, p);
        EXPECT_EQ(r.reason, esp_len < 26 ? DropReason::too_short : DropReason::bad_icv) << esp_len;
    }
    EXPECT_EQ(engine->inbound_stats(s.spi)->drops, 5u);
}

// Its states live in a key block: one per SA, given back on delete and when an update
// moves it to an HMAC whose states fit the record, taken again when it moves back.
TEST_F(Sha256Engine, TakesAKeyBlockAndGivesItBack) {
    SaSpec in = spec(), out = spec(Direction::outbound);
    add(in);
    add(out);
    EXPECT_EQ(engine->cipher_keys().in_use(), 2u);
    SaSpec sha1 = in;
    sha1.alg = Alg::hmac_sha1_96;
    ASSERT_EQ(apply(SaOp::update, sha1), 0);
    EXPECT_EQ(engine->cipher_keys().in_use(), 1u);
    EXPECT_TRUE(run1(Direction::inbound, seal(engine->imb(), uplink(50), sealer(sha1, 1))).ok);
    ASSERT_EQ(apply(SaOp::update, in), 0);
    EXPECT_EQ(engine->cipher_keys().in_use(), 2u);
    EXPECT_TRUE(run1(Direction::inbound, seal(engine->imb(), uplink(50), sealer(in, 2))).ok);
    ASSERT_EQ(apply(SaOp::remove, in), 0);
    ASSERT_EQ(apply(SaOp::remove, out), 0);
    EXPECT_EQ(engine->cipher_keys().in_use(), 0u);
}

TEST_F(Sha256Engine, NoKeyBlockLeftIsEnospcAndNothingLeaks) {
    EngineConfig cfg = default_config();
    cfg.cipher_capacity = 1;
    make_engine(cfg);
    SaSpec a = spec(), b = spec(), out = spec(Direction::outbound);
    b.spi = 0x1002;
    ASSERT_EQ(apply(SaOp::add, a), 0);
    EXPECT_EQ(apply(SaOp::add, b), -ENOSPC);
    EXPECT_EQ(apply(SaOp::add, out), -ENOSPC);
    EXPECT_EQ(engine->find_inbound(b.spi), nullptr);
    EXPECT_EQ(engine->find_outbound({out.ue, out.ue_port, out.pcscf_port}), nullptr);
    SaSpec sha1 = b;
    sha1.alg = Alg::hmac_sha1_96;
    ASSERT_EQ(apply(SaOp::add, sha1), 0) << "the 96-bit HMACs need no block";
    EXPECT_EQ(apply(SaOp::update, b), -ENOSPC);
    EXPECT_EQ(engine->find_inbound(b.spi)->alg, Alg::hmac_sha1_96) << "left as it was";
    EXPECT_EQ(engine->cipher_keys().in_use(), 1u);
}

// A burst mixing the three HMACs: each packet verified with its own SA's key and length.
TEST_F(Sha256Engine, MixedWithTheOtherHmacsInOneBurst) {
    std::vector<SaSpec> sas;
    for (Alg alg : {Alg::hmac_md5_96, Alg::hmac_sha1_96, Alg::hmac_sha256_128}) {
        SaSpec s = spec();
        s.alg = alg;
        s.spi = 0x1001 + uint32_t(sas.size());
        add(s);
        sas.push_back(s);
    }
    std::vector<std::vector<uint8_t>> pkts;
    for (uint32_t i = 0; i < 60; ++i) pkts.push_back(seal(engine->imb(), uplink(i * 7), sealer(sas[i % 3], i / 3 + 1)));
    pkts[10].back() ^= 1;  // a SHA-1 packet's ICV
    pkts[11].back() ^= 1;  // a SHA-256 packet's
    const auto results = run(Direction::inbound, pkts);
    for (uint32_t i = 0; i < results.size(); ++i) {
        if (i == 10 || i == 11) {
            EXPECT_EQ(results[i].reason, DropReason::bad_icv) << i;
        } else {
            ASSERT_TRUE(results[i].ok) << i << " " << name(results[i].reason);
            EXPECT_EQ(results[i].bytes, uplink(i * 7)) << i;
        }
    }
}

}  // namespace
}  // namespace pcscf::test
