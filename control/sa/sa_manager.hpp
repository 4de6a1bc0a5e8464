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
#include <string>
#include <unordered_map>
#include <vector>

#include "control/error.hpp"
#include "control/sa/spi_allocator.hpp"
#include "sa_contract/imb_manager.hpp"
#include "sa_contract/sa_channel.hpp"

namespace pcscf::ctl {

using SaId = uint64_t;

struct SaRequest {
    esp::Direction dir = esp::Direction::inbound;
    esp::Alg alg = esp::Alg::hmac_sha1_96;
    std::vector<uint8_t> key;  // IK_ESP: 16 bytes (MD5) or 20 (SHA-1)
    uint32_t spi = 0;          // outbound: the UE's SPI; inbound: 0 = allocate
    net::IpAddr ue, pcscf;
    uint16_t ue_port = 0, pcscf_port = 0;
    std::vector<uint32_t> avoid_spis;  // inbound allocation differs from these (the UE's)
    std::string label;                 // who asked: "manual", an IMPI
};

enum class SaState : uint8_t {
    pending,   // record sent, not yet acknowledged
    active,    // installed on its worker
    removing,  // delete sent, not yet acknowledged
};
std::string_view name(SaState s);
// "ok" or what a worker's negative errno means for an SA record.
std::string describe_result(int result);

struct SaInfo {
    SaId id = 0;
    esp::SaConfig cfg;
    uint32_t worker = 0;
    int32_t handle = -1;  // the SA's place in its worker's table, once active
    SaState state = SaState::pending;
    bool used = false;  // inbound: a packet has verified on it
    std::string label;
};

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
    // Never refused for a known SA (not_found otherwise): on a full ring the removal waits
    // in a backlog that pump() sends on in order, so no SA is left installed behind its
    // owner's back.
    Expected<void> remove(SaId id);
    // New algorithm and key for an active SA; its sequence and replay state are kept.
    Expected<void> rekey(SaId id, esp::Alg alg, std::span<const uint8_t> key);

    // Sends what waits in the backlogs, then drains the workers' event rings; returns how
    // many events were handled.
    uint32_t pump();
    size_t backlog() const;  // removals waiting for room in a command ring
    void handle(const esp::SaEvent& e);

    std::optional<SaInfo> find(SaId id) const;
    std::optional<SaId> find_inbound(uint32_t spi) const;
    std::vector<SaInfo> list(size_t offset, size_t max) const;
    size_t size() const;
    void set_listener(Listener l);

private:
    Expected<esp::HmacKey> expand(esp::Alg alg, std::span<const uint8_t> key);
    Expected<void> send(SaInfo& sa, esp::SaOp op, const esp::HmacKey& key);
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
    uint32_t next_request_ = 1;
    Listener listener_;
};

}  // namespace pcscf::ctl
