#pragma once
// The shared state store: Redis, so that a standby on another host can follow what the
// primary writes (RedisFeed) and take over with it. Under the URL's prefix:
//   <prefix>:records  a hash, record key -> value
//   <prefix>:changes  a stream, the change feed: each entry holds n (its serial) and the
//                     changes, "+<key>" -> value for a put, "-<key>" -> "" for a delete
//   <prefix>:epoch    bumped by each node that becomes primary (claim())
//   <prefix>:serial   feed entries ever written (and one per clear(), see there)
// A write is one Lua script, so the hash and the feed change together, and only while the
// epoch is still the writer's: a primary that was replaced (fenced) cannot overwrite its
// successor's records. Unlike LMDB, a write is as durable as Redis is configured to make it
// (appendonly, replicas).
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "control/state/redis_client.hpp"
#include "control/state/state_store.hpp"

namespace pcscf::ctl::state {

struct RedisKeys {
    explicit RedisKeys(const std::string& prefix)
        : records(prefix + ":records"),
          changes(prefix + ":changes"),
          epoch(prefix + ":epoch"),
          serial(prefix + ":serial") {}
    std::string records, changes, epoch, serial;
};

// Every field of the hash `key` (HSCAN, 1000 at a time), in key order.
Expected<Records> scan_records(RedisClient& c, const std::string& key);

class RedisBackend final : public StateBackend {
public:
    // Connects once, so that an unreachable Redis or a wrong password is an error now.
    static Expected<std::unique_ptr<RedisBackend>> open(const RedisUrl& url);

    // Makes this node the store's writer: bumps the epoch and writes with it from now on.
    // A node that claimed before is fenced: its writes fail with Errc::fenced.
    Expected<uint64_t> claim();

    // Errc::invalid before claim(), Errc::fenced once another node claimed, Errc::not_found
    // when the store lost its contents (no epoch: Redis restarted empty, or was flushed),
    // Errc::io while Redis cannot be reached (the next call connects again).
    Expected<void> write(const Batch& b) override;
    Expected<Records> load() override;
    // Deletes the records and the feed, epoch-checked like write(). It also bumps the serial
    // without an entry: a follower sees that jump as a gap and takes a new snapshot.
    Expected<void> clear() override;
    std::string describe() const override { return "redis " + client_.url().str(); }
    Expected<void> check() override;
    bool can_lose_contents() const override { return true; }
    Expected<void> reclaim() override;

    // The feed id of the last entry this backend wrote, "" if none: what a standby's
    // position should reach. Safe to call from any thread.
    std::string last_change() const override;

private:
    explicit RedisBackend(RedisClient c);
    Error failed(Error e, std::string_view doing) const;

    RedisClient client_;
    RedisKeys keys_;
    RedisScript write_, clear_, check_;
    uint64_t epoch_ = 0;  // 0: not claimed
    mutable std::mutex mu_;
    std::string last_;  // under mu_
};

}  // namespace pcscf::ctl::state
