// The engine's own behaviour: applying SA records, the reasons and counters of every
// kind of bad packet, events, burst ordering, and a round trip through both directions.
#include <gtest/gtest.h>

#include <random>

#include "tests/common/packet_builder.hpp"
#include "tests/esp/engine_fixture.hpp"
#include "tests/esp/esp_builder.hpp"

namespace pcscf::test {
namespace {

class EngineBehaviour : public EngineTest {
protected:
    // UE -> P-CSCF packet matching the default inbound SaSpec.
    static std::vector<uint8_t> uplink(size_t len = 100, uint8_t proto = 17) {
        return make_packet(Flow{kUe4, kPcscf4, 38003, 50718, proto}, len);
    }
    // P-CSCF -> UE packet matching the default outbound SaSpec.
    static std::vector<uint8_t> downlink(size_t len = 100, uint8_t proto = 17) {
        return make_packet(Flow{kPcscf4, kUe4, 50718, 38003, proto}, len);
    }
    Seal sealer(const SaSpec& s, uint32_t seq) {
        Seal x;
        x.spi = s.spi;
        x.seq = seq;
        x.alg = s.alg;
        x.key = *expand_key(engine->imb(), s.alg, s.key.empty() ? test_key(s.alg) : s.key);
        return x;
    }
    std::vector<uint8_t> esp(const SaSpec& s, uint32_t seq, const std::vector<uint8_t>& plain) {
        return seal(engine->imb(), plain, sealer(s, seq));
    }
    static SaSpec outbound_spec() {
        SaSpec s;
        s.dir = Direction::outbound;
        s.spi = 0xabcdef01;
        return s;
    }
};

// --- applying records -------------------------------------------------------------------

TEST_F(EngineBehaviour, InboundAddRemoveUpdateResults) {
    SaSpec s;
    EXPECT_EQ(apply(SaOp::update, s), -ENOENT);
    EXPECT_EQ(apply(SaOp::remove, s), -ENOENT);
    EXPECT_EQ(apply(SaOp::add, s), 0);
    EXPECT_EQ(engine->inbound_sas().count(), 1u);
    EXPECT_EQ(apply(SaOp::add, s), -EEXIST);
    EXPECT_EQ(apply(SaOp::update, s), 0);
    EXPECT_EQ(apply(SaOp::remove, s), 0);
    EXPECT_EQ(apply(SaOp::remove, s), -ENOENT);
    EXPECT_EQ(engine->inbound_sas().count(), 0u);
    EXPECT_EQ(engine->find_inbound(s.spi), nullptr);
}

TEST_F(EngineBehaviour, InvalidRecordsAreRefused) {
    SaSpec s;
    s.spi = 0;
    EXPECT_EQ(apply(SaOp::add, s), -EINVAL) << "SPI 0 is reserved";
    s.spi = 0x0fff;
    EXPECT_EQ(apply(SaOp::add, s), -ERANGE) << "below the SPI base";
    s.spi = 0x1000 + (1 << 16);
    EXPECT_EQ(apply(SaOp::add, s), -ERANGE) << "beyond this worker's slots";
    SaRecord r = record(SaOp::add, SaSpec{});
    r.sa.alg = static_cast<Alg>(7);
    EXPECT_EQ(engine->apply(r), -EINVAL);
    r = record(SaOp::add, SaSpec{});
    r.op = static_cast<SaOp>(9);
    EXPECT_EQ(engine->apply(r), -EINVAL);
    r = record(SaOp::add, SaSpec{});
    r.sa.dir = static_cast<Direction>(5);
    EXPECT_EQ(engine->apply(r), -EINVAL);
    SaSpec o = outbound_spec();
    o.ue_port = 0;
    EXPECT_EQ(apply(SaOp::add, o), -EINVAL) << "outbound selectors are exact";
    o = outbound_spec();
    o.ue = IpAddr{};
    EXPECT_EQ(apply(SaOp::add, o), -EINVAL);
    EXPECT_EQ(engine->inbound_sas().count() + engine->outbound_sas().count(), 0u);
}

TEST_F(EngineBehaviour, InboundSpiOfAnotherWorkerIsRefused) {
    EngineConfig cfg = default_config();
    cfg.spi.workers = 4;
    cfg.worker = 2;
    make_engine(cfg);
    SaSpec s;
    s.spi = cfg.spi.spi_of(1, 10);
    EXPECT_EQ(apply(SaOp::add, s), -EXDEV);
    s.spi = cfg.spi.spi_of(2, 10);
    EXPECT_EQ(apply(SaOp::add, s), 0);
    const auto r = run1(Direction::inbound, esp(s, 1, uplink()));
    EXPECT_TRUE(r.ok) << name(r.reason);
    SaSpec other = s;
    other.spi = cfg.spi.spi_of(3, 10);
    EXPECT_EQ(run1(Direction::inbound, esp(other, 1, uplink())).reason, DropReason::unknown_spi);
}

TEST_F(EngineBehaviour, OutboundAddRemoveUpdateResults) {
    SaSpec o = outbound_spec();
    EXPECT_EQ(apply(SaOp::remove, o), -ENOENT);
    EXPECT_EQ(apply(SaOp::add, o), 0);
    EXPECT_EQ(apply(SaOp::add, o), -EEXIST) << "same selectors";
    SaSpec wrong_spi = o;
    wrong_spi.spi = 77;
    EXPECT_EQ(apply(SaOp::remove, wrong_spi), -ENOENT) << "selectors match, SPI does not";
    EXPECT_EQ(apply(SaOp::update, wrong_spi), -ENOENT);
    EXPECT_EQ(apply(SaOp::update, o), 0);
    EXPECT_EQ(engine->outbound_sas().count(), 1u);
    EXPECT_EQ(apply(SaOp::remove, o), 0);
    EXPECT_EQ(engine->outbound_sas().count(), 0u);
    EXPECT_EQ(run1(Direction::outbound, downlink()).reason, DropReason::no_outbound_sa);
}

// apply() hands back where the SA sits, the same handle a later handle_of() finds, and
// -1 when the record removed it or failed.
TEST_F(EngineBehaviour, ApplyGivesTheSasHandle) {
    for (const SaSpec& s : {SaSpec{}, outbound_spec()}) {
        SCOPED_TRACE(s.dir == Direction::inbound ? "inbound" : "outbound");
        SaSpec other = s;
        other.spi += 1;
        other.ue_port += 2;
        add(other);  // so the handle is not the first slot by chance
        int32_t handle = 99;
        ASSERT_EQ(engine->apply(record(SaOp::add, s), &handle), 0);
        const int32_t found = engine->handle_of(record(SaOp::add, s).sa);
        EXPECT_GE(found, 0);
        EXPECT_EQ(handle, found);
        EXPECT_NE(handle, engine->handle_of(record(SaOp::add, other).sa));
        handle = 99;
        ASSERT_EQ(engine->apply(record(SaOp::update, s), &handle), 0);
        EXPECT_EQ(handle, found);
        handle = 99;
        EXPECT_EQ(engine->apply(record(SaOp::add, s), &handle), -EEXIST);
        EXPECT_EQ(handle, -1);
        ASSERT_EQ(engine->apply(record(SaOp::remove, s), &handle), 0);
        EXPECT_EQ(handle, -1);
    }
}

// A group of records applies as the same records one by one, in order, even where one
// changes what a later one finds; groups over 64 records too.
TEST_F(EngineBehaviour, RecordsAppliedTogetherActAsOneByOne) {
    const SaSpec in{};
    const SaSpec out = outbound_spec();
    SaSpec bad = in;
    bad.spi = 0;
    SaSpec other_out = out;
    other_out.spi += 1;
    other_out.ue_port += 1;
    const std::vector<std::pair<SaRecord, int>> plan = {
        {record(SaOp::add, in), 0},
        {record(SaOp::add, out), 0},
        {record(SaOp::add, in), -EEXIST},
        {record(SaOp::add, out), -EEXIST},
        {record(SaOp::remove, other_out), -ENOENT},
        {record(SaOp::update, out), 0},
        {record(SaOp::remove, in), 0},
        {record(SaOp::remove, in), -ENOENT},
        {record(SaOp::add, in), 0},
        {record(SaOp::add, other_out), 0},
        {record(SaOp::remove, other_out), 0},
        {record(SaOp::add, bad), -EINVAL},
        {record(SaOp::add, other_out), 0},
    };
    std::vector<SaRecord> recs;
    for (const auto& [r, expect] : plan) recs.push_back(r);
    for (uint16_t i = 0; i < 35; ++i) {  // into a second group of 64: SAs added and removed
        SaSpec s = out;
        s.spi = 0x5000 + i;
        s.ue_port = uint16_t(20000 + i);
        recs.push_back(record(SaOp::add, s));
        recs.push_back(record(SaOp::remove, s));
    }
    std::vector<int> results(recs.size(), 99);
    std::vector<int32_t> handles(recs.size(), 99);
    engine->apply(recs, results.data(), handles.data());

    auto one_by_one = Engine::create(default_config());
    ASSERT_TRUE(one_by_one.has_value());
    for (size_t i = 0; i < recs.size(); ++i) {
        int32_t handle = 99;
        EXPECT_EQ(results[i], (*one_by_one)->apply(recs[i], &handle)) << i;
        EXPECT_EQ(handles[i], handle) << i;
        if (i < plan.size()) EXPECT_EQ(results[i], plan[i].second) << i;
        else EXPECT_EQ(results[i], 0) << i;
    }
    EXPECT_EQ(engine->inbound_sas().count(), 1u);
    EXPECT_EQ(engine->outbound_sas().count(), 2u);
    EXPECT_GE(engine->handle_of(record(SaOp::add, other_out).sa), 0);
}

TEST_F(EngineBehaviour, OutboundTableFullIsReported) {
    EngineConfig cfg = default_config();
    cfg.outbound_capacity = 8;
    make_engine(cfg);
    SaSpec o = outbound_spec();
    for (uint16_t i = 0; i < 8; ++i) {
        o.ue_port = uint16_t(1000 + i);
        ASSERT_EQ(apply(SaOp::add, o), 0) << i;
    }
    o.ue_port = 2000;
    EXPECT_EQ(apply(SaOp::add, o), -ENOSPC);
    o.ue_port = 1002;
    EXPECT_EQ(apply(SaOp::add, o), -EEXIST) << "full, but these selectors are there";
    o.ue_port = 1003;
    EXPECT_EQ(apply(SaOp::remove, o), 0);
    o.ue_port = 2000;
    EXPECT_EQ(apply(SaOp::add, o), 0) << "a freed entry is reusable";
}

TEST_F(EngineBehaviour, UpdateKeepsReplayStateButChangesTheKey) {
    SaSpec s;
    add(s);
    ASSERT_TRUE(run1(Direction::inbound, esp(s, 5, uplink())).ok);
    SaSpec rekeyed = s;
    rekeyed.key = std::vector<uint8_t>(20, 0x77);
    ASSERT_EQ(apply(SaOp::update, rekeyed), 0);
    EXPECT_EQ(run1(Direction::inbound, esp(rekeyed, 5, uplink())).reason, DropReason::replay);
    EXPECT_EQ(run1(Direction::inbound, esp(s, 6, uplink())).reason, DropReason::bad_icv);
    EXPECT_TRUE(run1(Direction::inbound, esp(rekeyed, 6, uplink())).ok);
    EXPECT_EQ(engine->find_inbound(s.spi)->packets, 2u);
}

TEST_F(EngineBehaviour, ReAddedSpiStartsWithAFreshWindowAndCounters) {
    SaSpec s;
    add(s);
    ASSERT_TRUE(run1(Direction::inbound, esp(s, 100, uplink())).ok);
    ASSERT_EQ(apply(SaOp::remove, s), 0);
    EXPECT_EQ(run1(Direction::inbound, esp(s, 101, uplink())).reason, DropReason::unknown_spi);
    add(s);
    EXPECT_TRUE(run1(Direction::inbound, esp(s, 1, uplink())).ok);
    EXPECT_EQ(engine->find_inbound(s.spi)->packets, 1u);
}

// A delete frees the slot by its first line alone (see InboundTable::clear): the key
// lives there, so none is left behind.
TEST_F(EngineBehaviour, ARemovedInboundSaLeavesNoKeyBehind) {
    SaSpec s;
    add(s);
    const InboundSa& slot = engine->inbound_sas().at(engine->config().spi.slot(s.spi));
    ASSERT_NE(slot.key, HmacKey160{});
    ASSERT_EQ(apply(SaOp::remove, s), 0);
    EXPECT_EQ(slot.spi, 0u);
    EXPECT_EQ(slot.key, HmacKey160{});
    EXPECT_EQ(slot.packets, 0u);
    EXPECT_EQ(engine->inbound_sas().count(), 0u);
}

// --- inbound drops ----------------------------------------------------------------------

struct BadInbound {
    const char* what;
    DropReason reason;
};

TEST_F(EngineBehaviour, MalformedInboundPacketsAreCountedDrops) {
    SaSpec s;
    add(s);
    const auto good = esp(s, 1, uplink());
    std::vector<std::pair<BadInbound, std::vector<uint8_t>>> cases;
    auto edit = [&](const char* what, DropReason r, auto&& f) {
        auto p = good;
        f(p);
        cases.push_back({{what, r}, p});
    };
    edit("empty", DropReason::too_short, [](auto& p) { p.clear(); });
    edit("truncated IPv4 header", DropReason::too_short, [](auto& p) { p.resize(12); });
    edit("IP version 5", DropReason::bad_ip_header, [](auto& p) { p[0] = 0x55; });
    edit("IHL 4", DropReason::bad_ip_header, [](auto& p) {
        p[0] = 0x44;
        fix_ipv4_checksum(p);
    });
    edit("IHL 15 beyond the packet", DropReason::bad_ip_header, [](auto& p) {
        p.resize(40);
        p[0] = 0x4f;
        p[2] = 0;
        p[3] = 40;
    });
    edit("total length beyond the buffer", DropReason::bad_ip_header, [](auto& p) {
        p[2] = 0xff;
        fix_ipv4_checksum(p);
    });
    edit("total length below the header", DropReason::bad_ip_header, [](auto& p) {
        p[2] = 0;
        p[3] = 10;
        fix_ipv4_checksum(p);
    });
    edit("bad header checksum", DropReason::bad_ip_header, [](auto& p) { p[10] ^= 1; });
    edit("more fragments", DropReason::ip_fragment, [](auto& p) {
        p[6] |= 0x20;
        fix_ipv4_checksum(p);
    });
    edit("fragment offset", DropReason::ip_fragment, [](auto& p) {
        p[7] = 3;
        fix_ipv4_checksum(p);
    });
    edit("not ESP", DropReason::not_esp, [](auto& p) {
        p[9] = 17;
        fix_ipv4_checksum(p);
    });
    edit("ESP shorter than header + trailer + ICV", DropReason::too_short, [](auto& p) {
        p.resize(20 + 21);
        p[2] = 0;
        p[3] = 41;
        fix_ipv4_checksum(p);
    });
    edit("unknown SPI", DropReason::unknown_spi, [](auto& p) { p[20 + 3] ^= 0x40; });
    edit("SPI outside the layout", DropReason::unknown_spi, [](auto& p) { p[20] = 0xf0; });
    edit("sequence number 0", DropReason::replay, [](auto& p) { p[24] = p[25] = p[26] = p[27] = 0; });
    edit("ICV altered", DropReason::bad_icv, [](auto& p) { p.back() ^= 0x80; });
    edit("payload altered", DropReason::bad_icv, [](auto& p) { p[40] ^= 1; });
    for (auto& [c, pkt] : cases) {
        SCOPED_TRACE(c.what);
        const DropCounters before = engine->drops();
        const auto r = run1(Direction::inbound, pkt);
        ASSERT_FALSE(r.ok);
        EXPECT_EQ(name(r.reason), name(c.reason));
        EXPECT_EQ(engine->drops()[c.reason], before[c.reason] + 1);
        EXPECT_EQ(engine->drops().total(), before.total() + 1);
    }
    EXPECT_EQ(engine->find_inbound(s.spi)->packets, 0u);
    EXPECT_TRUE(run1(Direction::inbound, good).ok) << "none of that moved the window";
}

// The NIC's IPv4 checksum verdict in the mbuf (RTE_MBUF_F_RX_IP_CKSUM_*) is taken as it
// is: BAD drops a correct header, GOOD spares summing it again (the worker sets GOOD once
// its classification has checked the sum), none means the engine sums it itself.
TEST_F(EngineBehaviour, TheNicsChecksumVerdictIsTaken) {
    SaSpec s;
    add(s);
    auto inbound_with = [&](std::vector<uint8_t> pkt, uint64_t verdict) {
        MbufGuard g;
        g.v.push_back(make_mbuf(pkt));
        g.v[0]->ol_flags |= verdict;
        DropReason why[1];
        const bool ok = engine->inbound(g.v, why) == 1;
        return ok ? kPass : why[0];
    };
    auto bad_sum = [](std::vector<uint8_t> p) {
        p[10] ^= 1;
        return p;
    };
    EXPECT_EQ(inbound_with(esp(s, 1, uplink()), RTE_MBUF_F_RX_IP_CKSUM_BAD), DropReason::bad_ip_header);
    EXPECT_EQ(inbound_with(bad_sum(esp(s, 2, uplink())), 0), DropReason::bad_ip_header);
    EXPECT_EQ(inbound_with(bad_sum(esp(s, 3, uplink())), RTE_MBUF_F_RX_IP_CKSUM_GOOD), kPass);
    EXPECT_EQ(inbound_with(esp(s, 4, uplink()), RTE_MBUF_F_RX_IP_CKSUM_GOOD), kPass);
}

TEST_F(EngineBehaviour, AuthenticPacketsWithBadContentsAreRefusedAfterTheIcv) {
    SaSpec s;
    add(s);
    struct Case {
        const char* what;
        std::function<void(Seal&)> tweak;
        std::vector<uint8_t> plain;
        DropReason reason;
    };
    const auto udp = uplink(101);  // 101 + 8 bytes of UDP: one pad byte for alignment
    std::vector<Case> cases = {
        {"pad length beyond the payload", [](Seal& x) { x.pad_len_field = 250; }, udp, DropReason::bad_trailer},
        {"pad bytes not 1, 2, 3", [](Seal& x) { x.pad_first_byte = 7; }, udp, DropReason::bad_trailer},
        {"next header ICMP", [](Seal& x) { x.next_header = 1; }, udp, DropReason::bad_inner_protocol},
        {"next header 59: a dummy packet (RFC 4303 2.6)", [](Seal& x) { x.next_header = 59; }, udp,
         DropReason::dummy_packet},
        {"UDP shorter than its header",
         [](Seal& x) {
             x.next_header = 17;
             x.pad_len_field = 100;
             x.extra_pad = 0;
         },
         udp, DropReason::bad_trailer},
        {"TCP shorter than its header", [](Seal& x) { x.next_header = 6; }, uplink(4), DropReason::too_short},
        {"wrong source port", [](Seal&) {}, make_packet(Flow{kUe4, kPcscf4, 38004, 50718, 17}, 10),
         DropReason::selector_mismatch},
        {"wrong destination port", [](Seal&) {}, make_packet(Flow{kUe4, kPcscf4, 38003, 5060, 17}, 10),
         DropReason::selector_mismatch},
        {"wrong source address", [](Seal&) {},
         make_packet(Flow{*IpAddr::parse("192.0.2.11"), kPcscf4, 38003, 50718, 17}, 10), DropReason::selector_mismatch},
        {"wrong destination address", [](Seal&) {},
         make_packet(Flow{kUe4, *IpAddr::parse("198.51.100.2"), 38003, 50718, 17}, 10), DropReason::selector_mismatch},
        {"IPv6 packet on an IPv4 SA", [](Seal&) {}, make_packet(Flow{kUe6, kPcscf6, 38003, 50718, 17}, 10),
         DropReason::selector_mismatch},
        {"IPv6 from the SA's IPv4 address, v4-mapped", [](Seal&) {},
         make_packet(Flow{kUe4, kPcscf4, 38003, 50718, 17, true}, 10), DropReason::selector_mismatch},
    };
    uint32_t seq = 1;
    for (auto& c : cases) {
        SCOPED_TRACE(c.what);
        Seal x = sealer(s, seq++);
        c.tweak(x);
        const auto r = run1(Direction::inbound, seal(engine->imb(), c.plain, x));
        ASSERT_FALSE(r.ok);
        EXPECT_EQ(name(r.reason), name(c.reason));
    }
    // A dummy packet is no error of the sender's: not counted against the SA.
    EXPECT_EQ(engine->inbound_stats(s.spi)->drops, cases.size() - 1);
    EXPECT_EQ(engine->drops()[DropReason::dummy_packet], 1u);
    EXPECT_EQ(engine->inbound_stats(s.spi)->packets, 0u);
    // Authentic packets move the window even when refused afterwards.
    EXPECT_EQ(run1(Direction::inbound, esp(s, 1, uplink())).reason, DropReason::replay);
    EXPECT_TRUE(run1(Direction::inbound, esp(s, seq, uplink())).ok);
}

TEST_F(EngineBehaviour, WildcardSelectorsAcceptAnyPortAndDestination) {
    SaSpec s;
    s.ue_port = 0;
    s.pcscf_port = 0;
    s.pcscf = IpAddr{};
    add(s);
    const auto p = make_packet(Flow{kUe4, *IpAddr::parse("203.0.113.9"), 1, 2, 6}, 30);
    EXPECT_TRUE(run1(Direction::inbound, esp(s, 1, p)).ok);
}

TEST_F(EngineBehaviour, Ipv6ExtensionChainsAreBoundedAndChecked) {
    SaSpec s;
    s.ue = kUe6;
    s.pcscf = kPcscf6;
    add(s);
    const auto good = esp(s, 1, make_packet(Flow{kUe6, kPcscf6, 38003, 50718, 17}, 20));
    // Insert n destination-option headers (8 bytes each) between IPv6 and ESP.
    auto with_options = [&](int n) {
        std::vector<uint8_t> p(good.begin(), good.begin() + 40);
        p[6] = 60;
        for (int i = 0; i < n; ++i) {
            const uint8_t nh = i + 1 == n ? 50 : 60;
            p.insert(p.end(), {nh, 0, 1, 4, 0, 0, 0, 0});
        }
        p.insert(p.end(), good.begin() + 40, good.end());
        const size_t plen = p.size() - 40;
        p[4] = uint8_t(plen >> 8);
        p[5] = uint8_t(plen);
        return p;
    };
    auto r = run1(Direction::inbound, with_options(3));
    EXPECT_TRUE(r.ok) << name(r.reason);
    EXPECT_EQ(run1(Direction::inbound, with_options(20)).reason, DropReason::bad_ip_header);
    auto lying = with_options(1);
    lying[41] = 200;  // extension length far beyond the packet
    EXPECT_EQ(run1(Direction::inbound, lying).reason, DropReason::too_short);
    auto frag = with_options(1);
    frag[40] = 44;  // a fragment header follows
    EXPECT_EQ(run1(Direction::inbound, frag).reason, DropReason::ip_fragment);
    auto big = good;
    big[4] = 0xff;  // payload length beyond the buffer
    EXPECT_EQ(run1(Direction::inbound, big).reason, DropReason::bad_ip_header);
}

TEST_F(EngineBehaviour, EthernetHeaderAndPaddingAreHandled) {
    SaSpec s;
    add(s);
    const auto plain = uplink(0);  // 28 bytes: with ESP 62, short of the 60-byte frame minimum
    auto frame = with_ethernet(esp(s, 1, plain));
    frame.resize(frame.size() + 9, 0xee);  // L2 padding after the IP datagram
    const auto r = run1(Direction::inbound, frame, 14);
    ASSERT_TRUE(r.ok) << name(r.reason);
    EXPECT_EQ(r.bytes, with_ethernet(plain));
}

TEST_F(EngineBehaviour, ChainedMbufsAndShortL2AreRefused) {
    SaSpec s;
    add(s);
    const auto pkt = esp(s, 1, uplink());
    MbufGuard g;
    rte_mbuf* head = make_mbuf({pkt.data(), 40});
    g.v.push_back(head);
    rte_mbuf* tail = make_mbuf({pkt.data() + 40, pkt.size() - 40});
    ASSERT_EQ(rte_pktmbuf_chain(head, tail), 0);
    DropReason why[1];
    EXPECT_EQ(engine->inbound({&head, 1}, why), 0);
    EXPECT_EQ(why[0], DropReason::multi_segment);
    EXPECT_EQ(engine->outbound({&head, 1}, why), 0);
    EXPECT_EQ(why[0], DropReason::multi_segment);
    rte_mbuf* whole = make_mbuf(pkt);
    g.v.push_back(whole);
    EXPECT_EQ(engine->inbound({&whole, 1}, why, uint16_t(pkt.size())), 0) << "L2 beyond the data";
    EXPECT_EQ(why[0], DropReason::too_short);
    EXPECT_EQ(engine->outbound({&whole, 1}, why, uint16_t(pkt.size() + 5)), 0);
    EXPECT_EQ(why[0], DropReason::too_short);
}

// --- outbound ---------------------------------------------------------------------------

TEST_F(EngineBehaviour, OutboundRefusals) {
    SaSpec o = outbound_spec();
    add(o);
    EXPECT_EQ(run1(Direction::outbound, downlink(10, 1)).reason, DropReason::bad_inner_protocol);
    auto short_tcp = downlink(0, 6);
    short_tcp.resize(20 + 12);
    short_tcp[3] = 32;
    fix_ipv4_checksum(short_tcp);
    EXPECT_EQ(run1(Direction::outbound, short_tcp).reason, DropReason::too_short);
    EXPECT_EQ(run1(Direction::outbound, make_packet(Flow{kPcscf4, kUe4, 50718, 38004, 17}, 10)).reason,
              DropReason::no_outbound_sa);
    EXPECT_EQ(
        run1(Direction::outbound, make_packet(Flow{*IpAddr::parse("198.51.100.9"), kUe4, 50718, 38003, 17}, 10)).reason,
        DropReason::selector_mismatch);
    // The kernel would not send it, but IPv6 to ::ffff:192.0.2.10 must not take the IPv4 SA.
    EXPECT_EQ(run1(Direction::outbound, make_packet(Flow{kPcscf4, kUe4, 50718, 38003, 17, true}, 10)).reason,
              DropReason::selector_mismatch);
    EXPECT_EQ(engine->outbound_stats({kUe4, 38003, 50718})->drops, 2u);
    EXPECT_EQ(engine->find_outbound({kUe4, 38003, 50718})->seq, 0u) << "no number was used";
}

TEST_F(EngineBehaviour, OutboundNeedsHeadroomAndTailroom) {
    add(outbound_spec());
    const auto plain = downlink(50);
    rte_mbuf* no_head = make_mbuf(plain);
    no_head->data_off = 4;  // less than the 8 bytes of ESP header
    rte_mbuf* no_tail = make_mbuf(plain);
    // Move the packet to the very end of the buffer.
    const uint16_t off = uint16_t(no_tail->buf_len - plain.size());
    std::memcpy(static_cast<uint8_t*>(no_tail->buf_addr) + off, plain.data(), plain.size());
    no_tail->data_off = off;
    std::memmove(rte_pktmbuf_mtod(no_head, uint8_t*), plain.data(), plain.size());
    rte_mbuf* burst[2] = {no_head, no_tail};
    DropReason why[2];
    EXPECT_EQ(engine->outbound(burst, why), 0);
    EXPECT_EQ(why[0], DropReason::no_room);
    EXPECT_EQ(why[1], DropReason::no_room);
    EXPECT_EQ(bytes_of(no_tail), plain) << "a refused packet is left as it was";
    rte_pktmbuf_free(no_head);
    rte_pktmbuf_free(no_tail);
}

TEST_F(EngineBehaviour, SequenceNumberNeverWraps) {
    EngineConfig cfg = default_config();
    cfg.seq_near_end = 0xfffffff0;
    make_engine(cfg);
    const SaSpec o = outbound_spec();
    add(o);
    auto* sa = const_cast<OutboundSa*>(engine->find_outbound({kUe4, 38003, 50718}));
    sa->seq = 0xffffffe0;  // as if 4 billion packets had been sent
    std::vector<std::vector<uint8_t>> pkts(40, downlink(20));
    const auto r = run(Direction::outbound, pkts);
    for (size_t i = 0; i < r.size(); ++i) {
        const uint32_t seq = uint32_t(0xffffffe0 + i + 1);
        if (i < 31) {
            ASSERT_TRUE(r[i].ok) << i;
            EXPECT_EQ((uint32_t(r[i].bytes[24]) << 24 | uint32_t(r[i].bytes[25]) << 16 | uint32_t(r[i].bytes[26]) << 8 |
                       r[i].bytes[27]),
                      seq);
        } else {
            ASSERT_FALSE(r[i].ok) << i;
            EXPECT_EQ(r[i].reason, DropReason::seq_exhausted);
        }
    }
    EXPECT_EQ(engine->drops()[DropReason::seq_exhausted], 9u);
    const auto ev = engine->events();
    ASSERT_EQ(ev.size(), 2u) << "each warning is raised once";
    EXPECT_EQ(ev[0].kind, EventKind::seq_near_end);
    EXPECT_EQ(ev[0].seq, 0xfffffff0u);
    EXPECT_EQ(ev[0].spi, o.spi);
    EXPECT_EQ(ev[1].kind, EventKind::seq_exhausted);
    EXPECT_EQ(ev[1].seq, 0xffffffffu);
    engine->clear_events();
    EXPECT_TRUE(engine->events().empty());
}

// --- sequence checkpoints and restored SAs (what survives a restart) --------------------

uint32_t seq_of(const std::vector<uint8_t>& ipv4_esp) {
    return uint32_t(ipv4_esp[24]) << 24 | uint32_t(ipv4_esp[25]) << 16 | uint32_t(ipv4_esp[26]) << 8 | ipv4_esp[27];
}

std::vector<uint64_t> checkpoints(std::span<const SaEvent> ev) {
    std::vector<uint64_t> out;
    for (const SaEvent& e : ev)
        if (e.kind == EventKind::seq_checkpoint) out.push_back(e.seq);
    return out;
}

// Every time a sequence number passes a multiple of K, the engine says so: so everything
// sent or seen is always below the last checkpoint + K.
TEST_F(EngineBehaviour, CheckpointsAreRaisedEachTimeTheSequencePassesAMultipleOfK) {
    EngineConfig cfg = default_config();
    cfg.seq_checkpoint = 4;
    make_engine(cfg);
    const SaSpec o = outbound_spec();
    add(o);
    run(Direction::outbound, std::vector<std::vector<uint8_t>>(9, downlink(20)));
    EXPECT_EQ(checkpoints(engine->events()), (std::vector<uint64_t>{4, 8}));
    engine->clear_events();

    SaSpec in;
    add(in);
    for (uint32_t seq : {1u, 2u, 3u, 5u, 4u, 13u, 14u, 6u})  // 5 passes 4; 13 passes 8 and 12 at once
        EXPECT_TRUE(run1(Direction::inbound, esp(in, seq, uplink())).ok) << seq;
    EXPECT_EQ(checkpoints(engine->events()), (std::vector<uint64_t>{4, 12})) << "the last multiple passed";
}

TEST_F(EngineBehaviour, NoCheckpointsWhenOffAndKMustBeAPowerOfTwo) {
    const SaSpec o = outbound_spec();
    add(o);
    run(Direction::outbound, std::vector<std::vector<uint8_t>>(70, downlink(20)));
    EXPECT_TRUE(checkpoints(engine->events()).empty());
    EngineConfig cfg = default_config();
    cfg.seq_checkpoint = 24;
    EXPECT_FALSE(Engine::create(cfg).has_value());
}

// A restored SA carries on where its checkpoint says it may: outbound numbers after
// seq_start, and no inbound number at or below it accepted again.
TEST_F(EngineBehaviour, ARestoredSaStartsAfterItsSeqStart) {
    SaSpec o = outbound_spec();
    o.seq_start = 1000;
    add(o);
    const auto r = run1(Direction::outbound, downlink(20));
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(seq_of(r.bytes), 1001u);

    SaSpec in;
    in.seq_start = 1000;
    add(in);
    for (uint32_t old : {1000u, 999u, 950u, 1u})
        EXPECT_EQ(run1(Direction::inbound, esp(in, old, uplink())).reason, DropReason::replay) << old;
    EXPECT_TRUE(run1(Direction::inbound, esp(in, 1001, uplink())).ok);
    EXPECT_TRUE(run1(Direction::inbound, esp(in, 1003, uplink())).ok);
    EXPECT_TRUE(run1(Direction::inbound, esp(in, 1002, uplink())).ok) << "the window works as before above it";
}

// A standby's warm SA resumes where the checkpoint says when it takes over: numbers move
// on to seq_start, never back, and an SA that is not there is reported.
TEST_F(EngineBehaviour, ResumeMovesAnSasNumbersOnButNeverBack) {
    SaSpec o = outbound_spec();
    add(o);
    ASSERT_TRUE(run1(Direction::outbound, downlink(20)).ok);
    o.seq_start = 500;
    ASSERT_EQ(apply(SaOp::resume, o), 0);
    EXPECT_EQ(seq_of(run1(Direction::outbound, downlink(20)).bytes), 501u);
    o.seq_start = 100;
    ASSERT_EQ(apply(SaOp::resume, o), 0);
    EXPECT_EQ(seq_of(run1(Direction::outbound, downlink(20)).bytes), 502u) << "never back";

    SaSpec in;
    add(in);
    ASSERT_TRUE(run1(Direction::inbound, esp(in, 7, uplink())).ok);
    in.seq_start = 300;
    ASSERT_EQ(apply(SaOp::resume, in), 0);
    for (uint32_t old : {300u, 299u, 8u})
        EXPECT_EQ(run1(Direction::inbound, esp(in, old, uplink())).reason, DropReason::replay) << old;
    EXPECT_TRUE(run1(Direction::inbound, esp(in, 302, uplink())).ok);
    in.seq_start = 200;
    ASSERT_EQ(apply(SaOp::resume, in), 0);
    EXPECT_TRUE(run1(Direction::inbound, esp(in, 301, uplink())).ok) << "the window was not moved back";

    SaSpec absent;
    absent.spi = 0x1009;
    EXPECT_EQ(apply(SaOp::resume, absent), -ENOENT);
    SaSpec other = outbound_spec();
    other.ue_port = 1;
    EXPECT_EQ(apply(SaOp::resume, other), -ENOENT);
}

// --- events, ordering, counters ---------------------------------------------------------

TEST_F(EngineBehaviour, FirstUseIsRaisedOncePerInboundSa) {
    SaSpec a, b;
    b.spi = 0x1002;
    b.ue_port = 38005;
    add(a);
    add(b);
    EXPECT_EQ(run1(Direction::inbound, esp(a, 1, uplink())).ok, true);
    EXPECT_EQ(run1(Direction::inbound, esp(a, 2, uplink())).ok, true);
    EXPECT_EQ(run1(Direction::inbound, esp(b, 9, uplink())).reason, DropReason::selector_mismatch);
    const auto ev = engine->events();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].kind, EventKind::first_use);
    EXPECT_EQ(ev[0].spi, a.spi);
    EXPECT_EQ(ev[0].cookie, a.spi * 10ull);
}

TEST_F(EngineBehaviour, GoodPacketsComeFirstInArrivalOrder) {
    SaSpec md5;
    md5.alg = Alg::hmac_md5_96;
    SaSpec sha = md5;
    sha.alg = Alg::hmac_sha1_96;
    sha.spi = 0x1002;
    add(md5);
    add(sha);
    std::vector<std::vector<uint8_t>> pkts;
    std::vector<bool> expect_ok;
    std::mt19937 rng(1);
    for (uint32_t i = 0; i < 300; ++i) {  // several chunks of 64, both algorithms interleaved
        const SaSpec& s = i % 2 ? md5 : sha;
        auto p = esp(s, i + 1, uplink(i % 90));
        const bool corrupt = rng() % 4 == 0;
        if (corrupt) p[p.size() - 1 - rng() % 12] ^= 0x10;
        pkts.push_back(p);
        expect_ok.push_back(!corrupt);
    }
    std::vector<rte_mbuf*> burst;
    for (auto& p : pkts) burst.push_back(make_mbuf(p));
    MbufGuard guard{burst};
    const std::vector<rte_mbuf*> orig = burst;
    std::vector<DropReason> why(burst.size());
    const uint16_t good = engine->inbound(guard.v, why);
    EXPECT_EQ(good, size_t(std::count(expect_ok.begin(), expect_ok.end(), true)));
    size_t next = 0;
    for (uint16_t j = 0; j < good; ++j) {
        while (!expect_ok[next]) ++next;
        EXPECT_EQ(guard.v[j], orig[next]) << "good packet " << j << " out of order";
        ++next;
    }
    for (size_t j = good; j < guard.v.size(); ++j) EXPECT_EQ(why[j], DropReason::bad_icv);
    EXPECT_EQ(engine->stats().in_packets, good);
    EXPECT_EQ(engine->drops()[DropReason::bad_icv], guard.v.size() - good);
    EXPECT_EQ(engine->find_inbound(md5.spi)->packets + engine->find_inbound(sha.spi)->packets, good);
}

// The default window lives inside the SA record, larger ones after it: both must work
// through the engine, for several SAs side by side (no bitmap overlaps its neighbour's).
TEST_F(EngineBehaviour, ReplayWindowSizesThroughTheEngine) {
    for (uint32_t size : {64u, 65u, 128u, 4096u}) {
        SCOPED_TRACE(size);
        EngineConfig cfg = default_config();
        cfg.replay_window = size;
        make_engine(cfg);
        SaSpec a, b;
        b.spi = 0x1002;
        add(a);
        add(b);
        const uint32_t top = 3 * size + 7;
        EXPECT_TRUE(run1(Direction::inbound, esp(a, top, uplink())).ok);
        EXPECT_TRUE(run1(Direction::inbound, esp(b, 2, uplink())).ok);
        EXPECT_TRUE(run1(Direction::inbound, esp(a, top - size + 1, uplink())).ok);
        EXPECT_EQ(run1(Direction::inbound, esp(a, top - size, uplink())).reason, DropReason::replay);
        EXPECT_EQ(run1(Direction::inbound, esp(a, top - size + 1, uplink())).reason, DropReason::replay);
        EXPECT_TRUE(run1(Direction::inbound, esp(b, 1, uplink())).ok) << "b's window is its own";
        EXPECT_EQ(run1(Direction::inbound, esp(b, 2, uplink())).reason, DropReason::replay);
    }
    EngineConfig cfg = default_config();
    cfg.replay_window = 32;
    EXPECT_FALSE(Engine::create(cfg).has_value()) << "windows below 64 are refused";
}

TEST_F(EngineBehaviour, DuplicateInTheSameBurstIsAReplay) {
    SaSpec s;
    add(s);
    const auto p = esp(s, 7, uplink());
    const auto r = run(Direction::inbound, {p, p, esp(s, 8, uplink())});
    EXPECT_TRUE(r[0].ok);
    EXPECT_FALSE(r[1].ok);
    EXPECT_EQ(r[1].reason, DropReason::replay);
    EXPECT_TRUE(r[2].ok);
}

// --- round trip and fuzz ----------------------------------------------------------------

TEST_F(EngineBehaviour, OutboundOutputVerifiesOnAPeerEngine) {
    // A second engine plays the UE: its inbound SA expects the P-CSCF as the source.
    auto ue_side = Engine::create(default_config());
    ASSERT_TRUE(ue_side.has_value());
    for (Alg alg : {Alg::hmac_md5_96, Alg::hmac_sha1_96, Alg::hmac_sha256_128}) {
        for (bool v6 : {false, true}) {
            for (uint8_t proto : {uint8_t(17), uint8_t(6)}) {
                const IpAddr ue = v6 ? kUe6 : kUe4, pc = v6 ? kPcscf6 : kPcscf4;
                SaSpec o = outbound_spec();
                o.alg = alg;
                o.ue = ue;
                o.pcscf = pc;
                o.spi = 0x2000;
                ASSERT_EQ(apply(SaOp::add, o), 0);
                SaRecord peer = record(SaOp::add, o);
                peer.sa.dir = Direction::inbound;
                peer.sa.ue_addr = pc;  // the peer's "remote" is us
                peer.sa.pcscf_addr = ue;
                peer.sa.ue_port = o.pcscf_port;
                peer.sa.pcscf_port = o.ue_port;
                ASSERT_EQ((*ue_side)->apply(peer), 0);
                for (size_t len : {0, 1, 2, 3, 4, 100, 1000, 1400, 8000}) {
                    const auto plain = make_packet(Flow{pc, ue, 50718, 38003, proto}, len);
                    const auto sealed = run1(Direction::outbound, plain);
                    ASSERT_TRUE(sealed.ok) << name(sealed.reason);
                    EXPECT_EQ((sealed.bytes.size() - plain.size() - 8 - 12 - 2) % 4 <= 3, true);
                    rte_mbuf* m = make_mbuf(sealed.bytes);
                    DropReason why[1];
                    ASSERT_EQ((*ue_side)->inbound({&m, 1}, why), 1) << name(why[0]) << " len " << len;
                    EXPECT_EQ(bytes_of(m), plain);
                    rte_pktmbuf_free(m);
                }
                ASSERT_EQ(apply(SaOp::remove, o), 0);
                ASSERT_EQ((*ue_side)->apply(SaRecord{SaOp::remove, 0, peer.sa, {}, {}}), 0);
            }
        }
    }
}

// Random damage to valid packets: never a crash, every refusal counted, nothing accepted
// that was altered in the authenticated part.
TEST_F(EngineBehaviour, MutatedPacketsNeverCrashAndAreAllCounted) {
    SaSpec s4, s6;
    s6.spi = 0x1002;
    s6.ue = kUe6;
    s6.pcscf = kPcscf6;
    add(s4);
    add(s6);
    std::mt19937_64 rng(4303);
    uint64_t accepted = 0, total = 0;
    for (int round = 0; round < 60; ++round) {
        std::vector<std::vector<uint8_t>> pkts;
        for (int i = 0; i < 500; ++i) {
            const bool v6 = rng() & 1;
            const auto plain =
                v6 ? make_packet(Flow{kUe6, kPcscf6, 38003, 50718, 17}, rng() % 300) : uplink(rng() % 300);
            auto p = esp(v6 ? s6 : s4, uint32_t(rng() % 5000 + 1), plain);
            switch (rng() % 5) {
                case 0: p.resize(rng() % (p.size() + 1)); break;      // truncate
                case 1: p[rng() % p.size()] = uint8_t(rng()); break;  // one byte
                case 2:
                    for (auto& b : p)
                        if (rng() % 8 == 0) b = uint8_t(rng());
                    break;
                case 3: p.insert(p.end(), rng() % 64, uint8_t(rng())); break;  // trailing junk
                default: {                                                     // hostile lengths
                    const size_t at = v6 ? 4 : 2;
                    p[at] = uint8_t(rng());
                    p[at + 1] = uint8_t(rng());
                }
            }
            pkts.push_back(std::move(p));
        }
        const DropCounters before = engine->drops();
        const auto r = run(Direction::inbound, pkts);
        uint64_t bad = 0;
        for (const auto& x : r) {
            accepted += x.ok;
            bad += !x.ok;
        }
        total += r.size();
        ASSERT_EQ(engine->drops().total() - before.total(), bad);
        // The same junk as outbound input must not crash either.
        run(Direction::outbound, pkts);
    }
    EXPECT_LT(accepted, total / 4) << "damage that leaves ESP intact is rare";
}

}  // namespace
}  // namespace pcscf::test
