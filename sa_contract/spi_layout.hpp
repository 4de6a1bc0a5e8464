#pragma once
// How inbound SPIs map to workers and table slots. The P-CSCF allocates inbound SPIs
// itself, so it allocates them such that the SPI alone names the owning worker and the
// slot in that worker's table: lookup is one array index, at any number of SAs.
#include <cstdint>

namespace pcscf::esp {

struct SpiLayout {
    uint32_t base = 0x1000;  // first SPI used (1-255 are reserved by IANA)
    uint32_t workers = 1;
    uint32_t slots_per_worker = 1 << 16;

    uint64_t span() const noexcept { return uint64_t{workers} * slots_per_worker; }
    bool valid() const noexcept {
        return base >= 256 && workers > 0 && slots_per_worker > 0 && uint64_t{base} + span() - 1 <= UINT32_MAX;
    }
    bool contains(uint32_t spi) const noexcept { return spi >= base && uint64_t{spi} - base < span(); }
    // Consecutive SPIs belong to consecutive workers, so allocation spreads evenly.
    uint32_t owner(uint32_t spi) const noexcept { return (spi - base) % workers; }
    bool owned_by(uint32_t spi, uint32_t worker) const noexcept { return contains(spi) && owner(spi) == worker; }
    uint32_t slot(uint32_t spi) const noexcept { return (spi - base) / workers; }
    uint32_t spi_of(uint32_t worker, uint32_t slot) const noexcept { return base + slot * workers + worker; }
};

}  // namespace pcscf::esp
