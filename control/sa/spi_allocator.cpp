#include "control/sa/spi_allocator.hpp"

#include <algorithm>

namespace pcscf::ctl {

SpiAllocator::SpiAllocator(const esp::SpiLayout& layout)
    : layout_(layout),
      bits_(layout.workers, std::vector<uint64_t>((layout.slots_per_worker + 63) / 64, 0)),
      cursor_(layout.workers, 0),
      used_(layout.workers, 0) {}

std::optional<uint32_t> SpiAllocator::allocate(uint32_t worker, std::span<const uint32_t> avoid) {
    const uint32_t slots = layout_.slots_per_worker;
    if (used_[worker] >= slots) return std::nullopt;
    auto& bits = bits_[worker];
    for (uint32_t n = 0; n < slots; ++n) {
        const uint32_t slot = (cursor_[worker] + n) % slots;
        if (bits[slot / 64] & (uint64_t{1} << (slot % 64))) continue;
        const uint32_t spi = layout_.spi_of(worker, slot);
        if (std::find(avoid.begin(), avoid.end(), spi) != avoid.end()) continue;
        bits[slot / 64] |= uint64_t{1} << (slot % 64);
        cursor_[worker] = (slot + 1) % slots;
        ++used_[worker];
        return spi;
    }
    return std::nullopt;
}

bool SpiAllocator::reserve(uint32_t spi) {
    if (!layout_.contains(spi) || in_use(spi)) return false;
    const uint32_t w = layout_.owner(spi), slot = layout_.slot(spi);
    bits_[w][slot / 64] |= uint64_t{1} << (slot % 64);
    ++used_[w];
    return true;
}

void SpiAllocator::release(uint32_t spi) {
    if (!in_use(spi)) return;
    const uint32_t w = layout_.owner(spi), slot = layout_.slot(spi);
    bits_[w][slot / 64] &= ~(uint64_t{1} << (slot % 64));
    --used_[w];
}

bool SpiAllocator::in_use(uint32_t spi) const {
    if (!layout_.contains(spi)) return false;
    const uint32_t w = layout_.owner(spi), slot = layout_.slot(spi);
    return bits_[w][slot / 64] & (uint64_t{1} << (slot % 64));
}

}  // namespace pcscf::ctl
