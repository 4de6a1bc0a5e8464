#pragma once
// Which worker owns a UE's SAs. Outbound packets find their owner from the UE address;
// the control thread allocates the UE's inbound SPIs on the same worker (SpiLayout), so
// every SA of a UE lives on one worker and needs no locks.
#include <rte_hash_crc.h>

#include <cstdint>

#include "dataplane/esp/ip_addr.hpp"

namespace pcscf::dp {

inline uint32_t owner_of(const esp::IpAddr& ue, uint32_t workers) noexcept {
    return rte_hash_crc(ue.bytes.data(), uint32_t(ue.bytes.size()), 0x33203) % workers;
}

}  // namespace pcscf::dp
