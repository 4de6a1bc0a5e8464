#pragma once
// An engine with one worker's tables and helpers to install SAs and push packets through.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "dataplane/esp/engine.hpp"
#include "sa_contract/hmac_key.hpp"
#include "tests/common/mbuf_util.hpp"
#include "tests/common/packet_builder.hpp"

namespace pcscf::test {

using namespace pcscf::esp;
using namespace pcscf::net;

// The test network's UE and P-CSCF (documentation prefixes: RFC 5737, RFC 3849); the
// IPv4 pair is SaSpec's default.
inline const IpAddr kUe4 = *IpAddr::parse("192.0.2.10");
inline const IpAddr kPcscf4 = *IpAddr::parse("198.51.100.1");
inline const IpAddr kUe6 = *IpAddr::parse("2001:db8:1::10");
inline const IpAddr kPcscf6 = *IpAddr::parse("2001:db8:f::1");

struct SaSpec {
    Direction dir = Direction::inbound;
    Alg alg = Alg::hmac_sha1_96;
    std::vector<uint8_t> key;  // empty: a fixed test key of the right length
    Ealg ealg = Ealg::null;
    std::vector<uint8_t> cipher_key;  // CK_ESP; empty: a fixed test key of the right length
    uint32_t spi = 0x1001;
    net::IpAddr ue = kUe4;
    net::IpAddr pcscf = kPcscf4;
    uint16_t ue_port = 38003;
    uint16_t pcscf_port = 50718;
    uint32_t seq_start = 0;
};

// One packet's fate through the engine.
struct Result {
    bool ok = false;
    net::DropReason reason = net::DropReason::too_short;
    std::vector<uint8_t> bytes;  // the packet after processing (dropped: as the engine left it)
};

class EngineTest : public ::testing::Test {
protected:
    static EngineConfig default_config() {
        EngineConfig cfg;
        cfg.spi = SpiLayout{0x1000, 1, 1 << 16};
        cfg.outbound_capacity = 1 << 12;
        return cfg;
    }
    void SetUp() override { make_engine(default_config()); }

    void make_engine(const EngineConfig& cfg) {
        engine.reset();
        auto e = Engine::create(cfg);
        ASSERT_TRUE(e.has_value()) << e.error();
        engine = std::move(*e);
    }

    static std::vector<uint8_t> test_key(Alg alg) {
        std::vector<uint8_t> k(key_len(alg));
        for (size_t i = 0; i < k.size(); ++i) k[i] = uint8_t(0xa0 + i);
        return k;
    }

    static std::vector<uint8_t> test_cipher_key(Alg alg, Ealg ealg) {
        std::vector<uint8_t> k(cipher_key_len(alg, ealg));
        for (size_t i = 0; i < k.size(); ++i) k[i] = uint8_t(0x31 + 7 * i);
        return k;
    }
    static std::vector<uint8_t> cipher_key_of(const SaSpec& s) {
        return s.cipher_key.empty() ? test_cipher_key(s.alg, s.ealg) : s.cipher_key;
    }

    SaRecord record(SaOp op, const SaSpec& s) {
        SaRecord r;
        r.op = op;
        r.sa.dir = s.dir;
        r.sa.alg = s.alg;
        r.sa.spi = s.spi;
        r.sa.ue_addr = s.ue;
        r.sa.pcscf_addr = s.pcscf;
        r.sa.ue_port = s.ue_port;
        r.sa.pcscf_port = s.pcscf_port;
        r.sa.cookie = s.spi * 10ull;
        r.sa.seq_start = s.seq_start;
        r.sa.ealg = s.ealg;
        const auto ck = cipher_key_of(s);
        std::copy(ck.begin(), ck.begin() + std::min(ck.size(), r.cipher.bytes.size()), r.cipher.bytes.begin());
        r.cipher.len = uint8_t(std::min(ck.size(), r.cipher.bytes.size()));
        if (!is_hmac(s.alg)) return r;  // AES-GMAC's key is the cipher key
        const auto key = s.key.empty() ? test_key(s.alg) : s.key;
        auto k = expand_key(engine->imb(), s.alg, key);
        EXPECT_TRUE(k.has_value()) << k.error();
        if (k) r.key = *k;
        return r;
    }
    int apply(SaOp op, const SaSpec& s) { return engine->apply(record(op, s)); }

    // The UE's inbound SA for our outbound SA `o`: its remote is us.
    SaRecord peer_record(SaOp op, const SaSpec& o) {
        SaRecord r = record(op, o);
        r.sa.dir = Direction::inbound;
        r.sa.ue_addr = o.pcscf;
        r.sa.pcscf_addr = o.ue;
        r.sa.ue_port = o.pcscf_port;
        r.sa.pcscf_port = o.ue_port;
        return r;
    }
    // `plain` through our outbound and then `peer`'s inbound, which must give it back.
    void expect_round_trip(Engine& peer, const std::vector<uint8_t>& plain) {
        const auto sealed = run1(Direction::outbound, plain);
        ASSERT_TRUE(sealed.ok) << name(sealed.reason);
        rte_mbuf* m = make_mbuf(sealed.bytes);
        DropReason why[1];
        const uint16_t got = peer.inbound({&m, 1}, why);
        if (got == 1) {
            EXPECT_EQ(bytes_of(m), plain);
        }
        rte_pktmbuf_free(m);
        ASSERT_EQ(got, 1) << name(why[0]) << ", " << plain.size() << " bytes";
    }
    void add(const SaSpec& s) { ASSERT_EQ(apply(SaOp::add, s), 0); }

    // A plain packet of SA `s`'s flow, from the UE or to it.
    static std::vector<uint8_t> uplink(const SaSpec& s, size_t len = 100, uint8_t proto = 17) {
        return make_packet(Flow{s.ue, s.pcscf, s.ue_port, s.pcscf_port, proto}, len);
    }
    static std::vector<uint8_t> downlink(const SaSpec& s, size_t len = 100, uint8_t proto = 17) {
        return make_packet(Flow{s.pcscf, s.ue, s.pcscf_port, s.ue_port, proto}, len);
    }

    // Two outbound SAs installed (`b` as `a` with the next SPI and UE port), `rounds` bursts
    // of 400 packets alternating between them sent, and every packet's IV as `iv_of(sa,
    // esp)` reads it back (each packet must go out).
    template <class IvOf>
    std::vector<std::vector<uint8_t>> ivs_of_two_sas(const SaSpec& a, int rounds, IvOf iv_of) {
        SaSpec b = a;
        b.spi += 1;
        b.ue_port += 1;
        add(a);
        add(b);
        std::vector<std::vector<uint8_t>> ivs;
        for (int round = 0; round < rounds; ++round) {
            std::vector<std::vector<uint8_t>> pkts;
            for (int i = 0; i < 400; ++i) pkts.push_back(downlink(i % 2 ? a : b, size_t(i % 50)));
            const auto r = run(Direction::outbound, pkts);
            for (size_t i = 0; i < r.size(); ++i) {
                EXPECT_TRUE(r[i].ok) << name(r[i].reason);
                if (r[i].ok) ivs.push_back(iv_of(i % 2 ? a : b, r[i].bytes));
            }
        }
        return ivs;
    }

    // Runs packets through one direction, in bursts of up to 1024; results in input order.
    std::vector<Result> run(Direction dir, const std::vector<std::vector<uint8_t>>& pkts, uint16_t l2_len = 0) {
        std::vector<Result> out(pkts.size());
        for (size_t off = 0; off < pkts.size(); off += 1024) {
            MbufGuard burst;
            const size_t n = std::min<size_t>(1024, pkts.size() - off);
            for (size_t i = 0; i < n; ++i) burst.v.push_back(make_mbuf(pkts[off + i]));
            const std::vector<rte_mbuf*> orig = burst.v;
            std::vector<net::DropReason> why(n);
            const uint16_t good = dir == Direction::inbound ? engine->inbound(burst.v, why, l2_len)
                                                            : engine->outbound(burst.v, why, l2_len);
            for (size_t j = 0; j < n; ++j) {
                const auto at = std::find(orig.begin(), orig.end(), burst.v[j]) - orig.begin();
                Result& r = out[off + size_t(at)];
                r.ok = j < good;
                r.bytes = bytes_of(burst.v[j]);
                if (!r.ok) r.reason = why[j];
            }
        }
        return out;
    }
    Result run1(Direction dir, const std::vector<uint8_t>& pkt, uint16_t l2_len = 0) {
        return run(dir, {pkt}, l2_len)[0];
    }

    std::unique_ptr<Engine> engine;
};

}  // namespace pcscf::test
