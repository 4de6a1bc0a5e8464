// The ideal ESP loops of engine_benchmark (bench/ideal_esp.hpp) do the real work: on the
// benchmark's own packets the inbound loop leaves byte for byte what Engine::inbound()
// leaves and the outbound loop what Engine::outbound() sends for the same sequence
// numbers (AES-CBC, whose IVs are random: what OpenSSL decrypts and verifies to the same
// packet); each inbound check refuses the one packet made to fail it (resealed with a
// good ICV where the check would otherwise hide behind the ICV).
#include "bench/ideal_esp.hpp"

#include <gtest/gtest.h>
#include <rte_byteorder.h>
#include <rte_ip.h>

#include <array>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "bench/engine_workload.hpp"
#include "bench/hmac_burst.hpp"
#include "tests/esp/cbc_reference.hpp"

namespace pcscf::bench {
namespace {

using namespace pcscf::esp;

constexpr size_t kBurst = IdealEsp::kMaxBurst;
constexpr uint32_t kPackets = 64;

// A packet as its mbuf holds it.
struct Packet {
    uint16_t data_off;
    uint32_t pkt_len;
    std::vector<uint8_t> bytes;
    bool operator==(const Packet&) const = default;
};
Packet snapshot(const rte_mbuf* m) {
    const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
    return {m->data_off, m->pkt_len, {p, p + m->data_len}};
}
std::vector<Packet> snapshot(const std::vector<Template>& ring) {
    std::vector<Packet> v;
    for (const Template& t : ring) v.push_back(snapshot(t.m));
    return v;
}

// The ring put back as received; its mbufs in ring order.
std::vector<rte_mbuf*> receive(std::vector<Template>& ring) {
    std::vector<rte_mbuf*> mbufs(ring.size());
    EngineWorkload::receive(ring, mbufs.data());
    return mbufs;
}

// The outbound ring as received, packet k cut short by k % 4 bytes (the workload's
// lengths need no padding, these need 0 to 3 bytes), nothing after the packets.
std::vector<rte_mbuf*> receive_uneven(std::vector<Template>& ring) {
    std::vector<rte_mbuf*> mbufs = receive(ring);
    for (size_t k = 0; k < mbufs.size(); ++k) {
        auto* ip = rte_pktmbuf_mtod(mbufs[k], rte_ipv4_hdr*);
        const auto cut = uint16_t(k % 4);
        ip->total_length = rte_cpu_to_be_16(uint16_t(rte_be_to_cpu_16(ip->total_length) - cut));
        ip->hdr_checksum = 0;
        ip->hdr_checksum = rte_ipv4_cksum(ip);
        rte_pktmbuf_trim(mbufs[k], cut);
        // What a previous pass left after the packet (trailer, ICV) goes: none of it may
        // stand in for what the next pass must write.
        std::memset(rte_pktmbuf_mtod_offset(mbufs[k], uint8_t*, mbufs[k]->data_len), 0xee,
                    rte_pktmbuf_tailroom(mbufs[k]));
    }
    return mbufs;
}

// The engine's own pass over the ring; returns how many passed.
size_t engine_pass(EngineWorkload& w, Direction dir) {
    const bool in = dir == Direction::inbound;
    std::vector<rte_mbuf*> mbufs = in ? receive(w.inbound()) : receive_uneven(w.outbound());
    std::vector<net::DropReason> why(mbufs.size());
    return in ? w.engine().inbound(mbufs, why) : w.engine().outbound(mbufs, why);
}
// Engine::outbound() of `mbufs` (a copy: the engine reorders what it is given).
size_t engine_pass_of(EngineWorkload& w, std::vector<rte_mbuf*> mbufs) {
    std::vector<net::DropReason> why(mbufs.size());
    return w.engine().outbound(mbufs, why);
}

// The ideal loop over `mbufs` a burst at a time; which packets passed.
std::vector<bool> ideal_inbound(IdealEsp& ideal, IdealInboundSa& sa, const std::vector<rte_mbuf*>& mbufs) {
    std::vector<bool> passed;
    bool ok[kBurst];
    for (size_t pos = 0; pos < mbufs.size(); pos += kBurst) {
        const size_t n = std::min(kBurst, mbufs.size() - pos);
        const uint32_t good = ideal.inbound(sa, {&mbufs[pos], n}, ok);
        EXPECT_EQ(good, std::count(ok, ok + n, true));
        passed.insert(passed.end(), ok, ok + n);
    }
    return passed;
}

// An HMAC without a cipher or with AES-CBC, or AES-GCM / AES-GMAC, at a packet size.
class IdealLoop : public ::testing::TestWithParam<std::tuple<Alg, Ealg, uint32_t>> {
protected:
    IdealLoop()
        : w_(std::get<0>(GetParam()), std::get<2>(GetParam()), 1, kPackets, false, std::get<1>(GetParam())),
          ideal_(w_.engine().imb()) {}
    const AeadKey* aead() const { return is_aead(w_.transform()) ? &w_.aead_key(0) : nullptr; }
    const CipherKeys* cbc() const { return w_.transform() == Transform::cbc_hmac ? &w_.cipher_keys(0) : nullptr; }
    // OpenSSL's verdict on an outbound AES-CBC packet of SA 0 (tests/esp/cbc_reference.hpp).
    test::Opened open(const Packet& p) const {
        const SaRecord r = w_.outbound_record(0);
        const std::span<const uint8_t> ik = w_.raw_key(0);
        return test::open_cbc(p.bytes, r.sa.alg, {ik.begin(), ik.end()}, r.sa.ealg,
                              {r.cipher.bytes.begin(), r.cipher.bytes.begin() + r.cipher.len});
    }

    EngineWorkload w_;
    IdealEsp ideal_;
};

TEST_P(IdealLoop, InboundLeavesWhatTheEngineLeaves) {
    ASSERT_EQ(engine_pass(w_, Direction::inbound), kPackets);
    const std::vector<Packet> engine = snapshot(w_.inbound());
    // Sealed again (the next sequence numbers; GCM's ciphertext, which the engine
    // decrypted in place, back), as received.
    ASSERT_TRUE(w_.next_inbound_pass());
    std::vector<rte_mbuf*> mbufs = receive(w_.inbound());
    ASSERT_NE(snapshot(w_.inbound()), engine) << "put back as received, not as the engine left them";
    IdealInboundSa sa = IdealInboundSa::of(w_.inbound_record(0), aead(), cbc());
    const std::vector<bool> passed = ideal_inbound(ideal_, sa, mbufs);
    EXPECT_EQ(std::count(passed.begin(), passed.end(), true), kPackets);
    const std::vector<Packet> ideal = snapshot(w_.inbound());
    for (size_t k = 0; k < kPackets; ++k) EXPECT_EQ(ideal[k], engine[k]) << "packet " << k;
    // The window slid: the same packets again are replays.
    mbufs = receive(w_.inbound());
    const std::vector<bool> again = ideal_inbound(ideal_, sa, mbufs);
    EXPECT_EQ(std::count(again.begin(), again.end(), true), 0);
}

TEST_P(IdealLoop, OutboundSendsWhatTheEngineSends) {
    // The same plain packets for both: GCM encrypts the payload in place, which receiving
    // the ring again (its headers only) would not undo.
    std::vector<rte_mbuf*> mbufs = receive_uneven(w_.outbound());
    std::vector<Packet> plain;
    for (const rte_mbuf* m : mbufs) plain.push_back(snapshot(m));
    ASSERT_EQ(engine_pass_of(w_, mbufs), kPackets);  // sequence numbers 1, 2, ..., every padding
    const std::vector<Packet> engine = snapshot(w_.outbound());
    mbufs = receive_uneven(w_.outbound());
    for (size_t k = 0; k < kPackets; ++k) {
        ASSERT_EQ(snapshot(mbufs[k]).data_off, plain[k].data_off);
        std::memcpy(rte_pktmbuf_mtod(mbufs[k], uint8_t*), plain[k].bytes.data(), plain[k].bytes.size());
    }
    IdealOutboundSa sa = IdealOutboundSa::of(w_.outbound_record(0), aead(), cbc());
    bool ok[kBurst];
    for (size_t pos = 0; pos < kPackets; pos += kBurst)
        ASSERT_EQ(ideal_.outbound(sa, {&mbufs[pos], kBurst}, ok), kBurst);
    EXPECT_EQ(sa.seq, kPackets);
    const std::vector<Packet> ideal = snapshot(w_.outbound());
    if (cbc() == nullptr) {
        for (size_t k = 0; k < kPackets; ++k) EXPECT_EQ(ideal[k], engine[k]) << "packet " << k;
        return;
    }
    // AES-CBC: each IV its own (RFC 3602 2.3); the same length and place as the engine's
    // packet, and OpenSSL gets from both the packet that went in, under the same number.
    std::set<std::vector<uint8_t>> ivs;
    for (size_t k = 0; k < kPackets; ++k) {
        SCOPED_TRACE(testing::Message() << "packet " << k);
        EXPECT_EQ(ideal[k].data_off, engine[k].data_off);
        EXPECT_EQ(ideal[k].pkt_len, engine[k].pkt_len);
        const test::Opened mine = open(ideal[k]), theirs = open(engine[k]);
        ASSERT_EQ(mine.error, "");
        ASSERT_EQ(theirs.error, "");
        EXPECT_EQ(mine.plain, plain[k].bytes);
        EXPECT_EQ(theirs.plain, plain[k].bytes);
        EXPECT_EQ(mine.seq, k + 1);
        EXPECT_EQ(mine.spi, theirs.spi);
        ivs.insert(mine.iv);
    }
    EXPECT_EQ(ivs.size(), kPackets);
}

INSTANTIATE_TEST_SUITE_P(Hmacs, IdealLoop,
                         ::testing::Combine(::testing::Values(Alg::hmac_sha1_96, Alg::hmac_md5_96,
                                                              Alg::hmac_sha256_128),
                                            ::testing::Values(Ealg::null), ::testing::Values(64u, 512u, 1400u)));
INSTANTIATE_TEST_SUITE_P(AesCbc, IdealLoop,
                         ::testing::Combine(::testing::Values(Alg::hmac_sha1_96, Alg::hmac_md5_96,
                                                              Alg::hmac_sha256_128),
                                            ::testing::Values(Ealg::aes_cbc), ::testing::Values(72u, 504u, 1400u)));
INSTANTIATE_TEST_SUITE_P(
    Aeads, IdealLoop,
    ::testing::Values(std::tuple{Alg::null, Ealg::aes_gcm, 72u}, std::tuple{Alg::null, Ealg::aes_gcm, 504u},
                      std::tuple{Alg::null, Ealg::aes_gcm, 1400u}, std::tuple{Alg::aes_gmac, Ealg::null, 72u},
                      std::tuple{Alg::aes_gmac, Ealg::null, 504u}, std::tuple{Alg::aes_gmac, Ealg::null, 1400u}));

// AES-GCM, AES-GMAC and AES-CBC: a changed byte of the ciphertext (GCM, CBC) or payload
// (GMAC), or of the tag, and only that packet is refused.
TEST(IdealCipheredInbound, RefusesAChangedPayloadOrTagOnly) {
    for (const auto& [alg, ealg] : {std::pair{Alg::null, Ealg::aes_gcm}, std::pair{Alg::aes_gmac, Ealg::null},
                                    std::pair{Alg::hmac_sha1_96, Ealg::aes_cbc}}) {
        EngineWorkload w(alg, 504, 1, kPackets, false, ealg);
        IdealEsp ideal(w.engine().imb());
        const bool cbc = ealg == Ealg::aes_cbc;
        IdealInboundSa sa =
            IdealInboundSa::of(w.inbound_record(0), cbc ? nullptr : &w.aead_key(0), cbc ? &w.cipher_keys(0) : nullptr);
        const std::vector<rte_mbuf*> mbufs = receive(w.inbound());
        constexpr size_t kPayload = 5, kTag = 37;
        rte_pktmbuf_mtod(mbufs[kPayload], uint8_t*)[20 + 16 + 30] ^= 0x01;
        rte_pktmbuf_mtod_offset(mbufs[kTag], uint8_t*, mbufs[kTag]->data_len - 1)[0] ^= 0x80;
        const std::vector<bool> passed = ideal_inbound(ideal, sa, mbufs);
        for (size_t k = 0; k < kPackets; ++k)
            EXPECT_EQ(passed[k], k != kPayload && k != kTag) << name(ealg) << " packet " << k;
    }
}

// One inbound packet spoilt in one way; the ideal loop must refuse it and only it.
struct Spoil {
    std::string name;
    std::function<void(uint8_t* ip, uint32_t total)> edit;
    bool reseal;  // a new ICV over the edited bytes, so only the check under test can refuse it
};

class IdealInboundRefuses : public ::testing::TestWithParam<Spoil> {};

TEST_P(IdealInboundRefuses, TheSpoiltPacketOnly) {
    EngineWorkload w(Alg::hmac_sha1_96, 512, 1, kPackets);
    IdealEsp ideal(w.engine().imb());
    IdealInboundSa sa = IdealInboundSa::of(w.inbound_record(0));
    const std::vector<rte_mbuf*> mbufs = receive(w.inbound());
    constexpr size_t kSpoilt = 37;
    uint8_t* ip = rte_pktmbuf_mtod(mbufs[kSpoilt], uint8_t*);
    const uint32_t total = uint32_t(ip[2] << 8 | ip[3]);
    GetParam().edit(ip, total);
    if (GetParam().reseal) {
        IMB_JOB jobs[1] = {};
        const HmacWork work{ip + 20, total - 20 - kIcvLen, ip + total - kIcvLen, &w.key(0)};
        hmac_burst(w.engine().imb(), Alg::hmac_sha1_96, 1, jobs, [&](size_t) { return work; });
    }
    const std::vector<bool> passed = ideal_inbound(ideal, sa, mbufs);
    for (size_t k = 0; k < kPackets; ++k) EXPECT_EQ(passed[k], k != kSpoilt) << "packet " << k;
}

INSTANTIATE_TEST_SUITE_P(
    Checks, IdealInboundRefuses,
    ::testing::Values(Spoil{"icv", [](uint8_t* ip, uint32_t total) { ip[total - 5] ^= 0x10; }, false},
                      Spoil{"spi", [](uint8_t* ip, uint32_t) { ip[23] ^= 1; }, true},
                      Spoil{"seq_0", [](uint8_t* ip, uint32_t) { std::memset(ip + 24, 0, 4); }, true},
                      Spoil{"padding",
                            [](uint8_t* ip, uint32_t total) {
                                ip[total - kIcvLen - 2] = 1;  // one pad byte, which must be 1
                                ip[total - kIcvLen - 3] = 7;
                            },
                            true},
                      Spoil{"dummy", [](uint8_t* ip, uint32_t total) { ip[total - kIcvLen - 1] = 59; }, true},
                      Spoil{"pad_too_long", [](uint8_t* ip, uint32_t total) { ip[total - kIcvLen - 2] = 255; }, true},
                      Spoil{"source", [](uint8_t* ip, uint32_t) { ip[15] ^= 1; }, false},
                      Spoil{"not_esp", [](uint8_t* ip, uint32_t) { ip[9] = 17; }, false},
                      Spoil{"options", [](uint8_t* ip, uint32_t) { ip[0] = 0x46; }, false},
                      Spoil{"fragment", [](uint8_t* ip, uint32_t) { ip[6] |= 0x20; }, false},
                      Spoil{"length", [](uint8_t* ip, uint32_t) { ip[2] = 0x40; }, false}),
    [](const ::testing::TestParamInfo<Spoil>& i) { return i.param.name; });

// Its padding check passes good padding: the same edit with pad byte 1 is accepted.
TEST(IdealInbound, AcceptsGoodPadding) {
    EngineWorkload w(Alg::hmac_sha1_96, 512, 1, kBurst);
    IdealEsp ideal(w.engine().imb());
    IdealInboundSa sa = IdealInboundSa::of(w.inbound_record(0));
    const std::vector<rte_mbuf*> mbufs = receive(w.inbound());
    uint8_t* ip = rte_pktmbuf_mtod(mbufs[3], uint8_t*);
    const uint32_t total = uint32_t(ip[2] << 8 | ip[3]);
    ip[total - kIcvLen - 2] = 1;
    ip[total - kIcvLen - 3] = 1;
    IMB_JOB jobs[1] = {};
    const HmacWork work{ip + 20, total - 20 - kIcvLen, ip + total - kIcvLen, &w.key(0)};
    hmac_burst(w.engine().imb(), Alg::hmac_sha1_96, 1, jobs, [&](size_t) { return work; });
    bool ok[kBurst];
    ASSERT_EQ(ideal.inbound(sa, mbufs, ok), kBurst);
    EXPECT_EQ(mbufs[3]->data_len, total - 8 - 2 - 1 - kIcvLen);
}

// Outbound, a packet to another UE than the SA's is refused and only it; a packet with
// L2 padding after the datagram is sealed as the engine seals it (the padding dropped).
TEST(IdealOutbound, RefusesAnotherUeAndDropsL2Padding) {
    EngineWorkload w(Alg::hmac_md5_96, 512, 1, kBurst);
    IdealEsp ideal(w.engine().imb());
    std::vector<rte_mbuf*> mbufs = receive_uneven(w.outbound());
    rte_pktmbuf_append(mbufs[9], 6);  // six bytes of L2 padding
    ASSERT_EQ(engine_pass_of(w, mbufs), kBurst);
    const Packet engine = snapshot(mbufs[9]);
    mbufs = receive_uneven(w.outbound());
    rte_pktmbuf_append(mbufs[9], 6);
    rte_pktmbuf_mtod(mbufs[20], uint8_t*)[19] ^= 1;  // the destination's last byte
    IdealOutboundSa sa = IdealOutboundSa::of(w.outbound_record(0));
    bool ok[kBurst];
    EXPECT_EQ(ideal.outbound(sa, mbufs, ok), kBurst - 1);
    for (size_t k = 0; k < kBurst; ++k) EXPECT_EQ(ok[k], k != 20) << "packet " << k;
    EXPECT_EQ(snapshot(mbufs[9]), engine);
}

}  // namespace
}  // namespace pcscf::bench
