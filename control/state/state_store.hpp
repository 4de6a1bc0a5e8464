#pragma once
// Where pcscf-espd keeps what must survive it: SAs (with their keys), sequence number
// checkpoints and registrations, as key -> value records (docs/architecture.md, "What
// survives a restart"). A backend writes batches atomically and reads everything back at
// start; StateWriter feeds it from the control thread without ever making it wait.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "control/error.hpp"

namespace pcscf::ctl::state {

// Changes to apply together: the value of each key put, or the key deleted.
struct Batch {
    std::vector<std::pair<std::string, std::string>> puts;
    std::vector<std::string> dels;
    bool empty() const { return puts.empty() && dels.empty(); }
};

using Records = std::vector<std::pair<std::string, std::string>>;

// The format every record is written in; a store written by another is refused at start.
inline constexpr std::string_view kFormatKey = "meta/format";
inline constexpr std::string_view kFormat = "pcscf-esp state 2";

// Where the control thread's objects (SaManager, Registrar) record their changes.
class StateSink {
public:
    virtual ~StateSink() = default;
    virtual void put(std::string key, std::string value) = 0;
    virtual void del(std::string key) = 0;
};

class StateBackend {
public:
    virtual ~StateBackend() = default;
    // All or nothing.
    virtual Expected<void> write(const Batch& b) = 0;
    // Every record, for the restore at start.
    virtual Expected<Records> load() = 0;
    // Every record to `each`, its key and value valid during the call only: where the
    // backend can, without copying them first.
    using Visit = std::function<void(std::string_view key, std::string_view value)>;
    virtual Expected<void> scan(const Visit& each) {
        auto records = load();
        if (!records) return std::unexpected(records.error());
        for (const auto& [k, v] : *records) each(k, v);
        return {};
    }
    // How many records there are, where the backend knows it cheaply.
    virtual std::optional<size_t> count() { return std::nullopt; }
    // Deletes every record (an explicit fresh start).
    virtual Expected<void> clear() = 0;
    virtual std::string describe() const = 0;  // for the log: "lmdb /var/lib/pcscf-esp"
    // Where the store's change feed stands after this backend's last write, for a standby
    // to be compared with ("" without a feed). Called from any thread.
    virtual std::string last_change() const { return {}; }
    // Whether this node may still write, asked by the writer while it has nothing to write,
    // so that a replaced primary or an emptied store shows without waiting for a change:
    // the errors of write() (Errc::fenced, Errc::not_found).
    virtual Expected<void> check() { return {}; }
    // A store that can lose its contents behind the daemon's back (a Redis restarted
    // without persistence): the writer then keeps a copy of every record, to write them
    // all again once reclaim() has made this node the emptied store's writer.
    virtual bool can_lose_contents() const { return false; }
    virtual Expected<void> reclaim() { return {}; }
};

}  // namespace pcscf::ctl::state
