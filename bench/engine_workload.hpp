#pragma once
// A benchmark workload for the ESP engine: an engine holding N SAs per direction, and a
// ring of pre-built packets spread over those SAs. Packets are processed in place, so
// before they are processed again their mbuf fields and headers are written back as they
// were built (receive()), standing in for the NIC and its driver, which write exactly
// those lines before a burst is handed over. engine_benchmark does that for the whole
// ring between passes, outside the measured time, as its references never pay it;
// process() does it per burst, inside whatever its caller times (the other benchmarks
// and the tests). Between passes over the ring (outside the measured time) the inbound
// packets are sealed again with the next sequence numbers, which leaves them in the
// cache, and for a cold pass the caches are flushed (evict_caches).
#include <rte_mbuf.h>

#include <array>
#include <cassert>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bench/aead_esp.hpp"
#include "dataplane/esp/engine.hpp"
#include "dataplane/service/service_config.hpp"

namespace pcscf::bench {

struct Template {
    rte_mbuf* m = nullptr;
    uint16_t data_off = 0;
    uint16_t len = 0;
    std::array<uint8_t, 64> hdr{};  // the packet's first 64 bytes as built
    uint32_t sa = 0;                // which SA the packet belongs to
    uint8_t* esp = nullptr;         // inbound: the ICV-covered bytes, for the baselines
    uint32_t esp_len = 0;
    uint32_t seq = 0;                 // inbound: the sequence number it was first sealed with
    std::vector<uint8_t> ciphertext;  // inbound, CBC SAs: what follows the IV, as sealed
    std::vector<uint8_t> plaintext;   // inbound, AES-GCM SAs: what follows the IV, before sealing
};

// IPsec-MB's ways to the same work: `direct`, its synchronous bursts and direct GCM calls
// as the engine makes them (the faster); `jobs`, its job API (chained cipher+hash jobs,
// GCM and GMAC jobs).
enum class ImbApi { direct, jobs };

// Keys, one per SA (indexed by SA), for hash_only() and cipher_hash_only() to use instead
// of the workload's few thousand: a reference that must read as many key blocks as an engine
// with that many SAs. Each is optional.
struct ReferenceKeys {
    const esp::HmacKey* hmac = nullptr;
    const esp::CipherKeys* cbc = nullptr;
    const AeadKey* aead = nullptr;
};

class EngineWorkload {
public:
    // `size` as a workload of that IP version can have it: an IPv6 ESP packet with UDP
    // inside starts at 72 bytes, so smaller sizes stand for that smallest one.
    static uint32_t size_for(uint32_t size, bool ipv6) { return ipv6 && size < 72 ? 72 : size; }
    // `ip_size`: length of the ESP packet's IP datagram, as on the wire (IPv4 unless
    // `ipv6`; an IPv6 ESP packet with UDP inside is at least 72 bytes). With a cipher
    // (`ealg`), the nearest length whole cipher blocks allow (ip_size() says which). The
    // pair (alg, ealg) is one that esp::transform() knows: an HMAC with null or a CBC
    // cipher, (null, aes_gcm), (aes_gmac, null). AES-GCM and AES-GMAC packets are sealed
    // by IPsec-MB's own jobs (aead_esp.hpp), not by an engine, and sized in 4-byte steps.
    // `mode` udp_enc_tun (IPv4, not AES-GCM / AES-GMAC): the SAs are UDP-enc-tun with UEs
    // behind a NAT (SaConfig), the inbound packets IPv4 / UDP 4500 / ESP in tunnel mode
    // around the same inner packet as transport mode would carry, as the NAT delivers them:
    // 28 bytes more on the wire for the same payload (ip_size() says the length); the
    // UE's public address is the transport workload's UE address.
    EngineWorkload(esp::Alg alg, uint32_t ip_size, uint32_t n_sas, uint32_t n_packets, bool ipv6 = false,
                   esp::Ealg ealg = esp::Ealg::null, esp::Mode mode = esp::Mode::transport);
    ~EngineWorkload();
    // How the constructor lays out the engine for `n_sas` SAs per direction of transform
    // `tf` (the tables hold at least 1,024).
    static esp::EngineConfig engine_config(uint32_t n_sas, esp::Transform tf);
    // EngineConfig::look_ahead_from and early_keys_from of the engines built from now on
    // (a benchmark's --look-ahead-sas and --early-key-sas, to compare with and without).
    static inline uint32_t look_ahead_from = esp::EngineConfig{}.look_ahead_from;
    static inline uint32_t early_keys_from = esp::EngineConfig{}.early_keys_from;

    esp::Engine& engine() { return *engine_; }
    esp::Alg alg() const { return alg_; }
    esp::Ealg ealg() const { return ealg_; }
    esp::Mode mode() const { return mode_; }
    esp::Transform transform() const { return tf_; }
    uint32_t ip_size() const { return ip_size_; }
    std::vector<Template>& inbound() { return in_; }
    std::vector<Template>& outbound() { return out_; }
    const esp::HmacKey& key(uint32_t sa) const { return keys_[sa % keys_.size()]; }
    // The raw integrity key (key_len(alg) bytes) that key(sa) expands.
    std::span<const uint8_t> raw_key(uint32_t sa) const {
        return {raw_keys_[sa % raw_keys_.size()].data(), esp::key_len(alg_)};
    }
    // The expanded AES-GCM / AES-GMAC key and salt of SA `sa` (those workloads only).
    const AeadKey& aead_key(uint32_t sa) const { return aead_keys_[sa % aead_keys_.size()]; }
    // The expanded CBC key of SA `sa` (those workloads only).
    const esp::CipherKeys& cipher_keys(uint32_t sa) const {
        return cipher_keys_->at(sa % uint32_t(raw_cipher_keys_.size()));
    }
    // From now on hash_only() and cipher_hash_only() key the SAs that `k` has keys for from
    // it (ReferenceKeys{}: the workload's own again). The arrays must outlive that use.
    void use_reference_keys(ReferenceKeys k) { ref_ = k; }

    // The records that install SA `i` (any i below the table sizes, installed or not).
    esp::SaRecord inbound_record(uint32_t i) const;
    esp::SaRecord outbound_record(uint32_t i) const;
    // The same SA as the UE's engine holds it: direction flipped, addresses and ports swapped.
    static esp::SaRecord ue_view(esp::SaRecord r);
    // The SAs the packets use, each once, in increasing order.
    const std::vector<uint32_t>& used_sas() const { return used_sas_; }

    // The hash-only reference: the HMACs of inbound packets' ICV-covered bytes straight
    // into IPsec-MB and nothing else (bench/hmac_burst.hpp: SHA-1 through the synchronous
    // hash burst, MD5 through the job API, as the engine does), their lines requested
    // first. Scratch: `jobs` (ts.size() of them, zeroed once), `tags`.
    void hash_only(std::span<const Template> ts, IMB_JOB* jobs, uint8_t (*tags)[16]) const;
    // The same with the SA's cipher, and nothing else: the HMAC over the ICV-covered bytes
    // and the decryption of what follows the IV in place after it, or its encryption
    // first (`encrypt`), as the engine's inbound / outbound packets take them. AES-CBC:
    // one cipher burst and the HMACs' own (hash_only's), as the engine makes them, or per
    // packet one chained job of IPsec-MB's job API (`api` jobs); 3DES-CBC: chained jobs
    // either way, as the engine (no 3DES cipher burst). AES-GCM: per packet one GCM call
    // decrypting (or encrypting) what follows the IV in place with the tag over SPI || seq
    // and it; AES-GMAC: one tag over the ICV-covered bytes, either way; IPsec-MB's direct
    // GCM calls, as the engine makes them, or its job API (`api`; aead_esp.hpp). Not for
    // HMAC-only workloads (hash_only()).
    void cipher_hash_only(std::span<const Template> ts, uint8_t (*tags)[16], bool encrypt = false,
                          ImbApi api = ImbApi::direct) const;

    // Puts packets back as they were built and lists their mbufs in `burst`, as a NIC and
    // its driver would hand them over: the IPv4 checksum marked good by the NIC's offload.
    static void receive(std::span<Template> t, rte_mbuf** burst);
    // One burst with its NIC stand-in: receive(), then Engine::inbound() or outbound();
    // returns how many passed (`why` says for the others).
    uint16_t process(esp::Direction dir, std::span<Template> t, rte_mbuf** burst, net::DropReason* why);
    // The ring's whole bursts of `burst` packets (at most a worker's, dp::kMaxBurst) in
    // turn, as a worker that holds one burst back meets them: each burst received once,
    // before the burst ahead of it is processed with it as the engine's look-ahead
    // (Engine::inbound's `next`). After each burst `done(good, why)` says how many
    // passed; false stops. Returns the packets processed.
    template <class Done>
    size_t process_ring(esp::Direction dir, std::span<Template> ring, size_t burst, Done&& done);
    // Seals the inbound packets again with their SAs' next sequence numbers (outside any
    // timing), so that a pass finds its SAs as steady traffic does: replay state kept,
    // not used for the first time. Each SA's numbers go on from the previous pass, so any
    // engine holding the inbound SAs sees them increase whichever passes it takes part
    // in. Near 2^32 the numbers start again and this workload's engine gets fresh
    // windows: false then says other holders of the SAs need fresh windows too.
    bool next_inbound_pass();
    // Gives every inbound SA that the templates use a fresh replay window: this engine
    // applies rewind_records(), a remove and an add per SA (other holders send them too).
    void rewind_inbound();
    std::vector<esp::SaRecord> rewind_records() const;
    // Reads through a buffer larger than the last-level cache, so that the next pass over
    // the ring finds SA records (and everything else) as cold as a million active SAs
    // would leave them, instead of warm from the previous pass.
    static void evict_caches();

private:
    void build_packets(uint32_t ip_size, uint32_t n_packets);
    void seal_inbound(uint32_t offset);  // sequence numbers: as first sealed + offset
    void aead_only(std::span<const Template> ts, uint8_t (*tags)[16], bool encrypt, ImbApi api) const;
    void cbc_bursts(std::span<const Template> ts, uint8_t (*tags)[16], bool encrypt) const;
    void first_inbound_pass();
    void release() noexcept;  // the packets and their pool

    esp::Alg alg_;
    esp::Ealg ealg_;
    esp::Mode mode_;
    esp::Transform tf_;
    uint32_t ip_size_ = 0;
    uint32_t n_sas_;
    bool ipv6_;
    std::unique_ptr<esp::Engine> engine_;
    std::vector<esp::HmacKey> keys_;
    std::vector<std::array<uint8_t, 32>> raw_keys_;
    std::vector<std::array<uint8_t, 24>> raw_cipher_keys_;  // CK_ESP per key index, for ciphered SAs
    std::unique_ptr<esp::CipherKeyPool> cipher_keys_;       // the same expanded (CBC), for cipher_hash_only()
    std::vector<AeadKey> aead_keys_;                        // the same expanded (AES-GCM, AES-GMAC)
    mutable std::vector<IMB_JOB> burst_jobs_ =
        std::vector<IMB_JOB>(2 * esp::CryptoBatch::kMax);  // cbc_bursts()' cipher and hash jobs, zeroed once
    const esp::HmacKey& hmac_of(uint32_t sa) const { return ref_.hmac != nullptr ? ref_.hmac[sa] : key(sa); }
    const esp::CipherKeys& cbc_of(uint32_t sa) const { return ref_.cbc != nullptr ? ref_.cbc[sa] : cipher_keys(sa); }
    const AeadKey& aead_of(uint32_t sa) const { return ref_.aead != nullptr ? ref_.aead[sa] : aead_key(sa); }

    ReferenceKeys ref_;
    std::vector<Template> in_, out_;
    std::vector<uint32_t> used_sas_;
    uint32_t seq_offset_ = 0;
    rte_mempool* pool_ = nullptr;
};

template <class Done>
size_t EngineWorkload::process_ring(esp::Direction dir, std::span<Template> ring, size_t burst, Done&& done) {
    assert(burst > 0 && burst <= dp::kMaxBurst);
    rte_mbuf* bufs[2][dp::kMaxBurst];
    net::DropReason why[dp::kMaxBurst];
    const size_t n = ring.size() / burst * burst;
    if (n == 0) return 0;
    receive(ring.first(burst), bufs[0]);
    for (size_t pos = 0, k = 0; pos < n; pos += burst, k ^= 1) {
        const bool more = pos + burst < n;
        if (more) receive(ring.subspan(pos + burst, burst), bufs[k ^ 1]);
        const std::span<rte_mbuf*> b{bufs[k], burst};
        const std::span<rte_mbuf* const> next{bufs[k ^ 1], more ? burst : 0};
        const uint16_t good = dir == esp::Direction::inbound ? engine_->inbound(b, {why, burst}, 0, next)
                                                             : engine_->outbound(b, {why, burst}, 0);
        if (!done(good, static_cast<const net::DropReason*>(why))) return pos + burst;
    }
    return n;
}

}  // namespace pcscf::bench
