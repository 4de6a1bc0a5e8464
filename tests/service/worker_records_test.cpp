// When a worker takes SA records from its command ring (WorkerRig: a real dp::Worker on
// net_ring ports, polled by hand, with the control thread's end of the real rings).
#include "tests/service/worker_rig.hpp"

namespace pcscf::dp {
namespace {

class WorkerRecords : public WorkerRig {
protected:
    // Inbound SA `i` added.
    void send_add(uint32_t i) {
        esp::SaRecord r;
        r.sa.dir = esp::Direction::inbound;
        r.sa.spi = 0x1000 + i;
        r.sa.ue_addr = *net::IpAddr::parse("192.0.2.1");
        r.sa.pcscf_addr = *net::IpAddr::parse("198.51.100.1");
        r.sa.ue_port = 5062;
        r.sa.pcscf_port = 5101;
        ASSERT_TRUE(rings_->control().send(0, r));
    }

    uint64_t applied() const { return worker_->stats().records_applied; }
    uint32_t queued() const { return rings_->control().pending(0); }
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
    polls(3);                                       // finds the ring empty
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
    const uint32_t n = rings_->control().receive_events(ev);
    ASSERT_EQ(n, first + second);
    for (uint32_t i = 0; i < n; ++i) {
        EXPECT_EQ(ev[i].kind, esp::EventKind::applied);
        EXPECT_EQ(ev[i].spi, 0x1000 + i) << "acknowledgement " << i;
        EXPECT_EQ(ev[i].result, 0) << "acknowledgement " << i;
    }
}

// The control thread behind on its events: the acknowledgements that do not fit wait in
// the worker, which goes on polling (it never waits for room), posts them in order as room
// comes, and takes no new record until all are posted.
TEST_F(WorkerRecords, AcknowledgementsWaitForRoomWithoutStoppingTheWorker) {
    RingSizes sizes;
    sizes.events = 8;  // 7 usable
    make_worker(0, sizes);
    for (uint32_t i = 0; i < 20; ++i) send_add(i);
    polls(2);  // found, then applied: 7 acknowledgements fit
    EXPECT_EQ(applied(), 20u);
    EXPECT_EQ(worker_->stats().acks_deferred, 1u);
    send_add(20);
    polls(3);  // the ring is still full: the worker polls on, the new record waits
    EXPECT_EQ(worker_->stats().acks_deferred, 4u);
    EXPECT_EQ(queued(), 1u);

    std::vector<uint32_t> spis;
    esp::SaEvent ev[8];
    for (int round = 0; round < 8 && spis.size() < 21; ++round) {
        for (uint32_t n = rings_->control().receive_events(ev), i = 0; i < n; ++i) spis.push_back(ev[i].spi);
        polls(2);
    }
    ASSERT_EQ(spis.size(), 21u);
    for (uint32_t i = 0; i < 21; ++i) EXPECT_EQ(spis[i], 0x1000 + i) << "acknowledgement " << i;
    EXPECT_EQ(queued(), 0u);
}

}  // namespace
}  // namespace pcscf::dp
