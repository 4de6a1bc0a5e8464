// Reassembly of fragments scapy made (vectors/fragments.txt, from make_fragments.py), in
// order, reversed and shuffled, and of hostile fragment streams: every datagram comes out
// whole and contiguous, every refused mbuf is counted, and none is leaked.
#include <gtest/gtest.h>
#include <rte_cycles.h>

#include "dataplane/ipfrag/reassembler.hpp"
#include "tests/common/mbuf_util.hpp"
#include "tests/common/packet_builder.hpp"
#include "tests/common/vector_file.hpp"
#include "tests/ipfrag/frame_util.hpp"

#ifndef PCSCF_FRAG_VECTORS
#error "PCSCF_FRAG_VECTORS must name tests/ipfrag/vectors/fragments.txt"
#endif

namespace pcscf::test {
namespace {

using ipfrag::Reassembler;
using ipfrag::ReassemblyConfig;
using net::DropReason;

const std::vector<Vector>& vectors() {
    static const auto v = read_vectors(PCSCF_FRAG_VECTORS);
    return v;
}

rte_mempool* big_pool() {
    static rte_mempool* p = rte_pktmbuf_pool_create("frag_big", 63, 0, 0, 9216 + RTE_PKTMBUF_HEADROOM, SOCKET_ID_ANY);
    return p;
}

class ReassemblerTest : public ::testing::Test {
protected:
    void make(ReassemblyConfig cfg = {}) {
        cfg.max_datagram = std::min<uint32_t>(cfg.max_datagram, 9000);
        auto r = Reassembler::create(cfg, big_pool(), SOCKET_ID_ANY);
        ASSERT_TRUE(r.has_value()) << r.error();
        re.emplace(std::move(*r));
    }
    void SetUp() override {
        ASSERT_NE(big_pool(), nullptr);
        free_before = rte_mempool_avail_count(test_pool());
        big_before = rte_mempool_avail_count(big_pool());
        make();
    }
    void TearDown() override {
        re.reset();  // frees whatever the table still held
        EXPECT_EQ(rte_mempool_avail_count(test_pool()), free_before) << "mbufs leaked";
        EXPECT_EQ(rte_mempool_avail_count(big_pool()), big_before) << "big buffers leaked";
    }
    rte_mbuf* add(const std::vector<uint8_t>& ip, uint64_t now = 1) {
        return re->add(make_mbuf(eth_frame(ip)), kEth, now, drops);
    }

    std::optional<Reassembler> re;
    net::DropCounters drops;
    unsigned free_before = 0, big_before = 0;
};

class ScapyFragments : public ReassemblerTest, public ::testing::WithParamInterface<size_t> {};

TEST_P(ScapyFragments, YieldTheWholeDatagramOnTheLastPiece) {
    const Vector& v = vectors().at(GetParam());
    const auto frags = split_hex_list(v.at("frags"));
    ASSERT_GE(frags.size(), 2u);
    for (size_t i = 0; i + 1 < frags.size(); ++i) ASSERT_EQ(add(frags[i]), nullptr) << "piece " << i;
    rte_mbuf* whole = add(frags.back());
    ASSERT_NE(whole, nullptr) << "drops: " << drops.total();
    EXPECT_EQ(whole->nb_segs, 1);
    const auto got = bytes_of(whole);
    rte_pktmbuf_free(whole);
    EXPECT_EQ(to_hex(got), to_hex(eth_frame(from_hex(v.at("whole")))));
    EXPECT_EQ(drops.total(), 0u);
}

std::vector<size_t> all_vectors() {
    std::vector<size_t> v;  // the hostile ones have tests of their own
    for (size_t i = 0; i < vectors().size(); ++i)
        if (!vectors()[i].at("name").starts_with("hostile_")) v.push_back(i);
    return v;
}
INSTANTIATE_TEST_SUITE_P(Vectors, ScapyFragments, ::testing::ValuesIn(all_vectors()),
                         [](const auto& info) { return vectors()[info.param].at("name"); });

std::vector<std::vector<uint8_t>> frags_of(const std::string& name) {
    for (const Vector& v : vectors())
        if (v.at("name") == name) return split_hex_list(v.at("frags"));
    throw std::runtime_error("no vector " + name);
}

TEST_F(ReassemblerTest, IncompleteDatagramTimesOutAndIsCounted) {
    ReassemblyConfig cfg;
    cfg.timeout_ms = 10;
    make(cfg);
    const auto frags = frags_of("ipv4_esp_4000_in_order");
    const uint64_t t0 = rte_get_tsc_cycles();
    EXPECT_EQ(add(frags[0], t0), nullptr);
    EXPECT_EQ(add(frags[1], t0), nullptr);
    re->expire(t0 + rte_get_tsc_hz() / 1000, drops);  // 1 ms: still waiting
    EXPECT_EQ(drops.total(), 0u);
    re->expire(t0 + rte_get_tsc_hz(), drops);
    EXPECT_EQ(drops[DropReason::reassembly_timeout], 2u);
    // The last piece alone is a new, incomplete datagram now.
    EXPECT_EQ(add(frags[2], t0 + rte_get_tsc_hz()), nullptr);
}

TEST_F(ReassemblerTest, DatagramOverTheConfiguredMaximumIsRefused) {
    ReassemblyConfig cfg;
    cfg.max_datagram = 3000;
    make(cfg);
    const auto frags = frags_of("ipv4_esp_4000_in_order");
    for (const auto& f : frags) EXPECT_EQ(add(f), nullptr);
    EXPECT_EQ(drops[DropReason::reassembly_failed], 1u);
}

TEST_F(ReassemblerTest, FullFlowTableRefusesNewDatagrams) {
    ReassemblyConfig cfg;
    cfg.max_flows = 2;
    make(cfg);
    // Three datagrams' first pieces: different IP IDs make three flows.
    const auto frags = frags_of("ipv4_udp_3000_shuffled");
    for (uint16_t id = 1; id <= 3; ++id) {
        auto f = frags[0];
        f[4] = 0;
        f[5] = uint8_t(id);
        EXPECT_EQ(add(f), nullptr);
    }
    EXPECT_EQ(drops[DropReason::fragment_invalid], 1u);
}

TEST_F(ReassemblerTest, MoreThanTheMaximumNumberOfPiecesIsRefused) {
    // A 1,000-byte UDP payload cut into 16-byte pieces by hand.
    std::vector<uint8_t> whole = from_hex("4500040c00070000401100000a6300020a630001");
    whole.resize(0x40c, 0xab);
    std::vector<std::vector<uint8_t>> pieces;
    for (uint32_t off = 20; off < whole.size(); off += 16) {
        const uint32_t len = std::min<uint32_t>(16, uint32_t(whole.size()) - off);
        std::vector<uint8_t> p(whole.begin(), whole.begin() + 20);
        p.insert(p.end(), whole.begin() + off, whole.begin() + off + len);
        const uint16_t fo = uint16_t((off - 20) / 8 | (off + len < whole.size() ? 0x2000 : 0));
        p[2] = uint8_t((20 + len) >> 8);
        p[3] = uint8_t(20 + len);
        p[6] = uint8_t(fo >> 8);
        p[7] = uint8_t(fo);
        pieces.push_back(p);
    }
    ASSERT_GT(pieces.size(), size_t(RTE_LIBRTE_IP_FRAG_MAX_FRAG));
    for (const auto& p : pieces) EXPECT_EQ(add(p), nullptr);
    EXPECT_GE(drops[DropReason::fragment_invalid], 1u);
}

TEST_F(ReassemblerTest, MalformedFragmentsAreCountedNeverCrash) {
    const auto v4 = frags_of("ipv4_esp_4000_in_order")[0];
    const auto v6 = frags_of("ipv6_esp_4000_in_order")[0];
    auto truncated = v4;
    truncated.resize(12);
    auto long_total = v4;
    long_total[2] = 0xff;  // total length beyond the frame
    auto short_ihl = v4;
    short_ihl[0] = 0x44;
    auto v6_payload_beyond = v6;
    v6_payload_beyond[4] = 0xff;
    auto v6_not_first_ext = v6;
    v6_not_first_ext[6] = 0;  // a hop-by-hop header where the fragment header is
    auto not_ip = v4;
    not_ip[0] = 0x75;
    for (const auto* p : {&truncated, &long_total, &short_ihl, &v6_payload_beyond, &v6_not_first_ext, &not_ip})
        EXPECT_EQ(add(*p), nullptr);
    EXPECT_EQ(drops[DropReason::fragment_invalid], 6u);
}

// librte_ip_frag gives up on a datagram with a repeated piece (RFC 5722 asks the same of
// overlaps for IPv6): every piece of it is dropped and counted, none leaked.
TEST_F(ReassemblerTest, RepeatedPieceDropsTheDatagram) {
    const auto frags = frags_of("hostile_ipv4_duplicate_piece");
    ASSERT_EQ(frags.size(), 3u);  // first, first again, last
    for (const auto& f : frags) EXPECT_EQ(add(f), nullptr);
    // Both copies of the first piece go; the last one starts a new datagram that waits
    // (and is freed with the table: TearDown checks).
    EXPECT_EQ(drops[DropReason::fragment_invalid], 2u);
}

// RFC 791: the protocol is part of what makes fragments one datagram. The same source,
// destination and Identification, once for ESP and once for UDP, make two datagrams,
// pieces interleaved.
TEST_F(ReassemblerTest, FragmentsOfDifferentProtocolsAreNotMerged) {
    for (const char* name : {"ipv4_esp_4000_in_order", "ipv6_esp_4000_in_order"}) {
        SCOPED_TRACE(name);
        const auto esp = frags_of(name);
        const bool v6 = (esp[0][0] >> 4) == 6;
        auto as_udp = [&](std::vector<uint8_t> f) {
            if (v6) {
                f[40] = 17;  // the fragment header's next header
            } else {
                f[9] = 17;
                fix_ipv4_checksum(f);
            }
            return f;
        };
        for (size_t i = 0; i + 1 < esp.size(); ++i) {
            EXPECT_EQ(add(esp[i]), nullptr);
            EXPECT_EQ(add(as_udp(esp[i])), nullptr);
        }
        for (uint8_t proto : {50, 17}) {
            rte_mbuf* whole = add(proto == 50 ? esp.back() : as_udp(esp.back()));
            ASSERT_NE(whole, nullptr) << "protocol " << int(proto) << ", drops " << drops.total();
            const auto got = bytes_of(whole);
            rte_pktmbuf_free(whole);
            EXPECT_EQ(got[kEth + (v6 ? 6 : 9)], proto) << "each datagram keeps its own protocol";
        }
        EXPECT_EQ(drops.total(), 0u);
    }
}

// Only ESP, UDP and TCP are reassembled here; other protocols' fragments go on as they are.
TEST_F(ReassemblerTest, OnlyEspUdpAndTcpFragmentsAreWanted) {
    auto frame = [](std::vector<uint8_t> f, int proto_at, uint8_t proto) {
        f[size_t(proto_at)] = proto;
        return make_mbuf(eth_frame(f));
    };
    const auto v4 = frags_of("ipv4_esp_4000_in_order")[0];
    const auto v6 = frags_of("ipv6_esp_4000_in_order")[0];
    MbufGuard g;
    for (uint8_t proto : {50, 17, 6, 1, 58, 132})
        for (auto [f, at] : {std::pair{&v4, 9}, std::pair{&v6, 40}}) {
            g.v.push_back(frame(*f, at, proto));
            EXPECT_EQ(Reassembler::wanted(g.v.back(), kEth), proto == 50 || proto == 17 || proto == 6)
                << "protocol " << int(proto) << " over IPv" << (at == 9 ? 4 : 6);
        }
    auto mangled = v4;
    mangled.resize(10);
    g.v.push_back(make_mbuf(eth_frame(mangled)));
    EXPECT_TRUE(Reassembler::wanted(g.v.back(), kEth)) << "malformed: add() counts it";
}

TEST(ReassemblerCreate, RefusesAPoolTooSmallForTheLargestDatagram) {
    ReassemblyConfig cfg;
    cfg.max_datagram = 20000;
    const auto r = Reassembler::create(cfg, big_pool(), SOCKET_ID_ANY);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("too small"), std::string::npos);
}

}  // namespace
}  // namespace pcscf::test
