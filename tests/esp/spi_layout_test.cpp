// FastSpiLayout against SpiLayout's divisions: the same owner and slot for every worker
// count, at the layout's edges, outside it, and on random SPIs; owned_slot() as owned_by()
// and slot() together.
#include <gtest/gtest.h>

#include <random>

#include "sa_contract/spi_layout.hpp"

namespace pcscf::esp {
namespace {

TEST(FastSpiLayout, SameOwnerAndSlotAsTheDivisions) {
    std::mt19937 rng(7);
    for (uint32_t workers = 1; workers <= 130; ++workers)
        for (const uint32_t base : {0x1000u, 0x100u, 0x12345u}) {
            const SpiLayout l{base, workers, (UINT32_MAX - base) / workers};  // the largest span
            ASSERT_TRUE(l.valid());
            const FastSpiLayout f(l);
            std::vector<uint32_t> spis = {base,           base + 1,   base + workers - 1,
                                          base + workers, UINT32_MAX, uint32_t(base + l.span() - 1),
                                          base - 1,       0};
            for (int k = 0; k < 2000; ++k) spis.push_back(rng());
            for (const uint32_t spi : spis) {
                for (uint32_t w : {0u, workers / 2, workers - 1}) {
                    uint32_t slot = UINT32_MAX;
                    ASSERT_EQ(f.owned_slot(spi, w, slot), l.owned_by(spi, w)) << "SPI " << spi << ", worker " << w;
                    if (l.owned_by(spi, w)) {
                        ASSERT_EQ(slot, l.slot(spi)) << "SPI " << spi << ", worker " << w;
                    }
                }
                ASSERT_EQ(f.contains(spi), l.contains(spi)) << spi;
                if (!l.contains(spi)) continue;
                ASSERT_EQ(f.owner(spi), l.owner(spi)) << "SPI " << spi << ", " << workers << " workers";
                ASSERT_EQ(f.slot(spi), l.slot(spi)) << "SPI " << spi << ", " << workers << " workers";
                for (uint32_t w : {0u, l.owner(spi), workers - 1}) ASSERT_EQ(f.owned_by(spi, w), l.owned_by(spi, w));
            }
        }
}

}  // namespace
}  // namespace pcscf::esp
