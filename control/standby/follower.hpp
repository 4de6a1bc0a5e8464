#pragma once
// A standby node's control thread: it follows the primary's store in Redis (a snapshot,
// then the change feed entry by entry) and keeps WarmSas in step with it, so that taking
// over costs a catch-up and a sequence-number move per SA, not an installation
// (docs/architecture.md, "A standby that takes over").
//
// Threading: the control thread; status() also from the telemetry thread.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "control/standby/warm_sas.hpp"
#include "control/state/redis_feed.hpp"

namespace pcscf::ctl::standby {

struct FollowStatus {
    std::string position;      // the feed entry applied last ("0-0": none yet)
    uint64_t serial = 0;       // its serial number
    uint64_t entries = 0;      // feed entries applied since the start
    uint64_t snapshots = 0;    // full reads: the first, and one after each gap in the feed
    int64_t lag_ms = 0;        // how long after Redis took the last entry it was applied
    uint64_t feed_errors = 0;  // reads of the store that failed (Redis unreachable)
    bool healthy = true;       // the last read succeeded
    WarmStats warm;
};

class Follower {
public:
    using Warn = WarmSas::Warn;
    static Expected<std::unique_ptr<Follower>> open(const state::RedisUrl& url, esp::SaChannel& rings,
                                                    const esp::SpiLayout& layout, Warn warn);

    // Before the workers run: the store's snapshot, each SA through `preload`.
    Expected<size_t> start(const SaManager::Install& preload);
    // One round of the control thread: feed entries since the last round applied (up to a
    // batch, without waiting), acknowledgements read. A store that cannot be read is
    // counted, warned about once, and read again a little later.
    void follow(std::chrono::steady_clock::time_point now);
    // Every entry written so far applied and acknowledged (the takeover, after the claim).
    Expected<void> catch_up(std::chrono::milliseconds timeout);

    WarmSas& warm() { return warm_; }
    FollowStatus status() const;

private:
    Follower(state::RedisFeed feed, esp::SaChannel& rings, const esp::SpiLayout& layout, Warn warn)
        : feed_(std::move(feed)), warm_(rings, layout, warn), warn_(std::move(warn)) {}
    // Entries after the position applied; false when there was nothing new.
    Expected<bool> step(size_t max_entries);
    Expected<void> snapshot();

    state::RedisFeed feed_;
    WarmSas warm_;
    Warn warn_;
    std::chrono::steady_clock::time_point retry_at_{};
    mutable std::mutex mu_;
    FollowStatus status_;  // under mu_ (the warm stats are filled in by status())
    WarmStats warm_stats_;
};

}  // namespace pcscf::ctl::standby
