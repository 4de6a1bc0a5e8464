#pragma once
// Which packet sizes a pipeline run can offer without the worker fragmenting them.
#include <algorithm>
#include <cstdint>

#include "sa_contract/sa_config.hpp"

namespace pcscf::bench {

// The largest workload size (the ESP packet's IP length, a multiple of 4 as the
// workload's packets are, so with no padding) whose ESP packet fits the access MTU and
// whose decapsulated datagram fits the tap's. A larger one the worker fragments towards
// the kernel: another path, which the pipeline benchmark does not measure.
constexpr uint32_t largest_unfragmented(uint32_t access_mtu, uint32_t tap_mtu) {
    constexpr uint32_t esp_bytes = esp::kEspHeaderLen + esp::kEspTrailerLen + esp::kIcvLen;
    return std::min(access_mtu, tap_mtu + esp_bytes) & ~3u;
}

}  // namespace pcscf::bench
