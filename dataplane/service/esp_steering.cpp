#include "dataplane/service/esp_steering.hpp"

#include <rte_byteorder.h>
#include <rte_flow.h>

#include <bit>

namespace pcscf::dp {

std::expected<std::vector<SpiMatch>, std::string> spi_matches(const esp::SpiLayout& layout) {
    const uint32_t n = layout.workers;
    if (!std::has_single_bit(n) || layout.base % n != 0)
        return std::unexpected(std::to_string(n) +
                               " workers own SPIs by a remainder no mask matches (a power of two "
                               "does)");
    std::vector<SpiMatch> out;
    for (uint32_t w = 0; w < n; ++w) out.push_back({w, n - 1, uint16_t(w)});  // (spi - base) % n == spi % n
    return out;
}

namespace {

std::string reason(const char* what, const rte_flow_error& e) {
    return std::string(what) + ": " + (e.message != nullptr ? e.message : "no reason given");
}

rte_flow_item item(rte_flow_item_type type, const void* spec = nullptr, const void* mask = nullptr) {
    rte_flow_item i{};
    i.type = type;
    i.spec = spec;
    i.mask = mask;
    return i;
}

}  // namespace

std::expected<uint32_t, std::string> steer_esp(uint16_t port, const esp::SpiLayout& layout, uint16_t vlan) {
    if (layout.workers == 1) return 0u;  // one queue: nowhere else to go
    auto matches = spi_matches(layout);
    if (!matches) return std::unexpected(matches.error());
    rte_flow_attr attr{};
    attr.ingress = 1;
    rte_flow_item_vlan vlan_spec{}, vlan_mask{};
    vlan_spec.hdr.vlan_tci = rte_cpu_to_be_16(vlan);
    vlan_mask.hdr.vlan_tci = rte_cpu_to_be_16(0x0fff);
    // Validated all before any is made, so a NIC that takes some shapes and not others
    // is left with none rather than half of them.
    for (const bool create : {false, true})
        for (const rte_flow_item_type ip : {RTE_FLOW_ITEM_TYPE_IPV4, RTE_FLOW_ITEM_TYPE_IPV6})
            for (const SpiMatch& m : *matches) {
                rte_flow_item_esp spec{}, mask{};
                spec.hdr.spi = rte_cpu_to_be_32(m.value);
                mask.hdr.spi = rte_cpu_to_be_32(m.mask);
                std::vector<rte_flow_item> pattern{item(RTE_FLOW_ITEM_TYPE_ETH)};
                if (vlan != 0) pattern.push_back(item(RTE_FLOW_ITEM_TYPE_VLAN, &vlan_spec, &vlan_mask));
                pattern.push_back(item(ip));
                pattern.push_back(item(RTE_FLOW_ITEM_TYPE_ESP, &spec, &mask));
                pattern.push_back(item(RTE_FLOW_ITEM_TYPE_END));
                rte_flow_action_queue queue{};
                queue.index = m.queue;
                rte_flow_action actions[2]{};
                actions[0].type = RTE_FLOW_ACTION_TYPE_QUEUE;
                actions[0].conf = &queue;
                actions[1].type = RTE_FLOW_ACTION_TYPE_END;
                rte_flow_error e{};
                if (!create) {
                    if (rte_flow_validate(port, &attr, pattern.data(), actions, &e) != 0)
                        return std::unexpected(reason("the NIC refuses the rule", e));
                } else if (rte_flow_create(port, &attr, pattern.data(), actions, &e) == nullptr) {
                    std::string why = reason("creating a rule", e);
                    rte_flow_flush(port, &e);
                    return std::unexpected(why);
                }
            }
    return uint32_t(2 * matches->size());
}

}  // namespace pcscf::dp
