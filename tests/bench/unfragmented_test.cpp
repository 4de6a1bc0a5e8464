// The pipeline benchmark's size limit: the largest ESP packet whose decapsulated datagram
// the worker sends to the tap whole.
#include <gtest/gtest.h>

#include "bench/unfragmented.hpp"

namespace pcscf::bench {
namespace {

// What decapsulation leaves of a workload packet (a multiple of 4, so no padding).
constexpr uint32_t decapsulated(uint32_t esp_size) {
    return esp_size - esp::kEspHeaderLen - esp::kEspTrailerLen - esp::kIcvLen;
}

TEST(Unfragmented, PcscfEspdsDefaultMtus) {
    // --access-mtu 1500, --tap-mtu 1468: 1488 B decapsulates to 1466, 1492 B to 1470.
    EXPECT_EQ(largest_unfragmented(1500, 1468), 1488u);
    EXPECT_LE(decapsulated(1488), 1468u);
    EXPECT_GT(decapsulated(1488 + 4), 1468u);
}

TEST(Unfragmented, TheAccessMtuBoundsTheEspPacketToo) {
    EXPECT_EQ(largest_unfragmented(1500, 1500), 1500u);  // the tap would take 1522
    EXPECT_EQ(largest_unfragmented(1400, 1300), 1320u);
    EXPECT_EQ(largest_unfragmented(9000, 1469), 1488u);  // rounded down to a multiple of 4
}

}  // namespace
}  // namespace pcscf::bench
