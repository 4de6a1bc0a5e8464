#pragma once
// A benchmark workload for the ESP engine: an engine holding N SAs per direction, and a
// ring of pre-built packets spread over those SAs. Packets are processed in place, so
// before each burst their mbuf fields and headers are written back as they were built.
// That stands in for the NIC and its driver, which write exactly those lines just before
// a burst is handed over; it is counted in the measured time. When the ring wraps
// (outside the measured time) inbound SAs get a fresh replay window and the caches are
// flushed.
#include <rte_mbuf.h>

#include <memory>
#include <string>
#include <vector>

#include "dataplane/esp/engine.hpp"

namespace pcscf::bench {

struct Template {
    rte_mbuf* m = nullptr;
    uint16_t data_off = 0;
    uint16_t len = 0;
    std::array<uint8_t, 64> hdr{};  // the packet's first 64 bytes as built
    uint32_t sa = 0;       // which SA the packet belongs to
    const uint8_t* esp = nullptr;  // inbound: the ICV-covered bytes, for the baselines
    uint32_t esp_len = 0;
};

class EngineWorkload {
public:
    // `ip_size`: length of the ESP packet's IP datagram (IPv4), as on the wire.
    EngineWorkload(esp::Alg alg, uint32_t ip_size, uint32_t n_sas, uint32_t n_packets);
    ~EngineWorkload();

    esp::Engine& engine() { return *engine_; }
    esp::Alg alg() const { return alg_; }
    std::vector<Template>& inbound() { return in_; }
    std::vector<Template>& outbound() { return out_; }
    const esp::HmacKey& key(uint32_t sa) const { return keys_[sa % keys_.size()]; }

    // Puts packets back as they were built and lists their mbufs in `burst`.
    static void receive(std::span<Template> t, rte_mbuf** burst);
    // Gives every inbound SA that the templates use a fresh replay window.
    void rewind_inbound();
    // Reads through a buffer larger than the last-level cache, so that the next pass over
    // the ring finds SA records (and everything else) as cold as a million active SAs
    // would leave them, instead of warm from the previous pass.
    static void evict_caches();

private:
    esp::SaRecord inbound_record(uint32_t i) const;
    void build_packets(uint32_t ip_size, uint32_t n_packets);

    esp::Alg alg_;
    uint32_t n_sas_;
    std::unique_ptr<esp::Engine> engine_;
    std::vector<esp::HmacKey> keys_;
    std::vector<Template> in_, out_;
    std::vector<uint32_t> used_sas_;
    rte_mempool* pool_ = nullptr;
};

}  // namespace pcscf::bench
