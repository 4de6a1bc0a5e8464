#include "dataplane/service/esp_steering.hpp"

#include <rte_byteorder.h>

#include <bit>
#include <initializer_list>

#include "sa_contract/sa_config.hpp"

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

rte_flow_item item(rte_flow_item_type type, const void* spec = nullptr, const void* mask = nullptr) {
    rte_flow_item i{};
    i.type = type;
    i.spec = spec;
    i.mask = mask;
    return i;
}

std::string reason(const char* what, const rte_flow_error& e) {
    return std::string(what) + ": " + (e.message != nullptr ? e.message : "no reason given");
}

using Rules = std::vector<std::unique_ptr<FlowRule>>;

Rules rules_for(std::initializer_list<EspCarrier> carriers, const std::vector<SpiMatch>& matches, uint16_t vlan) {
    Rules rules;
    for (const EspCarrier c : carriers)
        for (const SpiMatch& m : matches) rules.push_back(std::make_unique<FlowRule>(c, m, vlan));
    return rules;
}

// All of `rules` validated before any is made, so a NIC that takes some shapes and not
// others is left with none of them rather than half; on a failed create the ones made
// go again.
std::expected<uint32_t, std::string> install(uint16_t port, const Rules& rules) {
    rte_flow_attr attr{};
    attr.ingress = 1;
    rte_flow_error e{};
    for (const auto& r : rules)
        if (rte_flow_validate(port, &attr, r->pattern.data(), r->actions.data(), &e) != 0)
            return std::unexpected(reason("the NIC refuses the rule", e));
    std::vector<rte_flow*> made;
    for (const auto& r : rules) {
        rte_flow* f = rte_flow_create(port, &attr, r->pattern.data(), r->actions.data(), &e);
        if (f == nullptr) {
            std::string why = reason("creating a rule", e);
            for (rte_flow* g : made) rte_flow_destroy(port, g, &e);
            return std::unexpected(why);
        }
        made.push_back(f);
    }
    return uint32_t(made.size());
}

}  // namespace

FlowRule::FlowRule(EspCarrier carrier, const SpiMatch& match, uint16_t vlan) {
    pattern.push_back(item(RTE_FLOW_ITEM_TYPE_ETH));
    if (vlan != 0) {
        vlan_spec.hdr.vlan_tci = rte_cpu_to_be_16(vlan);
        vlan_mask.hdr.vlan_tci = rte_cpu_to_be_16(0x0fff);
        pattern.push_back(item(RTE_FLOW_ITEM_TYPE_VLAN, &vlan_spec, &vlan_mask));
    }
    pattern.push_back(item(carrier == EspCarrier::ipv6 ? RTE_FLOW_ITEM_TYPE_IPV6 : RTE_FLOW_ITEM_TYPE_IPV4));
    if (carrier == EspCarrier::udp_ipv4) {
        udp_spec.hdr.dst_port = rte_cpu_to_be_16(esp::kNatTPort);
        udp_mask.hdr.dst_port = rte_cpu_to_be_16(0xffff);
        pattern.push_back(item(RTE_FLOW_ITEM_TYPE_UDP, &udp_spec, &udp_mask));
    }
    esp_spec.hdr.spi = rte_cpu_to_be_32(match.value);
    esp_mask.hdr.spi = rte_cpu_to_be_32(match.mask);
    pattern.push_back(item(RTE_FLOW_ITEM_TYPE_ESP, &esp_spec, &esp_mask));
    pattern.push_back(item(RTE_FLOW_ITEM_TYPE_END));
    queue.index = match.queue;
    actions[0].type = RTE_FLOW_ACTION_TYPE_QUEUE;
    actions[0].conf = &queue;
    actions[1].type = RTE_FLOW_ACTION_TYPE_END;
}

std::string describe(const std::expected<EspSteering, std::string>& steering) {
    if (!steering) return "none, ESP handed to its owner (" + steering.error() + ")";
    if (steering->rules == 0) return "none needed (one worker)";
    std::string s = "by SPI, " + std::to_string(steering->rules) + " rte_flow rules; ESP in UDP ";
    if (steering->udp_rules > 0) return s + "by SPI too, " + std::to_string(steering->udp_rules) + " rules";
    return s + "handed to its owner (" + steering->udp_refused + ")";
}

std::expected<EspSteering, std::string> steer_esp(uint16_t port, const esp::SpiLayout& layout, uint16_t vlan) {
    if (layout.workers == 1) return EspSteering{};  // one queue: nowhere else to go
    auto matches = spi_matches(layout);
    if (!matches) return std::unexpected(matches.error());
    auto bare = install(port, rules_for({EspCarrier::ipv4, EspCarrier::ipv6}, *matches, vlan));
    if (!bare) return std::unexpected(bare.error());
    EspSteering s;
    s.rules = *bare;
    if (auto udp = install(port, rules_for({EspCarrier::udp_ipv4}, *matches, vlan)); udp) s.udp_rules = *udp;
    else s.udp_refused = udp.error();
    return s;
}

}  // namespace pcscf::dp
