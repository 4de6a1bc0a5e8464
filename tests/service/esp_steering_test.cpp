// ESP steered by SPI: the matches send every SPI to the worker that owns it, layouts no
// mask can express are refused with the reason, and a port without rte_flow (net_ring)
// is left to the handoff rings.
#include <gtest/gtest.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ring.h>

#include "dataplane/service/esp_steering.hpp"
#include "dataplane/service/ports.hpp"

namespace pcscf::dp {
namespace {

TEST(EspSteering, EverySpiIsMatchedOnceToItsOwnersQueue) {
    for (uint32_t workers : {2u, 4u, 8u}) {
        const esp::SpiLayout layout{0x1000, workers, 64};
        auto matches = spi_matches(layout);
        ASSERT_TRUE(matches.has_value()) << matches.error();
        ASSERT_EQ(matches->size(), workers);
        for (uint32_t spi = layout.base; spi < layout.base + layout.span(); ++spi) {
            int hits = 0;
            for (const SpiMatch& m : *matches)
                if ((spi & m.mask) == m.value) {
                    ++hits;
                    EXPECT_EQ(m.queue, layout.owner(spi)) << "SPI " << spi << ", " << workers << " workers";
                }
            EXPECT_EQ(hits, 1) << "SPI " << spi;
        }
    }
}

TEST(EspSteering, OwnershipNoMaskExpressesIsRefusedWithTheReason) {
    auto three = spi_matches(esp::SpiLayout{0x1000, 3, 64});
    ASSERT_FALSE(three.has_value());
    EXPECT_NE(three.error().find("3 workers"), std::string::npos) << three.error();
    EXPECT_FALSE(spi_matches(esp::SpiLayout{0x1001, 2, 64}).has_value()) << "odd base: owner is not the low bit";
}

TEST(EspSteering, APortWithoutFlowRulesIsLeftToTheHandoff) {
    rte_mempool* pool = rte_pktmbuf_pool_create("steer_pool", 255, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    ASSERT_NE(pool, nullptr);
    rte_ring* r[2];
    for (int k = 0; k < 2; ++k) {
        r[k] = rte_ring_create(("steer" + std::to_string(k)).c_str(), 64, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
        ASSERT_NE(r[k], nullptr) << rte_strerror(rte_errno);
    }
    rte_ring* rx[2] = {r[0], r[0]};
    rte_ring* tx[2] = {r[1], r[1]};
    const int port = rte_eth_from_rings("steer_port", rx, 2, tx, 2, SOCKET_ID_ANY);
    ASSERT_GE(port, 0) << rte_strerror(rte_errno);
    ASSERT_TRUE(start_port(PortSetup{uint16_t(port), 2, 64, 64, {pool, pool}, 1500}).has_value());

    EXPECT_EQ(steer_esp(uint16_t(port), esp::SpiLayout{0x1000, 1, 64}, 0), 0u) << "one worker needs no rule";
    const auto two = steer_esp(uint16_t(port), esp::SpiLayout{0x1000, 2, 64}, 0);
    ASSERT_FALSE(two.has_value()) << "net_ring has no rte_flow";
    EXPECT_FALSE(two.error().empty());
    std::printf("net_ring: %s\n", two.error().c_str());

    stop_port(uint16_t(port));
    for (rte_ring* ring : r) rte_ring_free(ring);
    rte_mempool_free(pool);
}

}  // namespace
}  // namespace pcscf::dp
