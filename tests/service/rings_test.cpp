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
    ASSERT_TRUE(r.post_event(2, event(21)));
    ASSERT_TRUE(r.post_event(0, event(1)));
    const esp::SaEvent two[] = {event(22), event(23)};
    ASSERT_EQ(r.post_events(2, two), 2u);
    EXPECT_FALSE(r.post_event(2, event(24))) << "worker 2's ring is full";
    EXPECT_TRUE(r.post_event(1, event(11))) << "the others' are not";

    std::vector<uint32_t> got;
    esp::SaEvent out[2];  // smaller than what waits: taken over several calls
    for (uint32_t n; (n = r.receive_events(out)) > 0;)
        for (uint32_t i = 0; i < n; ++i) got.push_back(out[i].spi);
    EXPECT_EQ(got, (std::vector<uint32_t>{1, 11, 21, 22, 23}));
}

TEST(Rings, RecordsPeekedAcrossTheEndAreReleasedInPart) {
    RingSizes sizes;
    sizes.commands = 8;  // 7 usable
    auto rings = Rings::create(1, sizes, SOCKET_ID_ANY);
    ASSERT_TRUE(rings.has_value()) << rings.error();
    Rings& r = **rings;
    esp::SaRecord buf[8];
    for (uint32_t i = 0; i < 5; ++i) ASSERT_TRUE(r.send(0, record(100 + i)));
    ASSERT_EQ(r.take_records(0, buf), 5u);  // the ring's next slot is now 5 of 8
    for (uint32_t i = 0; i < 6; ++i) ASSERT_TRUE(r.send(0, record(200 + i)));

    const RecordRuns runs = r.peek_records(0, 64);
    ASSERT_EQ(runs.size(), 6u);
    EXPECT_EQ(runs.first.size(), 3u);   // slots 5..7
    EXPECT_EQ(runs.second.size(), 3u);  // slots 0..2
    for (uint32_t i = 0; i < 6; ++i) EXPECT_EQ(runs[i].sa.spi, 200 + i) << "record " << i;
    EXPECT_EQ(r.pending_records(0), 6u) << "peeked, not taken";

    r.release_records(0, 4);
    EXPECT_EQ(r.pending_records(0), 2u);
    ASSERT_EQ(r.take_records(0, buf), 2u);
    EXPECT_EQ(buf[0].sa.spi, 204u);
    EXPECT_EQ(buf[1].sa.spi, 205u);
    EXPECT_EQ(r.peek_records(0, 64).size(), 0u);
}

}  // namespace
}  // namespace pcscf::dp
