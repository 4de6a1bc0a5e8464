// A worker on a VLAN access link (WorkerRig, --access-vlan): the tag comes off what the
// UEs send, by the port or in the frame, before anything else looks at it; frames of
// another VLAN, or none, are dropped as wrong_vlan; everything to the UEs (plain, ESP,
// fragments) leaves tagged, by the port or in the frame. Without a VLAN nothing changes.
#include "tests/common/packet_builder.hpp"
#include "tests/service/worker_rig.hpp"

namespace pcscf::dp {
namespace {

using net::DropReason;

constexpr uint16_t kVlan = 100;

// `frame` with an 802.1Q tag after its MAC addresses.
std::vector<uint8_t> tagged(std::vector<uint8_t> frame, uint16_t tci) {
    const uint8_t tag[4] = {0x81, 0x00, uint8_t(tci >> 8), uint8_t(tci)};
    frame.insert(frame.begin() + 12, tag, tag + 4);
    return frame;
}

uint16_t be16(const std::vector<uint8_t>& b, size_t at) { return uint16_t(b[at] << 8 | b[at + 1]); }

class WorkerVlan : public WorkerRig {
protected:
    void make(AccessVlan vlan) {
        make_worker(0, {}, vlan);
        local_.add(p4);
    }
    uint64_t drops(DropReason r) const { return worker_->stats().drops[r]; }

    std::vector<uint8_t> esp_from_ue() const {  // to an SPI no SA has: the engine counts it
        auto ip = test::make_packet({ue4, p4, 0, 0}, 24);
        ip[9] = 50;
        test::fix_ipv4_checksum(ip);
        return test::with_ethernet(ip);
    }

    const net::IpAddr ue4 = *net::IpAddr::parse("192.0.2.10"), p4 = *net::IpAddr::parse("198.51.100.1");
    const std::vector<uint8_t> plain = test::with_ethernet(test::make_packet({ue4, p4, 40000, 5060}, 100));
    const std::vector<uint8_t> plain_out = test::with_ethernet(test::make_packet({p4, ue4, 5060, 40000}, 100));
};

TEST_F(WorkerVlan, ATaggedFrameLosesItsTagInSoftwareBeforeTheKernelSeesIt) {
    make({kVlan, false, false});
    receive(access, tagged(plain, 0x2000 | kVlan));  // priority 1: only the VLAN ID counts
    polls(2);
    const auto to_kernel = sent(tap);
    ASSERT_EQ(to_kernel.size(), 1u);
    EXPECT_EQ(to_kernel[0], plain);
    EXPECT_EQ(worker_->stats().exception_in, 1u);
    EXPECT_EQ(worker_->stats().drops.total(), 0u);
}

TEST_F(WorkerVlan, ATagThePortStrippedIsReadFromTheMbuf) {
    make({kVlan, true, false});
    for (uint16_t vid : {kVlan, uint16_t(200)}) {
        rte_mbuf* m = mbuf_of(plain);
        ASSERT_NE(m, nullptr);
        m->ol_flags |= RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED;
        m->vlan_tci = vid;
        receive(access, m);
    }
    // A port asked to strip that still hands a tagged frame over: stripped here.
    receive(access, tagged(plain, kVlan));
    polls(2);
    const auto to_kernel = sent(tap);
    ASSERT_EQ(to_kernel.size(), 2u);
    EXPECT_EQ(to_kernel[0], plain);
    EXPECT_EQ(to_kernel[1], plain);
    EXPECT_EQ(drops(DropReason::wrong_vlan), 1u) << "VLAN 200, stripped by the port";
}

TEST_F(WorkerVlan, AnotherVlanOrNoneIsDroppedAsWrongVlan) {
    make({kVlan, false, false});
    receive(access, tagged(plain, 200));
    receive(access, plain);
    receive(access, tagged(esp_from_ue(), 200));
    receive(access, esp_from_ue());
    const auto cut = tagged(plain, kVlan);
    receive(access, std::vector<uint8_t>(cut.begin(), cut.begin() + 16));  // the tag cut short
    polls(2);
    EXPECT_TRUE(sent(tap).empty());
    EXPECT_EQ(drops(DropReason::wrong_vlan), 5u);
    EXPECT_EQ(worker_->stats().drops.total(), 5u);
    EXPECT_EQ(worker_->engine().drops()[DropReason::unknown_spi], 0u) << "ESP never reached the engine";
}

TEST_F(WorkerVlan, TaggedEspIsSortedAsEspOnceUntagged) {
    make({kVlan, false, false});
    receive(access, tagged(esp_from_ue(), kVlan));
    polls(2);
    EXPECT_EQ(worker_->engine().drops()[DropReason::unknown_spi], 1u);
    EXPECT_EQ(drops(DropReason::wrong_vlan), 0u);
}

// Plain frames, ESP and the fragments of ESP over the access MTU: each leaves with the tag
// in its bytes, inserted after fragmentation (each fragment fits the MTU untagged).
TEST_F(WorkerVlan, EverythingToTheUesIsTaggedInSoftware) {
    make({kVlan, false, false});
    preload_outbound(ue4, 40000, p4, 5101);
    receive(tap, plain_out);
    receive(tap, test::with_ethernet(test::make_packet({p4, ue4, 5101, 40000}, 100)));
    receive(tap, test::with_ethernet(test::make_packet({p4, ue4, 5101, 40000}, 1600)));
    polls(2);
    const auto out = sent_frames(access);
    ASSERT_EQ(out.size(), 4u) << "plain, ESP, ESP in two fragments";
    EXPECT_EQ(out[0].bytes, tagged(plain_out, kVlan));
    for (const auto& f : out) {
        ASSERT_GT(f.bytes.size(), 18u + 20u);
        EXPECT_EQ(be16(f.bytes, 12), 0x8100);
        EXPECT_EQ(be16(f.bytes, 14), kVlan);
        EXPECT_EQ(be16(f.bytes, 16), 0x0800);
        EXPECT_LE(be16(f.bytes, 18 + 2), cfg_.access_mtu) << "the IP packet fits the MTU";
        EXPECT_EQ(f.ol_flags & RTE_MBUF_F_TX_VLAN, 0u);
    }
    for (size_t i = 1; i < out.size(); ++i) EXPECT_EQ(out[i].bytes[18 + 9], 50) << "ESP";
    EXPECT_EQ(worker_->stats().fragmented, 1u);
    EXPECT_EQ(worker_->stats().esp_out, 2u);
    EXPECT_EQ(worker_->stats().exception_out, 1u);
    EXPECT_EQ(worker_->stats().drops.total(), 0u);
}

TEST_F(WorkerVlan, APortThatInsertsGetsTheTagInTheMbuf) {
    make({kVlan, true, true});
    preload_outbound(ue4, 40000, p4, 5101);
    receive(tap, plain_out);
    receive(tap, test::with_ethernet(test::make_packet({p4, ue4, 5101, 40000}, 100)));
    polls(2);
    const auto out = sent_frames(access);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].bytes, plain_out) << "the port inserts the tag, not the worker";
    for (const auto& f : out) {
        EXPECT_NE(f.ol_flags & RTE_MBUF_F_TX_VLAN, 0u);
        EXPECT_EQ(f.vlan_tci, kVlan);
        EXPECT_EQ(be16(f.bytes, 12), 0x0800);
    }
}

TEST_F(WorkerVlan, AFrameWithoutRoomForTheTagIsDroppedAndCounted) {
    make({kVlan, false, false});
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    ASSERT_NE(m, nullptr);
    m->data_off = 0;  // no headroom
    ASSERT_NE(rte_pktmbuf_append(m, uint16_t(plain_out.size())), nullptr);
    std::memcpy(rte_pktmbuf_mtod(m, void*), plain_out.data(), plain_out.size());
    receive(tap, m);
    polls(2);
    EXPECT_TRUE(sent(access).empty());
    EXPECT_EQ(drops(DropReason::vlan_insert_failed), 1u);
    EXPECT_EQ(worker_->stats().exception_out, 0u);
}

// Without --access-vlan frames pass as they are, tagged or not, and leave untagged.
TEST_F(WorkerVlan, WithoutAnAccessVlanFramesAreLeftAsTheyAre) {
    make({});
    const auto tagged_in = tagged(plain, kVlan);
    receive(access, tagged_in);
    receive(access, plain);
    receive(tap, plain_out);
    polls(2);
    const auto to_kernel = sent(tap);
    ASSERT_EQ(to_kernel.size(), 2u);
    EXPECT_EQ(to_kernel[0], tagged_in);
    EXPECT_EQ(to_kernel[1], plain);
    const auto out = sent_frames(access);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].bytes, plain_out);
    EXPECT_EQ(out[0].ol_flags & RTE_MBUF_F_TX_VLAN, 0u);
    EXPECT_EQ(drops(DropReason::wrong_vlan), 0u);
}

}  // namespace
}  // namespace pcscf::dp
