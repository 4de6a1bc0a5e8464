#pragma once
// The proxy's transactions (RFC 3261 17), by the branch of the Via we put on each request
// we relay: where the request came from, what we sent, and the answer that went back, so
// that a retransmitted request gets that answer again (17.2.1) and neither the registrar
// nor the core sees it twice. Also which REGISTER of each UE is under way: one at a time.
//
// Threading: the control thread only.
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "control/proxy/endpoint.hpp"
#include "control/secagree/registrar.hpp"
#include "control/string_hash.hpp"

namespace pcscf::proxy {

using Clock = std::chrono::steady_clock;

// reg_subscribe: our own SUBSCRIBE to a UE's reg event (reg_event.hpp).
enum class Kind : uint8_t { sm1, sm7, deregister, ue_request, core_request, reg_subscribe };
std::string_view name(Kind k);

// to_ue's `conn` for a request over TCP: on our connection port_pc -> port_us.
inline constexpr uint32_t kOurConnection = ~0u;

// A message to a UE and how it goes: over `route` (unprotected to `plain` when the route
// is not protected); over TCP connection `conn` when not 0 (kOurConnection: ours to port_us).
struct ToUe {
    std::string bytes;
    net::IpAddr ue;
    secagree::Route route;
    Endpoint plain;
    uint32_t conn = 0;
    std::string label;  // for the log
};

// The answer that went back for a transaction, to send again for a retransmission.
struct Answer {
    std::optional<ToUe> ue;        // to the UE, or
    std::optional<Endpoint> core;  // to the core (a UE's answer to the core's request)
    std::string core_bytes;
};

struct Txn {
    Kind kind = Kind::ue_request;
    std::string impi{};        // the UE's IMPI; for the core's requests the IMPU
    secagree::Arrival from{};  // the UE's request: where it came from
    Endpoint ue_reply{};       // unprotected answers go here (Via / rport)
    Endpoint core_from{};      // the core's request: who sent it
    std::string request{};     // as received, to answer it ourselves
    std::string relayed{};     // as sent, for retransmissions
    Clock::time_point created{};
    std::string their{};  // the sender's branch @ its address
    // Once the final answer went back the transaction is completed (RFC 3261 17.2.1).
    bool done = false;
    // An INVITE that got a 1xx waits for its callee: no 408 for it, and it is kept past
    // the lifetime until then (RFC 3261 16.8's Timer C, 3 minutes from the last 1xx), as
    // a call may ring longer than 32 s. Unset otherwise.
    Clock::time_point ringing_until{};

    void answered_provisionally(Clock::time_point now) {
        if (request.starts_with("INVITE ")) ringing_until = now + std::chrono::minutes(3);
    }
    std::optional<Answer> answer{};

    // The answer that went back: from now on only it is needed, for retransmissions, and
    // the request as received and as relayed are let go (a completed UDP transaction
    // lives 32 s, RFC 3261 17.2.2: at 20,000 registrations/s that is a million of them).
    void settle(Answer a) {
        answer = std::move(a);
        std::string().swap(request);
        std::string().swap(relayed);
    }
};

using UeKey = std::pair<std::string, net::IpAddr>;  // IMPI, UE address

class Transactions {
public:
    // `expected`: how many are kept at most (room made at once, so that the table never
    // rehashes a million entries in one go while the control thread waits).
    explicit Transactions(std::chrono::milliseconds lifetime, size_t expected = 0);

    std::string new_branch();
    Txn& add(const std::string& branch, Txn t);
    Txn* find(std::string_view branch);
    // The transaction of a retransmitted request: the sender's branch at its address.
    std::pair<const std::string, Txn>* find_theirs(const std::string& their);

    // One REGISTER of a UE between it and the core at a time (RFC 3261 10.2 asks it of the
    // UE): from the REGISTER's relaying until its final answer went back to the UE.
    bool registering(const UeKey& k) const { return registering_.contains(k); }
    void registration_started(const UeKey& k, const std::string& branch) { registering_[k] = branch; }
    void registration_done(const UeKey& k, const std::string& branch);

    // Each transaction created `after` ago or earlier that has no final answer yet, once,
    // oldest first, to `f(branch, txn)`; `after` must be below the lifetime.
    template <typename F>
    void unanswered(Clock::time_point now, std::chrono::milliseconds after, F f) {
        for (; looked_ < by_age_.size() && now - by_age_[looked_].first >= after; ++looked_) {
            auto it = txns_.find(by_age_[looked_].second);
            if (it != txns_.end() && it->second.created == by_age_[looked_].first && !it->second.done)
                f(it->first, it->second);
        }
    }
    // Each transaction created less than `within` ago that has no final answer yet,
    // newest first, to `f(branch, txn)`.
    template <typename F>
    void recent(Clock::time_point now, std::chrono::milliseconds within, F f) {
        for (auto a = by_age_.rbegin(); a != by_age_.rend() && now - a->first < within; ++a) {
            auto it = txns_.find(a->second);
            if (it != txns_.end() && it->second.created == a->first && !it->second.done) f(it->first, it->second);
        }
    }
    // Forgets transactions older than the lifetime (RFC 3261 64*T1), and the registrations
    // whose transaction they were.
    void expire(Clock::time_point now);
    size_t size() const { return txns_.size(); }

private:
    std::chrono::milliseconds lifetime_;
    // Hashed: a storm keeps a million of them, whose keys share long prefixes (our branch
    // prefix, "z9hG4bK"), which an ordered map compares again at every level.
    std::unordered_map<std::string, Txn, ctl::StringHash, std::equal_to<>> txns_;  // by our branch
    std::unordered_map<std::string, std::string, ctl::StringHash, std::equal_to<>>
        by_their_branch_;  // UE / core branch @ source -> ours
    std::map<UeKey, std::string> registering_;
    // Our branches in the order they were added: with one lifetime for all, the oldest are
    // at the front, so expiring reads only what expires (no scan of every transaction).
    std::deque<std::pair<Clock::time_point, std::string>> by_age_;
    size_t looked_ = 0;  // by_age_'s entries unanswered() has seen
    std::string branch_prefix_;
    uint64_t next_branch_ = 1;
};

}  // namespace pcscf::proxy
