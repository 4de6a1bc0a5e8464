#pragma once
// How long SA installs take, from the record sent to the worker's acknowledgement read:
// buckets for a Prometheus histogram (pcscf_sa_install_seconds). Written by the thread
// that pumps SA events, read by the metrics thread: relaxed atomics, no lock.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace pcscf::ctl {

class LatencyHistogram {
public:
    // Upper bounds, seconds; a last bucket takes the rest (+Inf).
    static constexpr std::array<double, 12> kBounds = {50e-6, 100e-6, 250e-6, 500e-6, 1e-3,   2.5e-3,
                                                       5e-3,  10e-3,  25e-3,  50e-3,  100e-3, 250e-3};

    void observe(std::chrono::nanoseconds d) {
        const double s = std::chrono::duration<double>(d).count();
        size_t i = 0;
        while (i < kBounds.size() && s > kBounds[i]) ++i;
        buckets_[i].fetch_add(1, std::memory_order_relaxed);
        sum_ns_.fetch_add(uint64_t(d.count() > 0 ? d.count() : 0), std::memory_order_relaxed);
    }

    struct Snapshot {
        std::array<uint64_t, kBounds.size() + 1> cumulative{};  // observations <= each bound, then all
        double sum_s = 0;
    };
    Snapshot snapshot() const {
        Snapshot s;
        uint64_t total = 0;
        for (size_t i = 0; i < buckets_.size(); ++i)
            s.cumulative[i] = total += buckets_[i].load(std::memory_order_relaxed);
        s.sum_s = double(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
        return s;
    }

private:
    std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};
    std::atomic<uint64_t> sum_ns_{0};
};

}  // namespace pcscf::ctl
