#pragma once
// Which worker owns a UE's SAs. Outbound packets find their owner from the UE address;
// the control thread allocates the UE's inbound SPIs on the same worker (SpiLayout), so
// every SA of a UE lives on one worker and needs no locks.
#include <rte_hash_crc.h>

#include <array>
#include <cstdint>

#include "dataplane/esp/ip_addr.hpp"

namespace pcscf::dp {

inline uint32_t owner_of(const esp::IpAddr& ue, uint32_t workers) noexcept {
    // rte_hash_crc reads 8 bytes at a time and needs them aligned; IpAddr is not.
    alignas(8) const std::array<uint8_t, 16> key = ue.bytes;
    return rte_hash_crc(key.data(), uint32_t(key.size()), 0x33203) % workers;
}

}  // namespace pcscf::dp
