// The rings between the control thread and the workers, on their own: events from every
// worker's ring, and records read in place across the ring's end.
#include <gtest/gtest.h>
#include <rte_memory.h>

#include <vector>

#include "dataplane/service/rings.hpp"

namespace pcscf::dp {
namespace {

esp::SaEvent event(uint32_t spi) {
    esp::SaEvent e;
    e.spi = spi;
    return e;
}

esp::SaRecord record(uint32_t spi) {
    esp::SaRecord r;
    r.sa.spi = spi;
    return r;
}

TEST(Rings, EventsFromEveryWorkerAreReceivedInEachWorkersOrder) {
    RingSizes sizes;
    sizes.events = 4;  // 3 usable per worker
    auto rings = Rings::create(3, sizes, SOCKET_ID_ANY);
    ASSERT_TRUE(rings.has_value()) << rings.error();
    Rings& r = **rings;
    ASSERT_TRUE(r.worker(2).post_event(event(21)));
    ASSERT_TRUE(r.worker(0).post_event(event(1)));
    const esp::SaEvent two[] = {event(22), event(23)};
    ASSERT_EQ(r.worker(2).post_events(two), 2u);
    EXPECT_FALSE(r.worker(2).post_event(event(24))) << "worker 2's ring is full";
    EXPECT_TRUE(r.worker(1).post_event(event(11))) << "the others' are not";

    std::vector<uint32_t> got;
    esp::SaEvent out[2];  // smaller than what waits: taken over several calls
    for (uint32_t n; (n = r.control().receive_events(out)) > 0;)
        for (uint32_t i = 0; i < n; ++i) got.push_back(out[i].spi);
    EXPECT_EQ(got, (std::vector<uint32_t>{1, 11, 21, 22, 23}));
}

TEST(Rings, RecordsPeekedAcrossTheEndAreReleasedInPart) {
    RingSizes sizes;
    sizes.commands = 8;  // 7 usable
    auto rings = Rings::create(1, sizes, SOCKET_ID_ANY);
    ASSERT_TRUE(rings.has_value()) << rings.error();
    ControlRings& control = (**rings).control();
    WorkerRings worker = (**rings).worker(0);
    for (uint32_t i = 0; i < 5; ++i) ASSERT_TRUE(control.send(0, record(100 + i)));
    ASSERT_EQ(worker.peek_records(64).size(), 5u);
    worker.release_records(5);  // the ring's next slot is now 5 of 8
    for (uint32_t i = 0; i < 6; ++i) ASSERT_TRUE(control.send(0, record(200 + i)));

    const RecordRuns runs = worker.peek_records(64);
    ASSERT_EQ(runs.size(), 6u);
    EXPECT_EQ(runs.first.size(), 3u);   // slots 5..7
    EXPECT_EQ(runs.second.size(), 3u);  // slots 0..2
    for (uint32_t i = 0; i < 6; ++i) EXPECT_EQ(runs[i].sa.spi, 200 + i) << "record " << i;
    EXPECT_EQ(control.pending(0), 6u) << "peeked, not taken";

    worker.release_records(4);
    EXPECT_EQ(control.pending(0), 2u);
    const RecordRuns rest = worker.peek_records(64);
    ASSERT_EQ(rest.size(), 2u);
    EXPECT_EQ(rest[0].sa.spi, 204u);
    EXPECT_EQ(rest[1].sa.spi, 205u);
    worker.release_records(2);
    EXPECT_EQ(worker.peek_records(64).size(), 0u);
}

// A worker's handoff share is split over the workers that hand to it: memory grows with
// the worker count, not its square, and never below four bursts a pair.
TEST(Rings, HandoffRingsShareTheOwnersRoom) {
    RingSizes sizes;  // 4,096 per owner
    EXPECT_EQ(handoff_per_pair(sizes, 1), 4096u);
    EXPECT_EQ(handoff_per_pair(sizes, 2), 4096u);
    EXPECT_EQ(handoff_per_pair(sizes, 5), 1024u);
    EXPECT_EQ(handoff_per_pair(sizes, 64), 256u);
    sizes.handoff = 8;
    EXPECT_EQ(handoff_per_pair(sizes, 2), 8u);

    sizes.handoff = 4096;
    auto rings = Rings::create(5, sizes, SOCKET_ID_ANY);
    ASSERT_TRUE(rings.has_value()) << rings.error();
    std::vector<rte_mbuf*> p(2000);
    for (size_t i = 0; i < p.size(); ++i) p[i] = reinterpret_cast<rte_mbuf*>(i + 1);
    WorkerRings zero = (**rings).worker(0);
    EXPECT_EQ(zero.hand_esp(1, {p.data(), 1000}), 1000u);
    EXPECT_EQ(zero.hand_esp(1, {p.data() + 1000, 1000}), 23u) << "a ring of 1,024 holds 1,023";
    EXPECT_EQ((**rings).worker(2).hand_esp(1, {p.data(), 1000}), 1000u) << "another worker's ring to 1 has room";
    rte_mbuf* got[64];
    uint32_t taken = 0;
    WorkerRings one = (**rings).worker(1);
    for (uint16_t k; (k = one.take_handed_esp(got)) > 0;) taken += k;
    EXPECT_EQ(taken, 2023u);
}

}  // namespace
}  // namespace pcscf::dp
