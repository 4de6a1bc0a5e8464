#pragma once
// Inbound SPIs for the SAs the P-CSCF creates. Each worker has its own slots (SpiLayout),
// so an SPI names its worker and table slot. Allocation walks forward from where the
// last one ended, so a just-freed SPI is not reused at once (late packets of a deleted SA
// then meet "unknown SPI", not a new SA).
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "sa_contract/spi_layout.hpp"

namespace pcscf::ctl {

class SpiAllocator {
public:
    explicit SpiAllocator(const esp::SpiLayout& layout);

    // A free SPI on `worker` that is none of `avoid` (TS 33.203 7.1: the P-CSCF's SPIs
    // differ from the UE's), or nothing when the worker's slots are all taken.
    std::optional<uint32_t> allocate(uint32_t worker, std::span<const uint32_t> avoid);
    // Marks a chosen SPI used; false if it is outside the layout or already used.
    bool reserve(uint32_t spi);
    void release(uint32_t spi);
    bool in_use(uint32_t spi) const;
    uint32_t used(uint32_t worker) const { return used_[worker]; }

private:
    esp::SpiLayout layout_;
    std::vector<std::vector<uint64_t>> bits_;  // per worker, one bit per slot
    std::vector<uint32_t> cursor_, used_;
};

}  // namespace pcscf::ctl
