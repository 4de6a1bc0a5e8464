// UDP-encapsulated tunnel-mode ESP (RFC 3948; TS 33.203 Annex M, mod=UDP-enc-tun): a UE
// behind a NAT. Round trips through a peer engine playing the UE (with the NAT's
// rewrite done by hand in between), the RFC 3948 2.2-2.3 non-ESP payloads, the NAT
// port learnt and its event, the checks on the outer and inner headers, and interop
// with scapy's NAT-T ESP (vectors/scapy_natt.txt, made by make_natt_vectors.py).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "net/ip_header.hpp"
#include "tests/common/hex.hpp"
#include "tests/common/packet_builder.hpp"
#include "tests/common/vector_file.hpp"
#include "tests/esp/engine_fixture.hpp"
#include "tests/esp/esp_builder.hpp"

#ifndef PCSCF_VECTOR_DIR
#error "PCSCF_VECTOR_DIR must name tests/esp/vectors"
#endif

namespace pcscf::test {
namespace {

const IpAddr kPublic = *IpAddr::parse("203.0.113.7");  // the NAT's address: the UE's as we see it
const IpAddr kInner = *IpAddr::parse("10.0.0.5");      // the UE's own address
const IpAddr kPcscf = *IpAddr::parse("198.51.100.1");
constexpr uint16_t kUePort = 38003, kPcscfPort = 50718, kNatPort = 31000;
constexpr uint32_t kInSpi = 0x1001, kOutSpi = 0x2001;

uint16_t be16_at(const std::vector<uint8_t>& p, size_t off) { return uint16_t(p[off] << 8 | p[off + 1]); }
void put16(std::vector<uint8_t>& p, size_t off, uint16_t v) {
    p[off] = uint8_t(v >> 8);
    p[off + 1] = uint8_t(v);
}

// Ones'-complement sum of `len` bytes, big-endian words, folded.
uint32_t sum16(const uint8_t* p, size_t len, uint32_t acc = 0) {
    for (size_t i = 0; i + 1 < len; i += 2) acc += uint32_t(p[i] << 8 | p[i + 1]);
    if (len & 1) acc += uint32_t(p[len - 1] << 8);
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return acc;
}

// The IPv4 header checksum and the UDP / TCP checksum of `ip`, summed from scratch.
void expect_checksums_valid(const std::vector<uint8_t>& ip) {
    const size_t ihl = (ip[0] & 0x0f) * 4u;
    EXPECT_EQ(sum16(ip.data(), ihl), 0xffffu) << "IPv4 header checksum";
    const size_t l4_len = be16_at(ip, 2) - ihl;
    const uint8_t proto = ip[9];
    if (proto == kProtoUdp && be16_at(ip, ihl + 6) == 0) return;  // none sent
    uint8_t pseudo[12];
    std::memcpy(pseudo, ip.data() + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = proto;
    pseudo[10] = uint8_t(l4_len >> 8);
    pseudo[11] = uint8_t(l4_len);
    EXPECT_EQ(sum16(ip.data() + ihl, l4_len, sum16(pseudo, 12)), 0xffffu) << (proto == kProtoUdp ? "UDP" : "TCP");
}

void fix_checksum(std::vector<uint8_t>& ip) { fix_ipv4_checksum(ip); }

// What the NAT does to a packet from the UE: the outer source becomes its public address
// and port (the UDP checksum is 0, RFC 3948 3.1.1, so only the IP header's changes).
std::vector<uint8_t> through_nat(std::vector<uint8_t> p, const IpAddr& pub, uint16_t port) {
    std::memcpy(p.data() + 12, pub.v4_bytes(), 4);
    put16(p, 20, port);
    fix_checksum(p);
    return p;
}
// ... and to a packet to the UE: back to the UE's address and port 4500.
std::vector<uint8_t> back_through_nat(std::vector<uint8_t> p) {
    std::memcpy(p.data() + 16, kInner.v4_bytes(), 4);
    put16(p, 22, kNatTPort);
    fix_checksum(p);
    return p;
}

// A transport-mode ESP packet put in UDP (RFC 3948 2.1): the ICV covers the ESP only.
std::vector<uint8_t> in_udp(const std::vector<uint8_t>& esp, uint16_t sport, uint16_t dport = kNatTPort) {
    const size_t ihl = (esp[0] & 0x0f) * 4u;
    std::vector<uint8_t> p(esp.begin(), esp.begin() + ihl);
    const size_t udp_len = esp.size() - ihl + 8;
    p.resize(ihl + 8);
    put16(p, ihl, sport);
    put16(p, ihl + 2, dport);
    put16(p, ihl + 4, uint16_t(udp_len));
    p.insert(p.end(), esp.begin() + ihl, esp.end());
    p[9] = kProtoUdp;
    put16(p, 2, uint16_t(p.size()));
    fix_checksum(p);
    return p;
}

// Tunnel-mode ESP sealed by hand around any `inner` bytes (esp_builder's seal() of an
// IP-in-IP packet, next header 4), in UDP from the UE's public address.
std::vector<uint8_t> hand_sealed(IMB_MGR* mgr, const std::vector<uint8_t>& inner, const Seal& s) {
    auto outer = make_packet({kPublic, kPcscf, 1, 1}, 0);
    outer.resize(20);
    outer[9] = kProtoIpv4;
    outer.insert(outer.end(), inner.begin(), inner.end());
    put16(outer, 2, uint16_t(outer.size()));
    fix_ipv4_checksum(outer);
    return in_udp(seal(mgr, outer, s), kNatPort);
}

std::vector<uint8_t> udp_to_4500(std::span<const uint8_t> payload, uint16_t sport = kNatPort) {
    return make_packet({kPublic, kPcscf, sport, kNatTPort}, payload);
}

struct Pair {
    Alg alg;
    Ealg ealg;
};
std::string pair_name(const ::testing::TestParamInfo<Pair>& info) {
    std::string n = std::string(name(info.param.alg)) + "_" + std::string(name(info.param.ealg));
    std::replace(n.begin(), n.end(), '-', '_');
    return n;
}

class Natt : public EngineTest {
protected:
    void SetUp() override {
        EngineTest::SetUp();
        auto e = Engine::create(default_config());
        ASSERT_TRUE(e.has_value()) << e.error();
        ue = std::move(*e);
    }

    static SaRecord tunnel(SaRecord r, const IpAddr& inner, uint16_t port) {
        r.sa.mode = Mode::udp_enc_tun;
        r.sa.ue_inner = inner;
        r.sa.encap_port = port;
        return r;
    }
    // Our SAs with the UE: its public address, its own one, the NAT's port.
    SaSpec spec(Direction dir, uint32_t spi) const {
        SaSpec s;
        s.dir = dir;
        s.alg = pair.alg;
        s.ealg = pair.ealg;
        s.spi = spi;
        s.ue = kPublic;
        s.pcscf = kPcscf;
        s.ue_port = kUePort;
        s.pcscf_port = kPcscfPort;
        return s;
    }
    SaRecord ours(SaOp op, Direction dir, uint16_t port) {
        return tunnel(record(op, spec(dir, dir == Direction::inbound ? kInSpi : kOutSpi)), kInner, port);
    }
    void add_ours(Direction dir, uint16_t port) { ASSERT_EQ(engine->apply(ours(SaOp::add, dir, port)), 0); }

    // The UE's ends, in its engine: it sends from its own address to ours (no NAT on our
    // side, so its inner and outer destination are the same), in UDP to 4500.
    void add_ue_sas() {
        SaSpec o = spec(Direction::outbound, kInSpi);
        o.ue = kPcscf;
        o.pcscf = kInner;
        o.ue_port = kPcscfPort;
        o.pcscf_port = kUePort;
        ASSERT_EQ(ue->apply(tunnel(record(SaOp::add, o), kPcscf, kNatTPort)), 0);
        SaSpec i = spec(Direction::inbound, kOutSpi);
        i.ue = kPcscf;
        i.pcscf = kInner;
        i.ue_port = kPcscfPort;
        i.pcscf_port = kUePort;
        ASSERT_EQ(ue->apply(tunnel(record(SaOp::add, i), kPcscf, 0)), 0);
    }

    static Result through(Engine& e, Direction dir, const std::vector<uint8_t>& pkt) {
        MbufGuard g;
        g.v.push_back(make_mbuf(pkt));
        DropReason why[1];
        const uint16_t good = dir == Direction::inbound ? e.inbound(g.v, why) : e.outbound(g.v, why);
        Result r;
        r.ok = good == 1;
        if (r.ok) r.bytes = bytes_of(g.v[0]);
        else r.reason = why[0];
        return r;
    }
    // The UE seals `plain` (from its own address); the NAT makes it come from `port`.
    std::vector<uint8_t> from_ue(const std::vector<uint8_t>& plain, uint16_t port = kNatPort) {
        const Result r = through(*ue, Direction::outbound, plain);
        EXPECT_TRUE(r.ok) << name(r.reason);
        return r.ok ? through_nat(r.bytes, kPublic, port) : std::vector<uint8_t>{};
    }
    std::vector<uint8_t> ue_plain(size_t len = 100, uint8_t proto = kProtoUdp) const {
        Flow f{kInner, kPcscf, kUePort, kPcscfPort, proto};
        return make_packet(f, len);
    }
    std::vector<SaEvent> port_events() const {
        std::vector<SaEvent> out;
        for (const SaEvent& e : engine->events())
            if (e.kind == EventKind::encap_port) out.push_back(e);
        return out;
    }

    Pair pair{Alg::hmac_sha1_96, Ealg::null};
    std::unique_ptr<Engine> ue;
};

class NattPairs : public Natt, public ::testing::WithParamInterface<Pair> {
protected:
    void SetUp() override {
        pair = GetParam();
        Natt::SetUp();
    }
};

// UE -> NAT -> P-CSCF: the kernel gets the inner packet from the UE's public address,
// its checksums right, behind the L2 header the frame came with.
TEST_P(NattPairs, InboundDeliversTheInnerPacketFromThePublicAddress) {
    add_ue_sas();
    add_ours(Direction::inbound, 0);
    for (const uint8_t proto : {kProtoUdp, kProtoTcp}) {
        for (const size_t len : {0, 1, 3, 100, 1300}) {
            const Flow f{kInner, kPcscf, kUePort, kPcscfPort, proto};
            const auto plain = make_packet(f, len);
            const auto sealed = from_ue(plain);
            std::vector<uint8_t> frame(14, 0xee);
            frame.insert(frame.end(), sealed.begin(), sealed.end());
            const Result r = run1(Direction::inbound, frame, 14);
            ASSERT_TRUE(r.ok) << name(r.reason) << " proto " << int(proto) << " len " << len;
            ASSERT_GT(r.bytes.size(), 14u);
            EXPECT_EQ(std::vector<uint8_t>(r.bytes.begin(), r.bytes.begin() + 14), std::vector<uint8_t>(14, 0xee));
            const std::vector<uint8_t> inner(r.bytes.begin() + 14, r.bytes.end());
            Flow pub = f;
            pub.src = kPublic;
            EXPECT_EQ(to_hex(inner), to_hex(make_packet(pub, len))) << "the packet as if sent from the public address";
            expect_checksums_valid(inner);
        }
    }
    EXPECT_EQ(engine->inbound_stats(kInSpi)->packets, 10u);
    EXPECT_EQ(engine->drops().total(), 0u);
}

// P-CSCF -> UE: in UDP from 4500 to the NAT's port, the inner packet to the UE's own
// address, which the UE's engine opens after the NAT.
TEST_P(NattPairs, OutboundGoesInUdpToTheNatPortAndTheUeOpensIt) {
    add_ue_sas();
    add_ours(Direction::outbound, kNatPort);
    for (const uint8_t proto : {kProtoUdp, kProtoTcp}) {
        const Flow f{kPcscf, kPublic, kPcscfPort, kUePort, proto};
        const auto plain = make_packet(f, 200);
        const Result r = run1(Direction::outbound, plain);
        ASSERT_TRUE(r.ok) << name(r.reason);
        const auto& o = r.bytes;
        EXPECT_EQ(o[0], 0x45);
        EXPECT_EQ(be16_at(o, 2), o.size());
        EXPECT_EQ(o[8], 64) << "TTL";
        EXPECT_EQ(o[9], kProtoUdp);
        EXPECT_EQ(IpAddr::v4(o.data() + 12), kPcscf);
        EXPECT_EQ(IpAddr::v4(o.data() + 16), kPublic);
        EXPECT_EQ(be16_at(o, 20), kNatTPort);
        EXPECT_EQ(be16_at(o, 22), kNatPort);
        EXPECT_EQ(be16_at(o, 24), o.size() - 20);
        EXPECT_EQ(be16_at(o, 26), 0) << "no UDP checksum (RFC 3948 3.1.1)";
        EXPECT_EQ(uint32_t(be16_at(o, 28)) << 16 | be16_at(o, 30), kOutSpi);
        expect_checksums_valid(o);
        const Result opened = through(*ue, Direction::inbound, back_through_nat(o));
        ASSERT_TRUE(opened.ok) << name(opened.reason);
        Flow to_inner = f;
        to_inner.dst = kInner;
        EXPECT_EQ(to_hex(opened.bytes), to_hex(make_packet(to_inner, 200)));
        expect_checksums_valid(opened.bytes);
    }
    EXPECT_EQ(engine->outbound_stats({kPublic, kUePort, kPcscfPort})->packets, 2u);
}

INSTANTIATE_TEST_SUITE_P(Transforms, NattPairs,
                         ::testing::Values(Pair{Alg::hmac_sha1_96, Ealg::null}, Pair{Alg::hmac_md5_96, Ealg::null},
                                           Pair{Alg::hmac_sha1_96, Ealg::aes_cbc},
                                           Pair{Alg::hmac_md5_96, Ealg::des_ede3_cbc}, Pair{Alg::null, Ealg::aes_gcm},
                                           Pair{Alg::aes_gmac, Ealg::null}, Pair{Alg::hmac_sha256_128, Ealg::null},
                                           Pair{Alg::hmac_sha256_128, Ealg::aes_cbc}),
                         pair_name);

// RFC 3948 2.3: a keep-alive is absorbed, counted, charged to no SA.
TEST_F(Natt, AKeepAliveIsAbsorbedAndCounted) {
    add_ours(Direction::inbound, 0);
    const uint8_t ff[1] = {0xff};
    const Result r = run1(Direction::inbound, udp_to_4500(ff));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.reason, DropReason::natt_keepalive);
    EXPECT_EQ(engine->drops()[DropReason::natt_keepalive], 1u);
    EXPECT_EQ(engine->inbound_stats(kInSpi)->drops, 0u);
    EXPECT_TRUE(engine->events().empty());
}

// RFC 3948 2.2: the non-ESP marker (IKE), which IMS does not use.
TEST_F(Natt, TheNonEspMarkerIsCounted) {
    add_ours(Direction::inbound, 0);
    const uint8_t ike[12] = {0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1};
    const Result r = run1(Direction::inbound, udp_to_4500(ike));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.reason, DropReason::natt_non_esp);
    EXPECT_EQ(engine->drops()[DropReason::natt_non_esp], 1u);
    const uint8_t two_ff[2] = {0xff, 0xff};  // not a keep-alive: ESP too short to be any
    EXPECT_EQ(run1(Direction::inbound, udp_to_4500(two_ff)).reason, DropReason::too_short);
}

// The NAT's port: learnt from the first verified packet, reported once per change (a
// rebinding), and what outbound uses once the control plane updates the outbound SA.
TEST_F(Natt, TheNatPortIsLearntReportedOncePerChangeAndUsedAfterAnUpdate) {
    add_ue_sas();
    add_ours(Direction::inbound, 0);
    add_ours(Direction::outbound, 0);
    const auto to_ue = make_packet({kPcscf, kPublic, kPcscfPort, kUePort}, 50);
    EXPECT_EQ(run1(Direction::outbound, to_ue).reason, DropReason::natt_port_unknown);
    EXPECT_EQ(engine->outbound_stats({kPublic, kUePort, kPcscfPort})->drops, 1u);
    EXPECT_EQ(engine->drops()[DropReason::natt_port_unknown], 1u);

    ASSERT_TRUE(run1(Direction::inbound, from_ue(ue_plain(), kNatPort)).ok);
    auto ev = port_events();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].encap_port, kNatPort);
    EXPECT_EQ(ev[0].spi, kInSpi);
    EXPECT_EQ(ev[0].dir, Direction::inbound);
    EXPECT_EQ(ev[0].cookie, kInSpi * 10ull);
    EXPECT_EQ(engine->events().size(), 2u) << "and first use";
    engine->clear_events();

    ASSERT_TRUE(run1(Direction::inbound, from_ue(ue_plain(), kNatPort)).ok);
    EXPECT_TRUE(engine->events().empty()) << "the same port again: nothing new";

    const auto late = from_ue(ue_plain(), 40001);  // sealed before the rebinding's packet
    ASSERT_TRUE(run1(Direction::inbound, from_ue(ue_plain(), 40001)).ok);
    ev = port_events();
    ASSERT_EQ(ev.size(), 1u) << "a rebinding";
    EXPECT_EQ(ev[0].encap_port, 40001);
    engine->clear_events();
    ASSERT_TRUE(run1(Direction::inbound, through_nat(late, kPublic, kNatPort)).ok) << "in the window";
    EXPECT_TRUE(engine->events().empty()) << "an older packet from the old port does not move it back";

    // The control plane moves the outbound SA: it keeps its sequence number.
    ASSERT_EQ(engine->apply(ours(SaOp::update, Direction::outbound, kNatPort)), 0);
    Result r = run1(Direction::outbound, to_ue);
    ASSERT_TRUE(r.ok) << name(r.reason);
    EXPECT_EQ(be16_at(r.bytes, 22), kNatPort);
    EXPECT_EQ(be16_at(r.bytes, 32), 0);
    EXPECT_EQ(be16_at(r.bytes, 34), 1) << "sequence number";
    ASSERT_EQ(engine->apply(ours(SaOp::update, Direction::outbound, 40001)), 0);
    r = run1(Direction::outbound, to_ue);
    ASSERT_TRUE(r.ok) << name(r.reason);
    EXPECT_EQ(be16_at(r.bytes, 22), 40001);
    EXPECT_EQ(be16_at(r.bytes, 34), 2) << "the sequence goes on across the update";
    EXPECT_TRUE(through(*ue, Direction::inbound, back_through_nat(r.bytes)).ok);

    // An update of the inbound SA sets its port too: the same port is then no change.
    ASSERT_EQ(engine->apply(ours(SaOp::update, Direction::inbound, 40002)), 0);
    ASSERT_TRUE(run1(Direction::inbound, from_ue(ue_plain(), 40002)).ok);
    EXPECT_TRUE(port_events().empty());
}

// The outer IPv4 and UDP headers need headroom too: 36 bytes with the ESP header.
TEST_F(Natt, OutboundWithoutRoomForTheOuterHeadersIsNoRoom) {
    add_ours(Direction::outbound, kNatPort);
    const auto plain = make_packet({kPcscf, kPublic, kPcscfPort, kUePort}, 50);
    MbufGuard g;
    for (const uint16_t headroom : {35, 36}) {
        rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
        ASSERT_NE(m, nullptr);
        g.v.push_back(m);
        m->data_off = headroom;  // transport mode would need 8
        std::memcpy(rte_pktmbuf_append(m, uint16_t(plain.size())), plain.data(), plain.size());
    }
    DropReason why[2];
    std::vector<rte_mbuf*> burst = g.v;
    ASSERT_EQ(engine->outbound(burst, why), 1);
    EXPECT_EQ(burst[0], g.v[1]);
    EXPECT_EQ(why[1], DropReason::no_room);
    EXPECT_EQ(engine->outbound_stats({kPublic, kUePort, kPcscfPort})->drops, 1u);
    EXPECT_EQ(engine->outbound_stats({kPublic, kUePort, kPcscfPort})->packets, 1u);
}

TEST_F(Natt, WrongAddressesAndModesAreSelectorMismatches) {
    add_ue_sas();
    add_ours(Direction::inbound, 0);
    const auto good = from_ue(ue_plain());
    // Outer source not the UE's public address.
    EXPECT_EQ(run1(Direction::inbound, through_nat(good, *IpAddr::parse("203.0.113.8"), kNatPort)).reason,
              DropReason::selector_mismatch);
    // Inner source not the UE's own address (sealed by hand: the UE's own SA would refuse it).
    Seal s;
    s.spi = kInSpi;
    s.seq = 10;  // leaves the UE's next numbers in the window
    s.key = record(SaOp::add, spec(Direction::inbound, kInSpi)).key;
    Flow other{*IpAddr::parse("10.0.0.6"), kPcscf, kUePort, kPcscfPort};
    EXPECT_EQ(run1(Direction::inbound, hand_sealed(engine->imb(), make_packet(other, 10), s)).reason,
              DropReason::selector_mismatch);
    // Inner ports not the SA's, inner destination not the P-CSCF's.
    for (const Flow& f : {Flow{kInner, kPcscf, kUePort + 1, kPcscfPort}, Flow{kInner, kPcscf, kUePort, kPcscfPort + 1},
                          Flow{kInner, *IpAddr::parse("198.51.100.2"), kUePort, kPcscfPort}}) {
        ++s.seq;
        EXPECT_EQ(run1(Direction::inbound, hand_sealed(engine->imb(), make_packet(f, 10), s)).reason,
                  DropReason::selector_mismatch);
    }
    EXPECT_EQ(engine->inbound_stats(kInSpi)->drops, 5u);
    EXPECT_TRUE(port_events().empty()) << "no port learnt from a refused packet";
    EXPECT_EQ(engine->inbound_stats(kInSpi)->packets, 0u);
    EXPECT_TRUE(run1(Direction::inbound, from_ue(ue_plain())).ok);
}

// Transport mode reached through UDP, UDP-enc-tun reached by bare ESP: both refused.
TEST_F(Natt, TheSaModeMustMatchTheEncapsulation) {
    SaSpec t = spec(Direction::inbound, 0x1002);
    ASSERT_EQ(apply(SaOp::add, t), 0);
    Seal s;
    s.spi = 0x1002;
    s.key = record(SaOp::add, t).key;
    const auto transport = seal(engine->imb(), make_packet({kPublic, kPcscf, kUePort, kPcscfPort}, 20), s);
    ASSERT_TRUE(run1(Direction::inbound, transport).ok) << "bare: fine";
    s.seq = 2;
    const auto via_udp = in_udp(seal(engine->imb(), make_packet({kPublic, kPcscf, kUePort, kPcscfPort}, 20), s), 9);
    EXPECT_EQ(run1(Direction::inbound, via_udp).reason, DropReason::selector_mismatch);
    EXPECT_EQ(engine->inbound_stats(0x1002)->drops, 1u);

    add_ue_sas();
    add_ours(Direction::inbound, 0);
    auto bare = from_ue(ue_plain());  // take the UDP header out
    bare.erase(bare.begin() + 20, bare.begin() + 28);
    bare[9] = kProtoEsp;
    put16(bare, 2, uint16_t(bare.size()));
    fix_checksum(bare);
    EXPECT_EQ(run1(Direction::inbound, bare).reason, DropReason::selector_mismatch);
    EXPECT_EQ(engine->inbound_stats(kInSpi)->drops, 1u);
}

// What the UE put inside must be one whole IPv4 datagram (next header 4).
TEST_F(Natt, TheInnerPacketMustBeAWholeIpv4Datagram) {
    add_ours(Direction::inbound, 0);
    Seal s;
    s.spi = kInSpi;
    s.key = record(SaOp::add, spec(Direction::inbound, kInSpi)).key;
    const auto send = [&](const std::vector<uint8_t>& inner) {
        ++s.seq;
        return run1(Direction::inbound, hand_sealed(engine->imb(), inner, s));
    };
    EXPECT_TRUE(send(ue_plain(30)).ok) << "the hand-sealed packet is good as it is";
    auto bad_sum = ue_plain(30);
    bad_sum[10] ^= 1;  // the inner header checksum
    EXPECT_EQ(send(bad_sum).reason, DropReason::bad_ip_header);
    auto frag = ue_plain(30);
    frag[6] = 0x20;  // more fragments
    fix_checksum(frag);
    EXPECT_EQ(send(frag).reason, DropReason::ip_fragment);
    auto icmp = ue_plain(30);
    icmp[9] = 1;
    fix_checksum(icmp);
    EXPECT_EQ(send(icmp).reason, DropReason::bad_inner_protocol);
    auto shorter = ue_plain(30);  // says it is shorter than what the ESP carries
    put16(shorter, 2, uint16_t(shorter.size() - 4));
    fix_checksum(shorter);
    EXPECT_EQ(send(shorter).reason, DropReason::bad_ip_header);
    EXPECT_EQ(send(make_packet({*IpAddr::parse("2001:db8::5"), *IpAddr::parse("2001:db8::1"), kUePort, kPcscfPort,
                                kProtoUdp, true},
                               30))
                  .reason,
              DropReason::bad_ip_header)
        << "IPv6 behind next header 4";
    auto udp_cut = ue_plain(0);  // an inner UDP header cut short
    udp_cut.resize(24);
    put16(udp_cut, 2, 24);
    fix_checksum(udp_cut);
    EXPECT_EQ(send(udp_cut).reason, DropReason::too_short);
    // Transport mode in UDP to a tunnel SA: next header 17.
    ++s.seq;
    const auto transport = seal(engine->imb(), make_packet({kPublic, kPcscf, kUePort, kPcscfPort}, 20), s);
    EXPECT_EQ(run1(Direction::inbound, in_udp(transport, kNatPort)).reason, DropReason::bad_inner_protocol);
    EXPECT_EQ(engine->inbound_stats(kInSpi)->drops, 7u);
    EXPECT_EQ(engine->inbound_stats(kInSpi)->packets, 1u);
}

TEST_F(Natt, TheUdpHeaderMustFit) {
    add_ue_sas();
    add_ours(Direction::inbound, 0);
    auto lie = from_ue(ue_plain());
    put16(lie, 24, uint16_t(be16_at(lie, 24) + 4));  // UDP length past the IP datagram
    EXPECT_EQ(run1(Direction::inbound, lie).reason, DropReason::bad_ip_header);
    put16(lie, 24, uint16_t(be16_at(lie, 24) - 8));  // and short of it
    EXPECT_EQ(run1(Direction::inbound, lie).reason, DropReason::bad_ip_header);
    auto cut = make_packet({kPublic, kPcscf, kNatPort, kNatTPort}, 0);
    cut.resize(24);  // half a UDP header
    put16(cut, 2, 24);
    fix_checksum(cut);
    EXPECT_EQ(run1(Direction::inbound, cut).reason, DropReason::too_short);
    const uint8_t few[6] = {1, 2, 3, 4, 5, 6};  // an SPI but no room for the rest of ESP
    EXPECT_EQ(run1(Direction::inbound, udp_to_4500(few)).reason, DropReason::too_short);
    EXPECT_EQ(run1(Direction::inbound, make_packet({kPublic, kPcscf, kNatPort, 4501}, 40)).reason, DropReason::not_esp);
    EXPECT_EQ(engine->inbound_stats(kInSpi)->packets, 0u);
}

TEST_F(Natt, ApplyRefusesUdpEncTunOutsideIpv4AndNatDataOnTransportSas) {
    const auto v6 = *IpAddr::parse("2001:db8::10");
    SaRecord r = ours(SaOp::add, Direction::inbound, 0);
    r.sa.ue_addr = v6;
    EXPECT_EQ(engine->apply(r), -EINVAL);
    r = ours(SaOp::add, Direction::inbound, 0);
    r.sa.ue_inner = v6;
    EXPECT_EQ(engine->apply(r), -EINVAL);
    r = ours(SaOp::add, Direction::outbound, 4500);
    r.sa.ue_inner = IpAddr{};
    EXPECT_EQ(engine->apply(r), -EINVAL) << "no inner address";
    r = ours(SaOp::add, Direction::outbound, 4500);
    r.sa.pcscf_addr = *IpAddr::parse("2001:db8::1");
    EXPECT_EQ(engine->apply(r), -EINVAL);
    r = record(SaOp::add, spec(Direction::inbound, kInSpi));
    r.sa.encap_port = 4500;
    EXPECT_EQ(engine->apply(r), -EINVAL) << "a transport SA with a NAT port";
    r.sa.encap_port = 0;
    r.sa.ue_inner = kInner;
    EXPECT_EQ(engine->apply(r), -EINVAL) << "a transport SA with an inner address";
    r.sa.mode = Mode(7);
    r.sa.ue_inner = IpAddr{};
    EXPECT_EQ(engine->apply(r), -EINVAL);
    EXPECT_EQ(engine->inbound_sas().count(), 0u);
    EXPECT_EQ(engine->outbound_sas().count(), 0u);
    add_ours(Direction::inbound, 0);
    SaRecord u = ours(SaOp::update, Direction::inbound, 0);
    u.sa.ue_inner = v6;
    EXPECT_EQ(engine->apply(u), -EINVAL);
}

// ---- scapy's NAT-T ESP, an implementation independent of ours ----

const std::vector<Vector>& natt_vectors() {
    static const auto v = read_vectors(PCSCF_VECTOR_DIR "/scapy_natt.txt");
    return v;
}
std::vector<size_t> natt_indices(const std::string& dir) { return indices_where(natt_vectors(), "dir", dir); }
std::string natt_name(const ::testing::TestParamInfo<size_t>& info) { return test_name_of(natt_vectors()[info.param]); }

class ScapyNatt : public EngineTest, public ::testing::WithParamInterface<size_t> {
protected:
    SaRecord record_of(const Vector& v) {
        SaSpec s;
        s.dir = v.at("dir") == "in" ? Direction::inbound : Direction::outbound;
        s.alg = *parse_alg(v.at("alg"));
        if (v.contains("key")) s.key = from_hex(v.at("key"));
        if (v.contains("ealg")) {
            s.ealg = *parse_ealg(v.at("ealg"));
            s.cipher_key = from_hex(v.at("ckey"));
        }
        s.spi = uint32_t(std::stoul(v.at("spi")));
        s.ue = *IpAddr::parse(v.at("ue"));
        s.pcscf = *IpAddr::parse(v.at("pcscf"));
        s.ue_port = uint16_t(std::stoul(v.at("ue_port")));
        s.pcscf_port = uint16_t(std::stoul(v.at("pcscf_port")));
        SaRecord r = record(SaOp::add, s);
        r.sa.mode = Mode::udp_enc_tun;
        r.sa.ue_inner = *IpAddr::parse(v.at("ue_inner"));
        r.sa.encap_port = s.dir == Direction::outbound ? uint16_t(std::stoul(v.at("encap_port"))) : 0;
        return r;
    }
};

TEST(ScapyNattFile, HoldsEveryPairInBothDirectionsWhereTheIvAllows) {
    std::map<std::string, size_t> n;
    for (const Vector& v : natt_vectors())
        ++n[v.at("dir") + " " + v.at("alg") + " " + (v.contains("ealg") ? v.at("ealg") : "null")];
    for (const char* alg : {"hmac-sha-1-96 null", "hmac-md5-96 null", "null aes-gcm"}) {
        EXPECT_EQ(n[std::string("in ") + alg], 12u) << alg;  // UDP/TCP x 6 sizes
        EXPECT_EQ(n[std::string("out ") + alg], 12u) << alg;
    }
    EXPECT_EQ(n["in hmac-sha-1-96 aes-cbc"], 12u);
    EXPECT_EQ(natt_vectors().size(), 84u);
}

class ScapyNattIn : public ScapyNatt {};
class ScapyNattOut : public ScapyNatt {};

TEST_P(ScapyNattIn, OpensScapysPacketAndLearnsThePort) {
    const Vector& v = natt_vectors().at(GetParam());
    const SaRecord rec = record_of(v);
    ASSERT_EQ(engine->apply(rec), 0);
    const Result r = run1(Direction::inbound, from_hex(v.at("esp")));
    ASSERT_TRUE(r.ok) << name(r.reason);
    EXPECT_EQ(to_hex(r.bytes), v.at("plain"));
    bool reported = false;
    for (const SaEvent& e : engine->events())
        if (e.kind == EventKind::encap_port) reported = e.encap_port == std::stoul(v.at("encap_port"));
    EXPECT_TRUE(reported);
}

TEST_P(ScapyNattOut, ProducesScapysBytes) {
    const Vector& v = natt_vectors().at(GetParam());
    ASSERT_EQ(engine->apply(record_of(v)), 0);
    const Result r = run1(Direction::outbound, from_hex(v.at("plain")));
    ASSERT_TRUE(r.ok) << name(r.reason);
    EXPECT_EQ(to_hex(r.bytes), v.at("esp"));
}

INSTANTIATE_TEST_SUITE_P(Vectors, ScapyNattIn, ::testing::ValuesIn(natt_indices("in")), natt_name);
INSTANTIATE_TEST_SUITE_P(Vectors, ScapyNattOut, ::testing::ValuesIn(natt_indices("out")), natt_name);

}  // namespace
}  // namespace pcscf::test
