#pragma once
// DPDK's own IPsec stack as a contender beside the ESP engine: librte_ipsec with
// lookaside crypto (RTE_SECURITY_ACTION_TYPE_NONE) on the crypto_aesni_mb cryptodev,
// driven the way DPDK's ipsec-secgw drives it, over the same packets and the same SAs
// (SPIs, keys, selectors) as an EngineWorkload.
//
// Per burst of 32: parse each packet just enough to set l2_len / l3_len and find its
// session (inbound: SPI-indexed array; outbound: the engine's own rte_hash on (UE address,
// UE port, P-CSCF port)), prefetch the sessions' SA objects and cryptodev sessions,
// rte_ipsec_pkt_crypto_prepare() per run of packets with the same SA, one
// rte_cryptodev_enqueue_burst(), then one dequeue of whatever the device has finished,
// rte_ipsec_pkt_crypto_group() and rte_ipsec_pkt_process() per group. After
// processing: inbound packets have their inner selectors checked (as the engine does),
// IPv4 headers get their checksum (librte_ipsec leaves it to the application). Operations
// stay in flight across bursts (the PMD keeps its multi-buffer lanes full); a pass over
// the ring ends by draining the device.
// GCC 12 at -O3 reads rte_ipsec_pkt_crypto_group()'s cop->sym[0] as out of bounds
// (rte_crypto_op ends in a zero-length array); the code is DPDK's and correct.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#include <rte_ipsec.h>
#pragma GCC diagnostic pop

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bench/engine_workload.hpp"
#include "dataplane/esp/outbound_table.hpp"

namespace pcscf::bench {

// The crypto_aesni_mb vdev (created by EAL's --vdev=crypto_aesni_mb), started with one
// queue pair, and the pools librte_ipsec draws on.
struct CryptoDev {
    uint8_t id = 0;
    uint16_t qp = 0;
    rte_mempool* sessions = nullptr;
    rte_mempool* op_pool = nullptr;
    std::vector<rte_crypto_op*> ops;  // one per ring slot, reused every pass
    uint32_t session_bytes = 0;       // one cryptodev session (mempool element)
    uint32_t session_lines = 0;       // cache lines of a session (header + PMD data)

    static std::expected<std::unique_ptr<CryptoDev>, std::string> start(uint32_t max_sessions, uint32_t ring_size);
    ~CryptoDev();
};

// Bytes librte_ipsec needs per SA and direction (SA object, session slot, cryptodev
// session); for sizing before anything is created.
uint64_t librte_bytes_per_sa(const CryptoDev& dev);
// Whether the cryptodev has what the pair needs: the cipher with CK_ESP's key length and a
// one-block IV (an HMAC with null or CBC); AES-GCM as an AEAD xform (16-byte key, 12-byte
// nonce, 8-byte AAD, 16-byte tag); AES-GMAC as an auth xform (16-byte key, 12-byte nonce,
// 16-byte tag).
bool librte_supports(const CryptoDev& dev, esp::Alg a, esp::Ealg e);

class LibrteIpsec {
public:
    // SAs for both directions of the workload's SA i, for every i below `n_installed` and
    // every i its packets use (the rest of the n_sas SPIs stay empty).
    LibrteIpsec(CryptoDev& dev, const EngineWorkload& w, uint32_t n_sas, uint32_t n_installed, bool ipv6);
    ~LibrteIpsec();
    LibrteIpsec(const LibrteIpsec&) = delete;
    LibrteIpsec& operator=(const LibrteIpsec&) = delete;

    // One pass over the ring in bursts of 32, processed in place; returns the packets
    // that came out good (the others are left where they were).
    uint32_t inbound_pass(std::span<Template> ring);
    uint32_t outbound_pass(std::span<Template> ring);

    // Fresh replay windows / sequence numbers (rte_ipsec_sa_init again) for the SAs the
    // workload's packets use.
    void rewind_inbound();
    void rewind_outbound();

    uint32_t installed() const { return installed_; }
    // Carries these SAs over to another workload with the same SAs (another packet size).
    void rebind(const EngineWorkload& w);

private:
    struct Selector {
        net::IpAddr ue_addr, pcscf_addr;
        uint16_t ue_port = 0, pcscf_port = 0;  // host order
    };
    // A session and, next to it, what the inbound selector check needs.
    struct Slot {
        rte_ipsec_session ss;
        Selector sel;
    };
    struct Side {
        Slot* slots = nullptr;  // rte_zmalloc'd; inbound: by SPI - base, outbound: by hash position
        uint8_t* sa_mem = nullptr;
        uint32_t sa_size = 0;  // bytes per rte_ipsec_sa, cache-line rounded
    };

    // SA number i (the workload's) into side.slots[slot], its rte_ipsec_sa at `sa`.
    void install(Side& side, esp::Direction dir, uint32_t i, uint32_t slot, uint8_t* sa);
    void reinit(Side& side, esp::Direction dir, uint32_t i, uint32_t slot);
    uint32_t out_slot(uint32_t i) const;
    uint32_t pass(std::span<Template> ring, bool inbound);
    // Classifies, prepares and enqueues one burst; returns how many were enqueued.
    uint32_t submit(rte_mbuf** pkts, uint32_t n, rte_crypto_op** ops, bool inbound);
    // Dequeues what the device finished and post-processes it; returns the good packets.
    uint32_t complete(bool inbound, uint32_t& in_flight);

    CryptoDev& dev_;
    const EngineWorkload* w_;
    esp::Alg alg_;
    esp::Ealg ealg_;
    bool ipv6_;
    uint32_t n_sas_, installed_ = 0;
    uint32_t in_spi_base_ = 0;
    std::vector<uint32_t> which_;  // the SA numbers installed
    std::vector<uint32_t> used_;   // those the packets use (the workload's used_sas())
    Side in_, out_;
    std::optional<esp::OutboundTable> out_lookup_;  // its positions index out_.slots
    std::vector<void*> sessions_;                   // every cryptodev session, for freeing
};

}  // namespace pcscf::bench
