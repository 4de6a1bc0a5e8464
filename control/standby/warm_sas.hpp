#pragma once
// A standby's copy of the primary's state: every record of the store, as the change feed
// tells them, and every SA among them installed in this node's workers, so that taking
// over only moves each SA's sequence numbers on (SaOp::resume) instead of installing it.
// The SAs are placed as SaManager places them (esp::owner_of, the SPI layout), so
// SaManager::restore finds each where it would have put it.
//
// Threading: the control thread only. While the node is a standby it is the only reader
// of the workers' event rings; it hands them to SaManager once settled after a takeover.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "control/sa/sa_manager.hpp"
#include "control/state/state_store.hpp"
#include "sa_contract/sa_channel.hpp"

namespace pcscf::ctl::standby {

struct WarmStats {
    size_t records = 0;    // records of the store held
    size_t sas = 0;        // SAs installed in the workers
    uint64_t refused = 0;  // SAs a worker refused, or that do not fit this node's layout
    size_t in_flight = 0;  // records sent to the workers, not acknowledged yet
};

class WarmSas {
public:
    using Warn = std::function<void(const std::string&)>;
    WarmSas(esp::SaChannel& rings, const esp::SpiLayout& layout, Warn warn);

    // The snapshot the standby starts from, before the workers run: each SA straight into
    // its worker's table through `install` (Dataplane::preload).
    void load(const state::Records& records, const SaManager::Install& install);
    // A record changed (`value`) or went (nullopt): SAs follow on the workers' rings.
    void apply(const std::string& key, const std::optional<std::string>& value);
    // The store's records replaced (a new snapshot): SAs no longer there leave the
    // workers, new or changed ones are installed.
    void resync(const state::Records& records);
    // Sends what waits for room in a ring and reads the workers' acknowledgements. Events
    // that answer none of this object's records (SaManager's, once it runs during the
    // takeover) go to `others`.
    void pump();
    void forward_others(std::function<void(const esp::SaEvent&)> others) { others_ = std::move(others); }
    // Pumps until every record sent is acknowledged; false if not within `timeout`.
    bool settle(std::chrono::milliseconds timeout);

    // The takeover, as SaManager::restore's Install: an SA already warm with this
    // configuration is resumed at rec.sa.seq_start (acknowledged later, see settle()); any
    // other is installed now, its acknowledgement awaited. 0 and the SA's place, or a
    // negative errno.
    int take_over(uint32_t worker, const esp::SaRecord& rec, int32_t& handle);
    // After the takeover's restore: warm SAs it did not take leave the workers.
    void release_unclaimed();

    // The store's records, for the takeover's restore; this object keeps none after.
    state::Records take_records();
    WarmStats stats() const;

private:
    struct Sa {
        esp::SaConfig cfg;
        esp::HmacKey key;
        esp::CipherKey cipher;  // CK_ESP; empty for ealg=null
        uint32_t worker = 0;
        int32_t handle = -1;  // from the add's acknowledgement
        bool claimed = false;
    };
    std::optional<uint32_t> owner(const esp::SaConfig& cfg) const;
    void send(uint32_t worker, esp::SaOp op, const Sa& sa);
    void install(SaId id, const std::string& value);
    void uninstall(SaId id);
    void on_event(const esp::SaEvent& e);

    esp::SaChannel& rings_;
    esp::SpiLayout layout_;
    Warn warn_;
    std::map<std::string, std::string> records_;  // in key order, for the takeover
    std::unordered_map<SaId, Sa> sas_;
    std::vector<std::deque<esp::SaRecord>> backlog_;  // per worker: records waiting for ring room
    // Records sent and not acknowledged, by SA and operation: what SaManager sends during
    // the takeover never matches one (it removes SAs it took, this object only others).
    std::unordered_map<uint64_t, uint32_t> in_flight_;
    size_t n_in_flight_ = 0;
    std::function<void(const esp::SaEvent&)> others_;
    uint64_t refused_ = 0;
};

}  // namespace pcscf::ctl::standby
