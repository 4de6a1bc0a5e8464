#pragma once
// ESP steered by SPI on the NIC, where it can: an rte_flow rule per worker sends the SPIs
// that worker owns (SpiLayout) to its receive queue, so ESP arrives at its SA's owner and
// nothing is handed between workers. RSS hashes addresses, which know nothing of SPIs: on
// a NIC without these rules (or with a layout no mask can express) the worker that gets a
// packet hands it to the owner over a ring instead (Worker, rings.hpp).
//
// Bare ESP (over IPv4 and IPv6) and ESP in UDP to port 4500 (RFC 3948: UEs behind a NAT,
// TS 33.203 Annex M, IPv4) are two rule sets: a NIC that parses the SPI after a UDP
// header is rarer, so the second is installed only where the NIC takes it, and its ESP is
// handed over otherwise.
#include <rte_flow.h>

#include <array>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "sa_contract/spi_layout.hpp"

namespace pcscf::dp {

// SPIs whose bits under `mask` equal `value` go to queue `queue`.
struct SpiMatch {
    uint32_t value = 0, mask = 0;
    uint16_t queue = 0;
};

// One match per worker covering exactly the SPIs it owns. A mask can express ownership
// only when the worker count is a power of two that divides the layout's base (the owner
// is then the SPI's low bits); otherwise the reason why not.
std::expected<std::vector<SpiMatch>, std::string> spi_matches(const esp::SpiLayout& layout);

// How the ESP of a rule reaches us.
enum class EspCarrier : uint8_t {
    ipv4,      // IP protocol 50
    ipv6,      // next header 50
    udp_ipv4,  // in UDP to port 4500, over IPv4 (RFC 3948 2.1)
};

// One rule: its pattern (ETH [VLAN] IP [UDP] ESP) and its queue action, owning what the
// items point to (so it is not copied).
struct FlowRule {
    rte_flow_item_vlan vlan_spec{}, vlan_mask{};
    rte_flow_item_udp udp_spec{}, udp_mask{};
    rte_flow_item_esp esp_spec{}, esp_mask{};
    rte_flow_action_queue queue{};
    std::vector<rte_flow_item> pattern;
    std::array<rte_flow_action, 2> actions{};

    FlowRule(EspCarrier carrier, const SpiMatch& match, uint16_t vlan);
    FlowRule(const FlowRule&) = delete;
    FlowRule& operator=(const FlowRule&) = delete;
};

// What steer_esp() installed.
struct EspSteering {
    uint32_t rules = 0;       // bare ESP, IPv4 and IPv6
    uint32_t udp_rules = 0;   // ESP in UDP to port 4500
    std::string udp_refused;  // why not, where the bare ESP rules are in and these are not
};

// Installs the matches on `port` (tagged `vlan` if not 0): the bare ESP rules all or
// none, and then those for ESP in UDP all or none. The NIC's reason if it refuses the
// bare ESP rules (the port then keeps none).
std::expected<EspSteering, std::string> steer_esp(uint16_t port, const esp::SpiLayout& layout, uint16_t vlan);

// What steer_esp() did, for the start-up log and `pcscf-espctl config`.
std::string describe(const std::expected<EspSteering, std::string>& steering);

}  // namespace pcscf::dp
