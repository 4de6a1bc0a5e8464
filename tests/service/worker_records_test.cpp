// When a worker takes SA records from its command ring: a real dp::Worker on net_ring
// ports, polled by hand, with the control thread's end of the real rings.
#include <gtest/gtest.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <memory>
#include <string>
#include <vector>

#include "dataplane/service/ports.hpp"
#include "dataplane/service/rings.hpp"
#include "dataplane/service/worker.hpp"

namespace pcscf::dp {
namespace {

class WorkerRecords : public testing::Test {
protected:
    // A worker with empty ports; SA records are all it sees.
    void make_worker(uint32_t record_interval_us, RingSizes sizes = {}) {
        static int serial = 0;
        const std::string tag = std::to_string(serial++);
        pool_ = rte_pktmbuf_pool_create(("wr_pkt" + tag).c_str(), 255, 0, 0,
                                        RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
        ASSERT_NE(pool_, nullptr) << rte_strerror(rte_errno);
        for (const char* side : {"access", "tap"}) {
            const std::string name = "wr_" + tag + side;
            rte_ring* r[2];
            for (int k = 0; k < 2; ++k) {
                r[k] = rte_ring_create((name + char('0' + k)).c_str(), 64, SOCKET_ID_ANY,
                                       RING_F_SP_ENQ | RING_F_SC_DEQ);
                ASSERT_NE(r[k], nullptr) << rte_strerror(rte_errno);
                port_rings_.push_back(r[k]);
            }
            const int id = rte_eth_from_rings(name.c_str(), &r[0], 1, &r[1], 1, SOCKET_ID_ANY);
            ASSERT_GE(id, 0) << rte_strerror(rte_errno);
            ASSERT_TRUE(start_port(PortSetup{uint16_t(id), 1, 64, 64, {pool_}, 1500}).has_value());
            ports_.push_back(uint16_t(id));
        }
        cfg_.record_interval_us = record_interval_us;
        cfg_.max_datagram = 1500;  // reassembly fits the pool's buffers
        cfg_.reassembly_flows = 16;
        cfg_.engine.spi = esp::SpiLayout{0x1000, 1, 256};
        cfg_.engine.outbound_capacity = 64;
        auto rings = Rings::create(1, sizes, SOCKET_ID_ANY);
        ASSERT_TRUE(rings.has_value()) << rings.error();
        rings_ = std::move(*rings);
        auto parts = make_worker_parts(cfg_, 0, pool_, pool_, pool_, SOCKET_ID_ANY);
        ASSERT_TRUE(parts.has_value()) << parts.error();
        parts->access_port = ports_[0];
        parts->tap_port = ports_[1];
        worker_ = std::make_unique<Worker>(cfg_, local_, *rings_, std::move(*parts));
    }

    void TearDown() override {
        worker_.reset();
        rings_.reset();
        for (uint16_t p : ports_) stop_port(p);
        for (rte_ring* r : port_rings_) rte_ring_free(r);
        rte_mempool_free(pool_);
    }

    // Inbound SA `i` added.
    void send_add(uint32_t i) {
        esp::SaRecord r;
        r.sa.dir = esp::Direction::inbound;
        r.sa.spi = 0x1000 + i;
        r.sa.ue_addr = *esp::IpAddr::parse("192.0.2.1");
        r.sa.pcscf_addr = *esp::IpAddr::parse("198.51.100.1");
        r.sa.ue_port = 5062;
        r.sa.pcscf_port = 5101;
        ASSERT_TRUE(rings_->send(0, r));
    }

    uint64_t applied() const { return worker_->stats().records_applied; }
    void polls(int n) {
        for (int i = 0; i < n; ++i) worker_->poll();
    }
    uint32_t queued() const { return rings_->pending_records(0); }

    ServiceConfig cfg_;
    LocalAddrs local_;
    rte_mempool* pool_ = nullptr;
    std::vector<rte_ring*> port_rings_;
    std::vector<uint16_t> ports_;
    std::unique_ptr<Rings> rings_;
    std::unique_ptr<Worker> worker_;
};

// An hour between looks: only the drained ring makes the worker wait, so a backlog is
// taken group after group, and what comes after the ring was found drained waits. Each
// group takes two polls: one finds it and requests its lines, the next applies it.
TEST_F(WorkerRecords, ABacklogIsTakenAtOnceAndANewRecordWaitsForTheInterval) {
    constexpr uint32_t full = Worker::kMaxRecords, backlog = 2 * full + 8;
    make_worker(3'600'000'000u);
    for (uint32_t i = 0; i < backlog; ++i) send_add(i);
    worker_->poll();
    EXPECT_EQ(applied(), 0u);  // found, not applied yet: still queued
    EXPECT_EQ(queued(), backlog);
    worker_->poll();
    EXPECT_EQ(applied(), full);  // a full group: more are likely queued
    EXPECT_EQ(queued(), backlog - full);
    polls(2);
    EXPECT_EQ(applied(), 2 * full);
    polls(2);
    EXPECT_EQ(applied(), backlog);  // a partial group: the ring is drained
    EXPECT_EQ(queued(), 0u);
    send_add(backlog);
    polls(2);
    EXPECT_EQ(applied(), backlog);
    EXPECT_EQ(queued(), 1u);
    EXPECT_EQ(worker_->engine().inbound_sas().count(), backlog);
}

TEST_F(WorkerRecords, WithNoIntervalEveryPollLooks) {
    make_worker(0);
    polls(3);  // finds the ring empty
    EXPECT_EQ(worker_->stats().record_cycles, 0u);  // nothing found costs nothing counted
    send_add(0);
    worker_->poll();
    EXPECT_EQ(applied(), 0u);
    worker_->poll();
    EXPECT_EQ(applied(), 1u);
    EXPECT_EQ(queued(), 0u);
    EXPECT_EQ(worker_->engine().inbound_sas().count(), 1u);
    EXPECT_GT(worker_->stats().record_cycles, 0u);
}

// Records applied where they lie in the ring: a group that wraps around its end comes in
// two runs, and every record is applied and acknowledged once, in order.
TEST_F(WorkerRecords, AGroupAcrossTheRingsEndIsAppliedInOrder) {
    RingSizes sizes;
    sizes.commands = 128;  // 127 usable
    make_worker(0, sizes);
    constexpr uint32_t first = 100, second = 64;  // the second group spans slots 100..163
    for (uint32_t i = 0; i < first; ++i) send_add(i);
    polls(4);
    ASSERT_EQ(applied(), first);
    for (uint32_t i = first; i < first + second; ++i) send_add(i);
    polls(2);
    EXPECT_EQ(applied(), first + second);
    EXPECT_EQ(queued(), 0u);
    EXPECT_EQ(worker_->engine().inbound_sas().count(), first + second);
    esp::SaEvent ev[256];
    const uint32_t n = rings_->receive_events(ev);
    ASSERT_EQ(n, first + second);
    for (uint32_t i = 0; i < n; ++i) {
        EXPECT_EQ(ev[i].kind, esp::EventKind::applied);
        EXPECT_EQ(ev[i].spi, 0x1000 + i) << "acknowledgement " << i;
        EXPECT_EQ(ev[i].result, 0) << "acknowledgement " << i;
    }
}

}  // namespace
}  // namespace pcscf::dp
