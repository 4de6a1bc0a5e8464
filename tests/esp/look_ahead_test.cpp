// Looking ahead (Engine::inbound's `next`): the SPI read from a frame not yet processed
// (look_ahead.hpp), and an engine that looks ahead giving each burst exactly the results
// it gives without, whatever the next burst holds, hostile frames included.
#include <gtest/gtest.h>

#include <random>

#include "dataplane/esp/look_ahead.hpp"
#include "tests/common/packet_builder.hpp"
#include "tests/esp/engine_fixture.hpp"
#include "tests/esp/esp_builder.hpp"

namespace pcscf::test {
namespace {

// The hint of one frame.
uint32_t hint(const std::vector<uint8_t>& frame, uint16_t l2_len = 0) {
    rte_mbuf* m = make_mbuf(frame);
    const uint32_t spi = hinted_spi(m, l2_len);
    rte_pktmbuf_free(m);
    return spi;
}

// An ESP-looking packet: `proto` 50 with the SPI right after the IP header, or UDP whose
// payload starts with it.
std::vector<uint8_t> with_spi(std::vector<uint8_t> ip, uint32_t spi) {
    const bool v4 = (ip[0] >> 4) == 4;
    const uint32_t at = (v4 ? (ip[0] & 15u) * 4 : 40u) + 8;  // after the UDP header
    for (int k = 0; k < 4; ++k) ip[at + k] = uint8_t(spi >> (24 - 8 * k));
    return ip;
}

TEST(HintedSpi, ReadsTheSpiOfBareAndUdpEncapsulatedEsp) {
    auto v4 = with_spi(make_packet({kUe4, kPcscf4, 4500, 4500}, 40), 0x12345678);
    EXPECT_EQ(hint(v4), 0x12345678u) << "UDP: after its header (RFC 3948)";
    auto bare = v4;
    bare[9] = net::kProtoEsp;
    EXPECT_EQ(hint(bare), 0x11941194u) << "ESP: right after the IP header (where the ports 4500 were)";
    auto v6 = with_spi(make_packet({kUe6, kPcscf6, 4500, 4500}, 40), 0xabcdef01);
    EXPECT_EQ(hint(v6), 0xabcdef01u);
    EXPECT_EQ(hint(with_ethernet(v4), 14), 0x12345678u) << "after the L2 header";
}

TEST(HintedSpi, WalksIpv4OptionsAndNothingElse) {
    auto ip = make_packet({kUe4, kPcscf4, 4500, 4500}, 40);
    ip.insert(ip.begin() + 20, 4, uint8_t{1});  // one word of NOP options
    ip[0] = 0x46;
    EXPECT_EQ(hint(with_spi(ip, 0x1234)), 0x1234u);
    auto tcp = make_packet({kUe4, kPcscf4, 4500, 4500, 6}, 40);
    EXPECT_EQ(hint(tcp), 0u) << "neither ESP nor UDP";
    auto v6 = make_packet({kUe6, kPcscf6, 4500, 4500}, 40);
    const uint8_t dest_options[8] = {17, 0, 1, 4, 0, 0, 0, 0};  // next UDP, PadN
    v6.insert(v6.begin() + 40, dest_options, dest_options + 8);
    v6[6] = 60;
    EXPECT_EQ(hint(v6), 0u) << "IPv6 extension headers are not walked";
}

TEST(HintedSpi, AFrameTooShortForAnSpiGivesNone) {
    for (size_t len : {0u, 1u, 20u, 47u}) EXPECT_EQ(hint(std::vector<uint8_t>(len, 0x45)), 0u) << len << " bytes";
    auto ip = with_spi(make_packet({kUe4, kPcscf4, 4500, 4500}, 40), 0x1234);
    ip[0] = 0x4f;  // a 60-byte header in a 76-byte frame: the SPI would lie beyond it
    ip.resize(60 + 8 + 3);
    EXPECT_EQ(hint(ip), 0u);
}

class EngineLookAhead : public EngineTest {
protected:
    void SetUp() override {
        EngineConfig cfg = default_config();
        cfg.look_ahead_from = 0;
        make_engine(cfg);
        add(spec_);
    }
    std::vector<uint8_t> esp(uint32_t seq, size_t len = 100) {
        Seal x;
        x.spi = spec_.spi;
        x.seq = seq;
        x.key = *expand_key(engine->imb(), spec_.alg, test_key(spec_.alg));
        return seal(engine->imb(), make_packet({kUe4, kPcscf4, 38003, 50718}, len), x);
    }
    SaSpec spec_;
};

// Good packets, a forged one and a replay, then the same again with a look-ahead of
// hostile frames: the same results, the look-ahead's frames untouched and uncounted.
TEST_F(EngineLookAhead, TheBurstsResultsAreTheSameWhateverTheNextHolds) {
    std::mt19937 rng(7);
    std::vector<std::vector<uint8_t>> next_frames;
    for (size_t len = 0; len < 80; len += 3) {
        std::vector<uint8_t> f(len);
        for (auto& b : f) b = uint8_t(rng());
        if (!f.empty()) f[0] = uint8_t(len & 1 ? 0x4f : 0x60);  // IPv4 with a 60-byte header, or IPv6
        next_frames.push_back(f);
    }
    next_frames.push_back(esp(1000));                                                       // a real one, not yet due
    next_frames.push_back(with_spi(make_packet({kUe4, kPcscf4, 1, 4500}, 8), 0xffffffff));  // outside the layout
    MbufGuard next;
    for (const auto& f : next_frames) next.v.push_back(make_mbuf(f));

    for (bool ahead : {false, true}) {
        SCOPED_TRACE(ahead ? "with the look-ahead" : "without");
        const uint32_t base = ahead ? 100 : 0;  // fresh sequence numbers for the second round
        auto forged = esp(base + 3);
        forged[40] ^= 1;
        const std::vector<std::vector<uint8_t>> pkts = {esp(base + 1), esp(base + 2), forged, esp(base + 2),
                                                        esp(base + 4, 1200)};
        MbufGuard burst;
        for (const auto& p : pkts) burst.v.push_back(make_mbuf(p));
        const std::vector<rte_mbuf*> orig = burst.v;
        std::vector<DropReason> why(pkts.size());
        const uint64_t dropped_before = engine->drops().total();
        const uint16_t good = engine->inbound(burst.v, why, 0, ahead ? next.v : std::vector<rte_mbuf*>{});
        ASSERT_EQ(good, 3);
        EXPECT_EQ(burst.v[0], orig[0]);
        EXPECT_EQ(burst.v[1], orig[1]);
        EXPECT_EQ(burst.v[2], orig[4]);
        EXPECT_EQ(burst.v[3], orig[3]);  // the dropped follow (partition_good)
        EXPECT_EQ(why[3], DropReason::replay);
        EXPECT_EQ(burst.v[4], orig[2]);
        EXPECT_EQ(why[4], DropReason::bad_icv);
        EXPECT_EQ(engine->drops().total() - dropped_before, 2u);
        for (size_t i = 0; i < next_frames.size(); ++i) EXPECT_EQ(bytes_of(next.v[i]), next_frames[i]) << i;
    }
    EXPECT_EQ(engine->inbound_stats(spec_.spi)->packets, 6u);
}

TEST_F(EngineLookAhead, LooksAheadFromTheConfiguredNumberOfSas) {
    EXPECT_TRUE(engine->looks_ahead());
    EngineConfig cfg = default_config();
    cfg.look_ahead_from = 2;
    make_engine(cfg);
    add(spec_);
    EXPECT_FALSE(engine->looks_ahead()) << "one SA";
    SaSpec second = spec_;
    second.spi = spec_.spi + 1;
    second.ue_port = 38004;
    add(second);
    EXPECT_TRUE(engine->looks_ahead()) << "two";
}

// The look-ahead starts where the inbound records (128 bytes each) fill the CPU's L2:
// 8,192 SAs with 1 MiB, 16,384 with 2 MiB, and 16,384 where the size is unknown.
TEST(LookAheadDefault, FromTheSasWhoseRecordsFillTheL2) {
    EXPECT_EQ(look_ahead_sas_for_l2(1 << 20), 8192u);
    EXPECT_EQ(look_ahead_sas_for_l2(2 << 20), 16384u);
    EXPECT_EQ(look_ahead_sas_for_l2(1280 << 10), 10240u);
    EXPECT_EQ(look_ahead_sas_for_l2(0), 16384u);
    EXPECT_EQ(look_ahead_sas_for_l2(-1), 16384u);
    EXPECT_EQ(EngineConfig{}.look_ahead_from, default_look_ahead_sas());
    EXPECT_EQ(EngineConfig{}.early_keys_from, 16384u);
}

// The look-ahead and the early key blocks have thresholds of their own, and key blocks
// are requested early only once an SA has one.
TEST_F(EngineTest, TheKeyBlocksHaveAThresholdOfTheirOwn) {
    EngineConfig cfg = default_config();
    cfg.look_ahead_from = 0;
    cfg.early_keys_from = 2;
    cfg.cipher_capacity = 8;
    make_engine(cfg);
    SaSpec hmac;
    add(hmac);
    SaSpec cbc = hmac;
    cbc.spi = hmac.spi + 1;
    cbc.ue_port = 38004;
    cbc.ealg = Ealg::aes_cbc;
    add(cbc);
    EXPECT_TRUE(engine->looks_ahead());
    EXPECT_TRUE(engine->requests_keys_early(Direction::inbound)) << "two SAs, one with a key block";
    EXPECT_FALSE(engine->requests_keys_early(Direction::outbound)) << "no outbound SA";
    ASSERT_EQ(engine->apply(record(SaOp::remove, hmac)), 0);
    EXPECT_FALSE(engine->requests_keys_early(Direction::inbound)) << "one SA";
    EXPECT_TRUE(engine->looks_ahead());

    cfg.early_keys_from = 0;
    make_engine(cfg);
    add(hmac);
    EXPECT_FALSE(engine->requests_keys_early(Direction::inbound)) << "no key block in use";
}

// From early_keys_from SAs both directions request the key blocks of a burst's ciphered
// SAs before its checks. With the threshold at 0, bursts whose packets alternate between
// SAs of every transform with a key block go through our outbound and a peer's inbound
// (both requesting early) and come back as sent; a forged packet and one for an SA
// removed meanwhile (its slot's stale key index) are dropped, as without.
class EngineEarlyKeys : public EngineTest {
protected:
    void make_engines() {
        EngineConfig cfg = default_config();
        cfg.look_ahead_from = 0;
        cfg.early_keys_from = 0;
        cfg.cipher_capacity = 8;
        make_engine(cfg);
        auto e = Engine::create(cfg);
        ASSERT_TRUE(e.has_value()) << e.error();
        peer_ = std::move(*e);
    }
    std::vector<Result> peer_inbound(const std::vector<std::vector<uint8_t>>& pkts) {
        std::swap(engine, peer_);  // run() drives `engine`
        std::vector<Result> r = run(Direction::inbound, pkts);
        std::swap(engine, peer_);
        return r;
    }
    std::unique_ptr<Engine> peer_;
};

TEST_F(EngineEarlyKeys, EveryKeyedTransformRoundTripsAsWithFewSas) {
    struct Pair {
        Alg alg;
        Ealg ealg;
    };
    for (const Pair t : {Pair{Alg::hmac_sha1_96, Ealg::aes_cbc}, Pair{Alg::hmac_md5_96, Ealg::des_ede3_cbc},
                         Pair{Alg::null, Ealg::aes_gcm}, Pair{Alg::aes_gmac, Ealg::null},
                         Pair{Alg::hmac_sha256_128, Ealg::null}, Pair{Alg::hmac_sha256_128, Ealg::aes_cbc}}) {
        SCOPED_TRACE(std::string(name(t.alg)) + " / " + std::string(name(t.ealg)));
        make_engines();
        ASSERT_TRUE(engine->looks_ahead() && peer_->looks_ahead());
        constexpr uint32_t kSas = 3;
        std::vector<SaSpec> sas;
        for (uint32_t k = 0; k < kSas; ++k) {
            SaSpec o;
            o.dir = Direction::outbound;
            o.alg = t.alg;
            o.ealg = t.ealg;
            o.spi = 0x1001 + k;  // inside the peer's SPI layout
            o.ue_port = uint16_t(38003 + k);
            o.cipher_key = std::vector<uint8_t>(cipher_key_len(t.alg, t.ealg), uint8_t(0x40 + k));
            add(o);
            ASSERT_EQ(peer_->apply(peer_record(SaOp::add, o)), 0);
            sas.push_back(o);
        }
        std::vector<std::vector<uint8_t>> plain, esp;
        for (uint32_t i = 0; i < 12; ++i) {
            plain.push_back(downlink(sas[i % kSas], 40 + 17 * i));
        }
        for (const Result& r : run(Direction::outbound, plain)) {
            ASSERT_TRUE(r.ok) << name(r.reason);
            esp.push_back(r.bytes);
        }
        esp[4].back() ^= 1;                                             // a forged ICV
        ASSERT_EQ(peer_->apply(peer_record(SaOp::remove, sas[2])), 0);  // the third SA's slot freed
        const std::vector<Result> opened = peer_inbound(esp);
        for (uint32_t i = 0; i < esp.size(); ++i) {
            SCOPED_TRACE(testing::Message() << "packet " << i);
            if (i % kSas == 2) {
                EXPECT_FALSE(opened[i].ok);
                EXPECT_EQ(opened[i].reason, DropReason::unknown_spi);
            } else if (i == 4) {
                EXPECT_FALSE(opened[i].ok);
                EXPECT_EQ(opened[i].reason, DropReason::bad_icv);
            } else {
                ASSERT_TRUE(opened[i].ok) << name(opened[i].reason);
                EXPECT_EQ(opened[i].bytes, plain[i]);
            }
        }
    }
}

}  // namespace
}  // namespace pcscf::test
