#pragma once
// A standby's view of the Redis state store (redis_store.hpp): a snapshot of every record,
// then the change feed after the snapshot's position, entry by entry, so that the standby
// holds what the primary wrote, a few milliseconds behind it. It only reads; it has its
// own connection, for the standby's control thread.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "control/state/redis_store.hpp"

namespace pcscf::ctl::state {

class RedisFeed {
public:
    static Expected<RedisFeed> open(const RedisUrl& url);

    struct Snapshot {
        Records records;       // in key order
        std::string position;  // the feed's last entry when the snapshot began, "0-0" if none
        uint64_t serial = 0;   // its n
    };
    // Applying every feed entry after `position`, in order, to `records` gives the store's
    // state: the position is read before the records, and entries carry whole values, so a
    // record changed while the snapshot was read ends as its last entry says.
    Expected<Snapshot> snapshot();

    struct Change {
        std::string key;
        std::optional<std::string> value;  // nullopt: deleted
    };
    struct Entry {
        std::string id;       // the feed's id, "<millis>-<seq>"
        uint64_t serial = 0;  // n: one more than the entry before it
        uint64_t millis = 0;  // from the id: when Redis took the entry
        std::vector<Change> changes;
    };
    struct Follow {
        std::vector<Entry> entries;
        bool gap = false;  // entries after position are gone (trimmed, deleted, a clear): take a new snapshot
    };
    // Up to `max_entries` entries after `position`, waiting up to `wait` for one (0: does not
    // wait); `position` and `serial` move to the last one returned. On a gap nothing is
    // returned and they stay as they were.
    Expected<Follow> next(std::string& position, uint64_t& serial, std::chrono::milliseconds wait, size_t max_entries);

    // The epoch of the node that claimed the store last, 0 if none did.
    Expected<uint64_t> epoch();

private:
    struct Position {
        std::string id;       // the last entry's, "0-0" if the feed is empty
        uint64_t n = 0;       // its n; the store's serial if the feed is empty
        uint64_t serial = 0;  // the store's serial
    };
    explicit RedisFeed(RedisClient c);
    Expected<Position> position();
    Error failed(Error e, std::string_view doing) const;

    RedisClient client_;
    RedisKeys keys_;
    RedisScript position_;
};

}  // namespace pcscf::ctl::state
