// Packets for another worker's SAs (WorkerRig with two workers: the test is worker 1's
// end of the rings): handed over in order, in one enqueue per owner and burst, what does
// not fit dropped and counted; and what worker 1 hands back is taken in.
#include "sa_contract/owner.hpp"
#include "tests/common/packet_builder.hpp"
#include "tests/service/worker_rig.hpp"

namespace pcscf::dp {
namespace {

using net::DropReason;

class WorkerHandoff : public WorkerRig {
protected:
    void make(RingSizes sizes = {}) {
        cfg_.workers = 2;
        local_.add(p4);
        make_worker(0, sizes);
    }

    // An ESP frame from the UE to `spi` (none of worker 0's SAs), `tag` in its payload.
    std::vector<uint8_t> esp_frame(uint32_t spi, uint8_t tag) const {
        auto ip = test::make_packet({ue4, p4, 0, 0}, 24);
        ip[9] = 50;
        for (int k = 0; k < 4; ++k) ip[20 + k] = uint8_t(spi >> (24 - 8 * k));
        ip[28] = tag;
        test::fix_ipv4_checksum(ip);
        return test::with_ethernet(ip);
    }

    // What worker 0 handed to worker 1: the payload tags of the ESP, in order.
    std::vector<uint8_t> handed_esp() {
        std::vector<uint8_t> tags;
        rte_mbuf* m[kMaxBurst];
        WorkerRings one = rings_->worker(1);
        for (uint16_t n; (n = one.take_handed_esp(m)) > 0;)
            for (uint16_t i = 0; i < n; ++i) {
                tags.push_back(rte_pktmbuf_mtod(m[i], const uint8_t*)[14 + 28]);
                rte_pktmbuf_free(m[i]);
            }
        return tags;
    }

    uint64_t drops(DropReason r) const { return worker_->stats().drops[r]; }

    static constexpr uint32_t kWorker1Spi = 0x1001;  // SpiLayout{0x1000, 2, ...}: odd SPIs are worker 1's
    const net::IpAddr ue4 = *net::IpAddr::parse("192.0.2.10"), p4 = *net::IpAddr::parse("198.51.100.1");
};

TEST_F(WorkerHandoff, EspForTheOtherWorkerIsHandedOverInOrder) {
    make();
    for (uint8_t t = 1; t <= 20; ++t) receive(access, esp_frame(kWorker1Spi + 2 * t, t));
    worker_->poll();
    std::vector<uint8_t> want(20);
    for (uint8_t t = 1; t <= 20; ++t) want[t - 1] = t;
    EXPECT_EQ(handed_esp(), want);
    EXPECT_EQ(worker_->stats().handoff_sent, 20u);
    EXPECT_EQ(worker_->engine().drops().total(), 0u) << "worker 0 never looked at them";
}

// UDP-encapsulated ESP (RFC 3948) goes by the SPI after the UDP header; a keep-alive or a
// non-ESP marker has none and stays with the worker that received it. rte_flow's ESP
// rules do not match UDP, so this handoff is always how such ESP reaches its owner.
TEST_F(WorkerHandoff, UdpEncapsulatedEspGoesByItsSpiKeepAlivesStay) {
    make();
    for (uint8_t t = 1; t <= 3; ++t) {
        auto ip = test::make_packet({ue4, p4, 31000, esp::kNatTPort}, 24);
        for (int k = 0; k < 4; ++k) ip[28 + k] = uint8_t((kWorker1Spi + 2 * t) >> (24 - 8 * k));
        receive(access, test::with_ethernet(ip));
    }
    const uint8_t ff[1] = {0xff}, ike[8] = {0, 0, 0, 0, 1, 2, 3, 4};
    receive(access, test::with_ethernet(test::make_packet({ue4, p4, 31000, esp::kNatTPort}, ff)));
    receive(access, test::with_ethernet(test::make_packet({ue4, p4, 31000, esp::kNatTPort}, ike)));
    worker_->poll();
    std::vector<uint32_t> spis;  // what worker 1 got
    rte_mbuf* m[kMaxBurst];
    WorkerRings one = rings_->worker(1);
    for (uint16_t n; (n = one.take_handed_esp(m)) > 0;)
        for (uint16_t i = 0; i < n; ++i) {
            const uint8_t* spi = rte_pktmbuf_mtod(m[i], const uint8_t*) + 14 + 28;
            spis.push_back(uint32_t(spi[0]) << 24 | uint32_t(spi[1]) << 16 | uint32_t(spi[2]) << 8 | spi[3]);
            rte_pktmbuf_free(m[i]);
        }
    EXPECT_EQ(spis, (std::vector<uint32_t>{kWorker1Spi + 2, kWorker1Spi + 4, kWorker1Spi + 6}));
    EXPECT_EQ(worker_->stats().handoff_sent, 3u);
    EXPECT_EQ(worker_->engine().drops()[DropReason::natt_keepalive], 1u);
    EXPECT_EQ(worker_->engine().drops()[DropReason::natt_non_esp], 1u);
    EXPECT_EQ(worker_->stats().exception_in, 0u) << "none of it to the kernel";
}

TEST_F(WorkerHandoff, WhatTheOwnersRingCannotTakeIsDroppedAndCounted) {
    RingSizes sizes;
    sizes.handoff = 8;  // 7 usable
    make(sizes);
    for (uint8_t t = 1; t <= 10; ++t) receive(access, esp_frame(kWorker1Spi, t));
    worker_->poll();
    EXPECT_EQ(handed_esp(), (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7}));
    EXPECT_EQ(worker_->stats().handoff_sent, 7u);
    EXPECT_EQ(drops(DropReason::handoff_full), 3u);
    EXPECT_EQ(rte_mempool_in_use_count(pool_), 0u) << "the dropped buffers went back";
}

TEST_F(WorkerHandoff, PlainPacketsForTheOtherWorkersUesAreHandedOver) {
    make();
    net::IpAddr ue = ue4;
    for (uint8_t last = 11; esp::owner_of(ue, 2) != 1; ++last)
        ue = *net::IpAddr::parse("192.0.2." + std::to_string(last));
    for (int k = 0; k < 5; ++k) receive(tap, test::with_ethernet(test::make_packet({p4, ue, 5101, 40000}, 100)));
    worker_->poll();
    rte_mbuf* m[kMaxBurst];
    EXPECT_EQ(rings_->worker(1).take_handed_plain(m), 5u);
    rte_pktmbuf_free_bulk(m, 5);
    EXPECT_EQ(worker_->stats().handoff_sent, 5u);
    EXPECT_TRUE(sent(access).empty()) << "protected by their owner, not here";
}

TEST_F(WorkerHandoff, PacketsHandedByTheOtherWorkerAreTakenIn) {
    make();
    rte_mbuf* m[3];
    for (uint8_t t = 0; t < 3; ++t) m[t] = mbuf_of(esp_frame(0x1000 + 2 * t, t));  // worker 0's SPIs, no SA
    ASSERT_EQ(rings_->worker(1).hand_esp(0, m), 3u);
    worker_->poll();
    EXPECT_EQ(worker_->stats().handoff_received, 3u);
    EXPECT_EQ(worker_->engine().drops()[DropReason::unknown_spi], 3u) << "verified by their owner";
}

}  // namespace
}  // namespace pcscf::dp
