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

// The same owner and slot, for the packet path: the worker count's reciprocal is computed
// once, so an SPI costs two multiplications instead of a division (Lemire, Kaser, Kurz,
// "Faster remainder by direct computation", 2019: exact for every 32-bit dividend).
class FastSpiLayout {
public:
    explicit FastSpiLayout(const SpiLayout& l) noexcept
        : layout_(l), span_(l.span()), reciprocal_(l.workers > 1 ? ~uint64_t{0} / l.workers + 1 : 0) {}

    const SpiLayout& layout() const noexcept { return layout_; }
    bool contains(uint32_t spi) const noexcept { return layout_.contains(spi); }
    uint32_t owner(uint32_t spi) const noexcept {
        const uint64_t fraction = reciprocal_ * (spi - layout_.base);  // of (spi - base) / workers
        return uint32_t(high64(fraction, layout_.workers));
    }
    uint32_t slot(uint32_t spi) const noexcept {
        const uint32_t off = spi - layout_.base;
        return reciprocal_ == 0 ? off : uint32_t(high64(reciprocal_, off));
    }
    bool owned_by(uint32_t spi, uint32_t worker) const noexcept { return contains(spi) && owner(spi) == worker; }
    // Both at once, as a packet needs them: whether `worker` owns `spi`, and if so its slot.
    bool owned_slot(uint32_t spi, uint32_t worker, uint32_t& slot) const noexcept {
        const uint32_t off = spi - layout_.base;  // below the base it wraps past the span (valid())
        if (off >= span_) return false;
        if (reciprocal_ == 0) {
            slot = off;
            return worker == 0;
        }
        if (uint32_t(high64(reciprocal_ * off, layout_.workers)) != worker) return false;
        slot = uint32_t(high64(reciprocal_, off));
        return true;
    }

private:
    // The high 64 bits of the 96-bit product a * b.
    static uint64_t high64(uint64_t a, uint32_t b) noexcept {
        return ((a >> 32) * b + ((a & 0xffffffff) * b >> 32)) >> 32;
    }
    SpiLayout layout_;
    uint64_t span_;        // layout_.span()
    uint64_t reciprocal_;  // ceil(2^64 / workers); 0 for one worker
};

}  // namespace pcscf::esp
