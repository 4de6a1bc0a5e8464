#pragma once
// The ideal loops of engine_benchmark: the least work RFC 4303 transport mode needs per
// packet with HMAC-SHA-1-96, HMAC-MD5-96 or HMAC-SHA-256-128 and no cipher or AES-CBC
// (RFC 3602), or with AES-GCM (RFC 4106) or AES-GMAC (RFC 4543), for one SA, on IPv4 packets without options
// that are known good in shape, every check still really done. Hash-only (IPsec-MB's own
// jobs alone) is a ceiling no ESP implementation reaches; this is what one could reach,
// and so the sound bound on the engine's compute. What is left out is what an
// implementation may choose to keep: SA lookup among many, counters, events, drop
// reasons (a bool says passed or not), IPv6, UDP encapsulation, port selectors.
//
// The crypto goes through IPsec-MB exactly as the hash-only reference submits it
// (bench/hmac_burst.hpp, bench/cbc_burst.hpp, bench/aead_esp.hpp's aead_calls). AES-CBC's
// IVs, which RFC 3602 2.3 wants unpredictable, come as the engine's do: one AES-ECB job
// per burst over counters (esp::IvSource), the cheapest sound way known here. Nothing is
// allocated per call.
//
// Threading: one IdealEsp per thread (it uses that thread's IMB_MGR).
#include <intel-ipsec-mb.h>
#include <rte_mbuf.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "bench/aead_esp.hpp"
#include "bench/cbc_burst.hpp"
#include "dataplane/esp/iv_source.hpp"
#include "sa_contract/sa_config.hpp"

namespace pcscf::esp {
struct SaRecord;
}

namespace pcscf::bench {

// The one SA of either direction: what identifies it and its packets.
struct IdealSa {
    uint32_t spi = 0;  // host order
    uint32_t ue = 0;   // the UE's IPv4 address as headers hold it: inbound the source, outbound the destination
    esp::Alg alg = esp::Alg::hmac_sha1_96;
    esp::Transform xf = esp::Transform::hmac;  // hmac, hmac_sha256, cbc_hmac (AES-CBC), gcm or gmac
    esp::HmacKey key;                          // the HMACs
    const AeadKey* aead = nullptr;             // gcm, gmac: the key and salt, expanded
    const esp::CipherKeys* cbc = nullptr;      // AES-CBC: the key schedules

    // An IPv4 SA without a cipher or with AES-CBC (`cbc`); `aead` for a gcm or gmac one.
    static IdealSa of(const esp::SaRecord& r, const AeadKey* aead = nullptr, const esp::CipherKeys* cbc = nullptr);
};

// Inbound, with its anti-replay state (RFC 4303 3.4.3) in one 64-bit word (the RFC's
// default window is 64): the right edge and bit k for right edge - k.
struct IdealInboundSa : IdealSa {
    uint32_t last = 0;
    uint64_t map = 0;

    static IdealInboundSa of(const esp::SaRecord& r, const AeadKey* aead = nullptr,
                             const esp::CipherKeys* cbc = nullptr) {
        return {IdealSa::of(r, aead, cbc)};
    }
};

// Outbound, with the last sequence number sent.
struct IdealOutboundSa : IdealSa {
    uint32_t seq = 0;

    static IdealOutboundSa of(const esp::SaRecord& r, const AeadKey* aead = nullptr,
                              const esp::CipherKeys* cbc = nullptr) {
        return {IdealSa::of(r, aead, cbc)};
    }
};

class IdealEsp {
public:
    static constexpr size_t kMaxBurst = 32;

    // Throws if the IV source cannot be made (EAL memory).
    explicit IdealEsp(IMB_MGR* mgr);

    // Verifies and decapsulates ESP packets of `sa` in place (IPv4 header at `l2_len`),
    // as Engine::inbound() leaves them; ok[k] says whether packet k passed (a refused one
    // may be left half done). Returns how many passed.
    uint32_t inbound(IdealInboundSa& sa, std::span<rte_mbuf* const> pkts, bool* ok, uint16_t l2_len = 0) noexcept;
    // Encapsulates plain IPv4 packets to `sa`'s UE in place, as Engine::outbound() does.
    uint32_t outbound(IdealOutboundSa& sa, std::span<rte_mbuf* const> pkts, bool* ok, uint16_t l2_len = 0) noexcept;

private:
    bool cbc_ivs_and_encrypt(uint32_t spi, CbcWork* cbc, uint32_t n) noexcept;

    IMB_MGR* mgr_;
    esp::IvSource ivs_;
    IMB_JOB jobs_[kMaxBurst];      // the hash bursts', zeroed once
    IMB_JOB cbc_jobs_[kMaxBurst];  // the cipher bursts', zeroed once
    alignas(16) uint8_t tags_[kMaxBurst][16];
};

}  // namespace pcscf::bench
