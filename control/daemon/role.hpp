#pragma once
// The part this node plays (docs/operations.md, "Running a pair"), shared by the control
// thread, which changes it, and the telemetry thread, which shows it and passes on
// keepalived's requests (pcscf-espctl role primary|standby).
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string_view>

#include "control/standby/follower.hpp"

namespace pcscf::ctl {

enum class Role : uint8_t {
    single,       // no store, or an LMDB store: nobody to take over from
    primary,      // serving, the Redis store's writer (its epoch)
    standby,      // following the Redis store, passing no ESP
    taking_over,  // told to serve: claiming the store, catching up
    fenced,       // another node claimed the store since: this one stops
};

constexpr std::string_view name(Role r) {
    switch (r) {
        case Role::single: return "single";
        case Role::primary: return "primary";
        case Role::standby: return "standby";
        case Role::taking_over: return "taking over";
        case Role::fenced: return "fenced";
    }
    return "?";
}

struct RoleState {
    std::atomic<Role> role{Role::single};
    std::atomic<uint64_t> epoch{0};        // as primary: the epoch it claimed
    std::atomic<int64_t> takeover_ms{-1};  // how long the takeover took
    std::atomic<bool> takeover_requested{false};
    std::atomic<bool> stand_down_requested{false};
    std::mutex mu;  // guards follower (gone once it serves)
    const standby::Follower* follower = nullptr;
};

}  // namespace pcscf::ctl
