#pragma once
// The control thread's view of every SA: it validates requests, chooses the owning worker
// and the inbound SPI, expands the key, sends the record over that worker's ring, and
// follows the acknowledgements and events that come back. The workers' tables are never
// touched from here.
//
// Threading: called from the control thread and the telemetry thread; a mutex guards the
// registry (the control path may lock; the data path never does).
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "control/error.hpp"
#include "control/sa/latency_histogram.hpp"
#include "control/sa/sa_info.hpp"
#include "control/sa/sa_state.hpp"
#include "control/sa/spi_allocator.hpp"
#include "control/state/state_store.hpp"
#include "sa_contract/esp_keys.hpp"
#include "sa_contract/imb_manager.hpp"
#include "sa_contract/sa_channel.hpp"

namespace pcscf::ctl {

class SaManager {
public:
    // Called for acknowledgements (kind `applied`, with the result) and data-path events,
    // with the SA as it was when the event arrived. Runs on the thread that pumps events.
    using Listener = std::function<void(const SaInfo&, const esp::SaEvent&)>;

    SaManager(esp::SaChannel& rings, const esp::SpiLayout& layout);

    // Refused with Errc::busy while the worker's command ring (or its backlog) is full;
    // Errc::invalid for a bad request, exists for an SPI or selectors in use, exhausted
    // when the worker has no free inbound SPI.
    Expected<SaId> add(const SaRequest& req);
    // The SAs of one UE's set, all or none, as one group: one enqueue on their worker's
    // ring (they must all belong to one), so the worker applies them together and answers
    // them in one enqueue; a key shared by consecutive requests is expanded once. The ids
    // in the order of `reqs`.
    Expected<std::vector<SaId>> add_all(std::span<const SaRequest> reqs);
    // Never refused for a known SA (not_found otherwise): on a full ring the removal waits
    // in a backlog that pump() sends on in order, so no SA is left installed behind its
    // owner's back.
    Expected<void> remove(SaId id);
    // Several, as one group when they are one worker's and its ring has room for all (one
    // enqueue), else one by one as remove(); unknown ids are passed over.
    void remove_all(std::span<const SaId> ids);
    // SaRecord::cipher for a pair from the AKA keys (esp::cipher_key, TS 33.203 Annex I),
    // with this manager's IPsec-MB manager under its lock (the telemetry thread adds SAs
    // too). Errc::refused: a 3DES key refused as weak, or a pair Annex H does not allow.
    Expected<esp::CipherKey> cipher_key(esp::Alg alg, esp::Ealg ealg, esp::AkaKey ck, esp::AkaKey ik);
    // New integrity algorithm and key for an active SA; its sequence and replay state, and
    // its encryption (ealg, CK_ESP), are kept.
    Expected<void> rekey(SaId id, esp::Alg alg, std::span<const uint8_t> key);
    // A UDP-enc-tun SA's NAT port (TS 33.203 Annex M, RFC 3948): an update record with
    // everything else as it is. Never refused for a known UDP-enc-tun SA (not_found
    // otherwise, invalid for a transport SA): on a full ring it waits in the backlog.
    Expected<void> set_encap_port(SaId id, uint16_t port);

    // Sends what waits in the backlogs, then drains the workers' event rings; returns how
    // many events were handled.
    uint32_t pump();
    size_t backlog() const;  // removals waiting for room in a command ring
    void handle(const esp::SaEvent& e);

    std::optional<SaInfo> find(SaId id) const;
    // True while an update record sent to SA `id` is not yet acknowledged: its worker
    // still has the SA as it was (a NAT port it does not send to yet).
    bool updating(SaId id) const;
    // The ids of the SAs `pred` picks, in id order.
    std::vector<SaId> select(const std::function<bool(const SaInfo&)>& pred) const;
    std::optional<SaId> find_inbound(uint32_t spi) const;
    std::vector<SaInfo> list(size_t offset, size_t max) const;
    size_t size() const;
    // Each install's record sent -> acknowledgement read, for the metrics.
    const LatencyHistogram& install_latency() const { return install_latency_; }
    void set_listener(Listener l);

    // What survives a restart: every SA added (with its key) and every sequence
    // checkpoint the workers report (every `checkpoint_interval` packets) go to `sink`,
    // marked with this start's `generation` (sa_state.hpp).
    void set_state(state::StateSink* sink, uint32_t checkpoint_interval, uint32_t generation = 0);
    // Takes back the SAs a state store kept, before the workers run: each goes into the
    // registry as it was (same id, SPI and worker) and to `install` (which applies its
    // record straight to the worker's engine: 0 and the SA's place, or a negative errno),
    // its sequence numbers resuming where `marks` allow (resume_at). One that cannot come
    // back (its SPI outside the layout now, its worker refusing it) is named to `warn` and
    // deleted from the store. Returns the ids of those that came back, in order.
    using Install = std::function<int(uint32_t worker, const esp::SaRecord& rec, int32_t& handle)>;
    std::vector<SaId> restore(std::vector<StoredSa> sas, std::vector<std::pair<SaId, SeqMark>> marks,
                              const Install& install, const std::function<void(const std::string&)>& warn);
    // At a clean stop, once the workers are done: each SA's exact sequence number, as
    // `seq_of` reads it from its worker's table, goes to the store.
    void store_exact_seqs(const std::function<std::optional<uint32_t>(const SaInfo&)>& seq_of);

private:
    Expected<IMB_MGR*> imb();
    Expected<esp::HmacKey> expand(esp::Alg alg, std::span<const uint8_t> key);
    // An SA checked, its SPI allocated and its key expanded: all but sent.
    struct Prepared {
        SaInfo sa;
        esp::HmacKey key;
    };
    Expected<Prepared> prepare(const SaRequest& req, SaId id, const esp::HmacKey* expanded);
    void unprepare(const SaInfo& sa);                 // gives its SPI back
    void removing(SaInfo& sa);                        // its removal sent
    SaId commit(SaInfo sa, const esp::HmacKey& key);  // sent: known from now on
    esp::SaRecord record(const SaInfo& sa, esp::SaOp op, const esp::HmacKey& key);
    // A remove (and an update when `may_wait`) waits in the backlog on a full ring.
    Expected<void> send(SaInfo& sa, esp::SaOp op, const esp::HmacKey& key, bool may_wait = false);
    // One worker's records in one enqueue, all or none (false: not now).
    bool send_together(uint32_t worker, std::span<const esp::SaRecord> recs);
    void forget(std::map<SaId, SaInfo>::iterator it);

    mutable std::mutex mu_;
    esp::SaChannel& rings_;
    esp::SpiLayout layout_;
    SpiAllocator spis_;
    std::optional<esp::ImbManager> imb_;
    std::map<SaId, SaInfo> sas_;
    std::unordered_map<uint32_t, SaId> inbound_by_spi_;
    std::vector<std::deque<esp::SaRecord>> backlog_;  // per worker, FIFO ahead of new records
    std::map<std::tuple<std::array<uint8_t, 16>, uint16_t, uint16_t>, SaId> outbound_by_key_;
    SaId next_id_ = 1;
    state::StateSink* state_ = nullptr;
    uint32_t checkpoint_interval_ = 0;
    uint32_t generation_ = 0;
    uint32_t next_request_ = 1;
    Listener listener_;
    LatencyHistogram install_latency_;
};

}  // namespace pcscf::ctl
