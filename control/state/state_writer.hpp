#pragma once
// Writes the control thread's changes to a StateBackend from a thread of its own, so the
// control thread never waits for a disk or a network. put() and del() only note the
// change (the latest per key wins) under a short lock; the writer takes what is pending
// every few milliseconds, writes it as one batch, and keeps it pending when the backend
// fails, to try again. A store that is down holds nothing up: the outage is counted and
// logged once, and the writer catches up when the store is back. While idle it asks the
// store every second whether this node may still write (fenced, emptied). A store that can
// lose its contents gets everything written again once it is back empty: the writer keeps
// a copy of every record for that.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "control/state/state_store.hpp"

namespace pcscf::ctl::state {

struct WriterStats {
    uint64_t batches = 0, records = 0;  // written
    uint64_t failures = 0;              // batches the backend refused (kept, written again)
    size_t pending = 0;                 // changes not yet written
    bool healthy = true;                // the last write succeeded
    bool fenced = false;                // another node claimed the store: nothing is written any more
    bool emptied = false;               // the store lost its contents: to be claimed and written again
    uint64_t rewrites = 0;              // times every record was written again into an emptied store
};

class StateWriter final : public StateSink {
public:
    using Log = std::function<void(bool healthy, std::string_view line)>;

    StateWriter(std::unique_ptr<StateBackend> backend, Log log);
    ~StateWriter() override;  // writes what is pending first (as flush())

    // The records the store holds already (read at start): kept for a rewrite, not written.
    void seed(Records records);
    void put(std::string key, std::string value) override;
    void del(std::string key) override;
    // Waits until everything noted so far is written; false if it is not within `timeout`.
    bool flush(std::chrono::milliseconds timeout);
    WriterStats stats() const;
    std::string last_change() const { return backend_->last_change(); }
    // The writer's thread, for the daemon to move it off the CPUs of the control thread and
    // the workers (it starts on the creator's).
    std::thread::native_handle_type native_handle() { return thread_.native_handle(); }

private:
    void run();
    // Under mu_, unlocking it while the backend works; false when the loop should end.
    bool check_idle(std::unique_lock<std::mutex>& lock);
    void rewrite_all(std::unique_lock<std::mutex>& lock);
    void failed(const Error& e);  // under mu_: counted, logged once, fenced or emptied noted

    std::unique_ptr<StateBackend> backend_;
    Log log_;
    mutable std::mutex mu_;
    std::condition_variable wake_, written_;
    std::unordered_map<std::string, std::optional<std::string>> pending_;  // nullopt: delete
    const bool keep_all_;                                                  // backend_->can_lose_contents()
    std::unordered_map<std::string, std::string> all_;                     // every record, if keep_all_
    size_t in_flight_ = 0;  // changes taken by the writer, not yet written
    WriterStats stats_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace pcscf::ctl::state
