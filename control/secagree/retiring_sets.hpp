#pragma once
// SA sets on their way out after a final answer went over them: a de-registration's 200
// or a failed registration's error. The answer was handed to the kernel, not yet to the
// datapath, and a request the UE sent just before may still be answered. So a set's
// inbound SAs go after a grace, and its outbound SAs one grace later: nothing can arrive
// over it any more, while what arrived before can still be answered over it.
//
// A retiring set belongs to no registration: a new registration of the same UE starts
// beside it and is never touched by its deletion. Until its SAs are gone it still
// counts for TS 33.203 7.1 rule 3 (its (UE address, port) pairs are in use, its SAs
// count against the IMPI's six per direction).
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <tuple>

#include "control/secagree/sa_set.hpp"

namespace pcscf::secagree {

using Clock = std::chrono::steady_clock;

class RetiringSets {
public:
    explicit RetiringSets(std::chrono::milliseconds grace) : grace_(grace) {}

    // `set` with the ids of SAs already deleted set to 0.
    void add(const std::string& impi, const SaSet& set, Clock::time_point now);
    // Deletes what is due through `sas`.
    void tick(ctl::SaManager& sas, Clock::time_point now);

    // SAs per direction the IMPI's retiring sets still hold (the outbound side, which
    // goes last).
    uint32_t sas_of(const std::string& impi) const;
    // Whether an SA of a retiring set names this UE port (rule 3), or this UE port and
    // P-CSCF port pair (an outbound SA's selectors, which must stay unique).
    bool port_in_use(const net::IpAddr& ue, uint16_t ue_port) const;
    bool flow_in_use(const net::IpAddr& ue, uint16_t ue_port, uint16_t pcscf_port) const;
    size_t size() const { return inbound_.size() + outbound_.size(); }

private:
    struct Entry {
        std::string impi;
        SaSet set;
        Clock::time_point due;
    };
    using Flow = std::tuple<net::IpAddr, uint16_t, uint16_t>;  // UE, UE port, P-CSCF port
    void forget(const Entry& e);

    std::chrono::milliseconds grace_;
    std::deque<Entry> inbound_;   // every SA still installed; inbound SAs go at `due`
    std::deque<Entry> outbound_;  // only outbound SAs left; they go at `due`
    std::map<std::string, uint32_t> per_impi_;
    std::multiset<Flow> flows_;  // the outbound SAs' selectors
};

}  // namespace pcscf::secagree
