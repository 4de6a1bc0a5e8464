#pragma once
// ESP steered by SPI on the NIC, where it can: an rte_flow rule per worker sends the SPIs
// that worker owns (SpiLayout) to its receive queue, so ESP arrives at its SA's owner and
// nothing is handed between workers. RSS hashes addresses, which know nothing of SPIs: on
// a NIC without these rules (or with a layout no mask can express) the worker that gets a
// packet hands it to the owner over a ring instead (Worker, rings.hpp).
#include <cstdint>
#include <expected>
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

// Installs the matches on `port` for ESP over IPv4 and IPv6 (tagged `vlan` if not 0), all
// or none: the number of rules, or the NIC's reason (the port then keeps none).
std::expected<uint32_t, std::string> steer_esp(uint16_t port, const esp::SpiLayout& layout, uint16_t vlan);

}  // namespace pcscf::dp
