// ESP steered by SPI: the matches send every SPI to the worker that owns it, layouts no
// mask can express are refused with the reason, each rule's pattern says what it matches
// (bare ESP over IPv4 or IPv6, ESP in UDP to port 4500), and a port without rte_flow
// (net_ring) is left to the handoff rings.
#include <gtest/gtest.h>
#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ring.h>

#include <vector>

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

std::vector<rte_flow_item_type> types(const FlowRule& r) {
    std::vector<rte_flow_item_type> t;
    for (const rte_flow_item& i : r.pattern) t.push_back(i.type);
    return t;
}

TEST(EspSteering, EachRuleMatchesItsCarrierAndTheSpisOfOneWorker) {
    const SpiMatch match{3, 7, 3};
    const FlowRule v4(EspCarrier::ipv4, match, 0);
    EXPECT_EQ(types(v4), (std::vector{RTE_FLOW_ITEM_TYPE_ETH, RTE_FLOW_ITEM_TYPE_IPV4, RTE_FLOW_ITEM_TYPE_ESP,
                                      RTE_FLOW_ITEM_TYPE_END}));
    const FlowRule v6(EspCarrier::ipv6, match, 0);
    EXPECT_EQ(types(v6), (std::vector{RTE_FLOW_ITEM_TYPE_ETH, RTE_FLOW_ITEM_TYPE_IPV6, RTE_FLOW_ITEM_TYPE_ESP,
                                      RTE_FLOW_ITEM_TYPE_END}));
    const FlowRule udp(EspCarrier::udp_ipv4, match, 100);
    ASSERT_EQ(types(udp), (std::vector{RTE_FLOW_ITEM_TYPE_ETH, RTE_FLOW_ITEM_TYPE_VLAN, RTE_FLOW_ITEM_TYPE_IPV4,
                                       RTE_FLOW_ITEM_TYPE_UDP, RTE_FLOW_ITEM_TYPE_ESP, RTE_FLOW_ITEM_TYPE_END}));
    // Every item's spec and mask point into the rule itself, in network order.
    const auto* vlan = static_cast<const rte_flow_item_vlan*>(udp.pattern[1].spec);
    const auto* vlan_mask = static_cast<const rte_flow_item_vlan*>(udp.pattern[1].mask);
    EXPECT_EQ(rte_be_to_cpu_16(vlan->hdr.vlan_tci), 100);
    EXPECT_EQ(rte_be_to_cpu_16(vlan_mask->hdr.vlan_tci), 0x0fff) << "the VLAN id, not the priority";
    const auto* port = static_cast<const rte_flow_item_udp*>(udp.pattern[3].spec);
    const auto* port_mask = static_cast<const rte_flow_item_udp*>(udp.pattern[3].mask);
    EXPECT_EQ(rte_be_to_cpu_16(port->hdr.dst_port), 4500) << "RFC 3948 2.1";
    EXPECT_EQ(port_mask->hdr.dst_port, 0xffff);
    EXPECT_EQ(port_mask->hdr.src_port, 0) << "any NAT port";
    for (const FlowRule* r : {&v4, &v6, &udp}) {
        const rte_flow_item& esp = r->pattern[r->pattern.size() - 2];
        EXPECT_EQ(rte_be_to_cpu_32(static_cast<const rte_flow_item_esp*>(esp.spec)->hdr.spi), 3u);
        EXPECT_EQ(rte_be_to_cpu_32(static_cast<const rte_flow_item_esp*>(esp.mask)->hdr.spi), 7u);
        ASSERT_EQ(r->actions[0].type, RTE_FLOW_ACTION_TYPE_QUEUE);
        EXPECT_EQ(static_cast<const rte_flow_action_queue*>(r->actions[0].conf)->index, 3);
        EXPECT_EQ(r->actions[1].type, RTE_FLOW_ACTION_TYPE_END);
    }
}

TEST(EspSteering, TheLogSaysHowEachKindOfEspReachesItsOwner) {
    EspSteering both;
    both.rules = 4;
    both.udp_rules = 2;
    EXPECT_EQ(describe(both), "by SPI, 4 rte_flow rules; ESP in UDP by SPI too, 2 rules");
    EspSteering bare;
    bare.rules = 4;
    bare.udp_refused = "the NIC refuses the rule: no UDP item";
    EXPECT_EQ(describe(bare),
              "by SPI, 4 rte_flow rules; ESP in UDP handed to its owner (the NIC refuses the rule: no UDP item)");
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

    const auto one = steer_esp(uint16_t(port), esp::SpiLayout{0x1000, 1, 64}, 0);
    ASSERT_TRUE(one.has_value()) << "one worker needs no rule";
    EXPECT_EQ(one->rules + one->udp_rules, 0u);
    EXPECT_EQ(describe(one), "none needed (one worker)");
    const auto two = steer_esp(uint16_t(port), esp::SpiLayout{0x1000, 2, 64}, 0);
    ASSERT_FALSE(two.has_value()) << "net_ring has no rte_flow";
    EXPECT_FALSE(two.error().empty());
    std::printf("net_ring: %s\n", two.error().c_str());
    EXPECT_EQ(describe(two), "none, ESP handed to its owner (" + two.error() + ")");

    stop_port(uint16_t(port));
    for (rte_ring* ring : r) rte_ring_free(ring);
    rte_mempool_free(pool);
}

}  // namespace
}  // namespace pcscf::dp
