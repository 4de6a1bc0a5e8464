#pragma once
// Many HMAC-96 computations per call through IPsec-MB's multi-buffer managers: the
// lanes of one SIMD register hash several packets at once. HMAC-SHA-1 goes through the
// synchronous hash-burst call; HMAC-MD5 through the job API, because IPsec-MB 1.3 has no
// MD5 hash burst. Nothing is allocated per call.
//
// Threading: one batch per thread (it uses that thread's IMB_MGR).
#include <intel-ipsec-mb.h>

#include <array>
#include <cstdint>

#include "sa_contract/sa_config.hpp"

namespace pcscf::esp {

class HmacBatch {
public:
    static constexpr uint32_t kMax = 64;

    explicit HmacBatch(IMB_MGR* mgr) noexcept;

    void clear() noexcept { sha1_n_ = md5_n_ = n_ = 0; }
    uint32_t size() const noexcept { return n_; }
    bool full() const noexcept { return n_ == kMax; }

    // Queues tag = HMAC(key, data[0, len)) truncated to kIcvLen bytes; returns its index.
    // `tag` may point into the packet (outbound) or to scratch (inbound verification).
    uint32_t add(Alg alg, const HmacKey& key, const uint8_t* data, uint32_t len, uint8_t* tag) noexcept;

    // Computes everything queued. Afterwards ok(i) says whether job i completed.
    void run() noexcept;
    bool ok(uint32_t i) const noexcept { return ok_[i]; }

private:
    struct Md5Work {
        const HmacKey* key;
        const uint8_t* data;
        uint32_t len;
        uint8_t* tag;
        uint32_t index;
    };
    void run_md5() noexcept;

    IMB_MGR* mgr_;
    uint32_t n_ = 0, sha1_n_ = 0, md5_n_ = 0;
    std::array<IMB_JOB, kMax> sha1_jobs_;
    std::array<uint8_t, kMax> sha1_index_;
    std::array<Md5Work, kMax> md5_work_;
    std::array<bool, kMax> ok_;
};

}  // namespace pcscf::esp
