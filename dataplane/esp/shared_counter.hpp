#pragma once
// Counters one worker writes while other threads (telemetry) read them. The worker adds
// with a relaxed atomic store of the new value: on x86 the same load, add and store as a
// plain increment, but the readers' relaxed loads are then well-defined reads, not a data
// race. Only the owning worker may call bump() on a counter.
#include <atomic>
#include <cstdint>

namespace pcscf::esp {

inline void bump(uint64_t& c, uint64_t n = 1) noexcept {
    std::atomic_ref<uint64_t>(c).store(c + n, std::memory_order_relaxed);
}

inline uint64_t peek(const uint64_t& c) noexcept {
    return std::atomic_ref<uint64_t>(const_cast<uint64_t&>(c)).load(std::memory_order_relaxed);
}

}  // namespace pcscf::esp
