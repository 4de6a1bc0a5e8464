// What a worker does with plain frames (WorkerRig): what reaches the other port, and
// that each frame is counted once, under what happened to it.
#include <atomic>

#include "tests/common/packet_builder.hpp"
#include "tests/service/worker_rig.hpp"

namespace pcscf::dp {
namespace {

using net::DropReason;

class WorkerFrames : public WorkerRig {
protected:
    void SetUp() override { make_worker(0); }
    uint64_t drops(DropReason r) const { return worker_->stats().drops[r]; }

    const net::IpAddr ue4 = *net::IpAddr::parse("192.0.2.10"), p4 = *net::IpAddr::parse("198.51.100.1");
    const net::IpAddr ue6 = *net::IpAddr::parse("2001:db8::10"), p6 = *net::IpAddr::parse("2001:db8::1");
};

TEST_F(WorkerFrames, APlainPacketThatFitsIsPassedAndCountedOnce) {
    receive(access, test::with_ethernet(test::make_packet({ue4, p4, 40000, 5060}, 100)));
    polls(2);
    EXPECT_EQ(sent(tap).size(), 1u);
    EXPECT_EQ(worker_->stats().exception_in, 1u);
    EXPECT_EQ(worker_->stats().drops.total(), 0u);
}

// Over the tap's MTU and not splittable (IPv6 with an extension header): dropped as
// unsplittable, not counted as passed, not as a shortage of buffers.
TEST_F(WorkerFrames, APacketTooBigToSplitIsCountedOnlyAsUnsplittable) {
    auto ip = test::make_packet({ue6, p6, 40000, 5060}, cfg_.tap_mtu - 40 - 8);  // fits without the option
    const uint8_t dest_options[8] = {17, 0, 1, 4, 0, 0, 0, 0};                   // next UDP, PadN
    ip.insert(ip.begin() + 40, dest_options, dest_options + 8);
    ip[6] = 60;
    const uint32_t payload = uint32_t(ip.size()) - 40;
    ip[4] = uint8_t(payload >> 8);
    ip[5] = uint8_t(payload);
    ASSERT_GT(ip.size(), cfg_.tap_mtu);
    receive(access, test::with_ethernet(ip));
    polls(2);
    EXPECT_TRUE(sent(tap).empty());
    EXPECT_EQ(drops(DropReason::unsplittable), 1u);
    EXPECT_EQ(drops(DropReason::fragmentation_failed), 0u);
    EXPECT_EQ(worker_->stats().exception_in, 0u);
}

// A fragment of a protocol the datapath does not reassemble goes on as it is: the kernel
// reassembles it, telling datagrams apart by protocol as well.
TEST_F(WorkerFrames, AFragmentOfAnotherProtocolPassesAsItIs) {
    auto ip = test::make_packet({ue4, p4, 0, 0}, 64);
    ip[9] = 1;     // ICMP
    ip[6] = 0x20;  // more fragments
    test::fix_ipv4_checksum(ip);
    const auto frame = test::with_ethernet(ip);
    receive(access, frame);
    receive(tap, frame);
    polls(2);
    const auto to_kernel = sent(tap), to_ue = sent(access);
    ASSERT_EQ(to_kernel.size(), 1u);
    EXPECT_EQ(to_kernel[0], frame);
    ASSERT_EQ(to_ue.size(), 1u);
    EXPECT_EQ(to_ue[0], frame);
    EXPECT_EQ(worker_->stats().reassembled, 0u);
    EXPECT_EQ(worker_->stats().exception_in, 1u);
    EXPECT_EQ(worker_->stats().exception_out, 1u);
    EXPECT_EQ(worker_->stats().drops.total(), 0u);
}

// UDP to port 4500 is the engine's (RFC 3948): never the kernel's, whatever it holds.
TEST_F(WorkerFrames, UdpToPort4500GoesToTheEngineNeverToTheKernel) {
    local_.add(p4);
    local_.add(p6);
    const uint8_t ff[1] = {0xff}, ike[8] = {0, 0, 0, 0, 1, 2, 3, 4};
    const uint8_t esp[24] = {0, 0, 0x10, 0x02, 0, 0, 0, 1};  // an SPI of this worker's that no SA has
    for (std::span<const uint8_t> payload : {std::span<const uint8_t>(ff), std::span<const uint8_t>(ike),
                                             std::span<const uint8_t>(esp), std::span<const uint8_t>()})
        receive(access, test::with_ethernet(test::make_packet({ue4, p4, 31000, 4500}, payload)));
    receive(access, test::with_ethernet(test::make_packet({ue6, p6, 31000, 4500}, 16)));  // IPv6: no NAT-T
    polls(2);
    EXPECT_TRUE(sent(tap).empty());
    EXPECT_EQ(worker_->stats().exception_in, 0u);
    const auto& d = worker_->engine().drops();
    EXPECT_EQ(d[DropReason::natt_keepalive], 1u);
    EXPECT_EQ(d[DropReason::natt_non_esp], 1u);
    EXPECT_EQ(d[DropReason::unknown_spi], 1u);
    EXPECT_EQ(d[DropReason::too_short], 1u);
    EXPECT_EQ(d[DropReason::not_esp], 1u);
    EXPECT_EQ(drops(DropReason::too_short), 0u);
}

// A standby's worker holds its SAs but takes no part: ESP is dropped both ways, counted
// as `standby`, until the node serves; plain packets (ARP, VRRP's gratuitous ARP) pass.
TEST_F(WorkerFrames, AStandbyDropsEspBothWaysUntilItServes) {
    local_.add(p4);
    preload_outbound(ue4, 40000, p4, 5101);
    const auto to_ue = test::with_ethernet(test::make_packet({p4, ue4, 5101, 40000}, 100));
    auto esp_in = test::make_packet({ue4, p4, 0, 0}, 24);
    esp_in[9] = 50;  // ESP, to an SPI no SA has
    test::fix_ipv4_checksum(esp_in);
    const auto from_ue = test::with_ethernet(esp_in);
    const auto plain = test::with_ethernet(test::make_packet({ue4, p4, 40000, 5060}, 100));

    std::atomic<bool> serving{false};
    worker_->set_serving_flag(&serving);
    receive(tap, to_ue);
    receive(access, from_ue);
    receive(access, plain);
    polls(2);
    EXPECT_TRUE(sent(access).empty()) << "no ESP produced";
    EXPECT_EQ(sent(tap).size(), 1u) << "only the plain packet";
    EXPECT_EQ(drops(DropReason::standby), 2u);
    EXPECT_EQ(worker_->engine().drops()[DropReason::unknown_spi], 0u) << "not even looked at";

    serving = true;
    receive(tap, to_ue);
    receive(access, from_ue);
    polls(2);
    const auto esp_out = sent(access);
    ASSERT_EQ(esp_out.size(), 1u) << "protected once serving";
    EXPECT_EQ(esp_out[0][14 + 9], 50);
    EXPECT_EQ(worker_->engine().drops()[DropReason::unknown_spi], 1u) << "verified once serving";
    EXPECT_EQ(drops(DropReason::standby), 2u);
}

}  // namespace
}  // namespace pcscf::dp
