#pragma once
// The operator's event stream (pcscf-espctl monitor): SA and registration events as
// lines of text in a ring of the last few thousand. Kept only while someone watches (a
// reader asked within the last 10 s), so the control thread formats nothing otherwise.
//
// Threading: add() from the control thread, since() from the telemetry thread; a mutex
// guards the ring (the control path may lock; the data path never sees this).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace pcscf::ctl {

class EventLog {
public:
    explicit EventLog(size_t capacity = 4096) : ring_(capacity) {}

    bool watched() const;
    // Stamps the line with the date and time (UTC, ms) and keeps it.
    void add(std::string_view text);

    struct Page {
        uint64_t next = 0;  // what to ask for next time
        uint64_t lost = 0;  // events from `since` on already overwritten
        std::vector<std::pair<uint64_t, std::string>> events;
    };
    // Up to `max` events numbered `since` and on; a reader is watching from now on.
    Page since(uint64_t since, size_t max);

private:
    mutable std::mutex mu_;
    std::vector<std::string> ring_;
    uint64_t next_ = 0;                      // the number the next event gets
    std::atomic<int64_t> watched_until_{0};  // steady clock, ns
};

}  // namespace pcscf::ctl
