#pragma once
// The ESP crypto of a burst through IPsec-MB's multi-buffer managers: the lanes of one
// SIMD register work on several packets at once. HMAC-SHA-1 and HMAC-SHA-256 without a
// cipher go through the synchronous hash-burst call, one burst each; HMAC-MD5 through the
// job API, in one pass of submissions and one flush (IPsec-MB 1.3 has no MD5 hash burst).
// With AES-CBC the HMAC goes the same way and the cipher through the synchronous
// cipher burst, one per direction: faster than IPsec-MB's chained cipher+hash jobs for
// the same work (engine_benchmark's imb_jobs rows). 3DES-CBC, which has no cipher burst,
// goes through the job API: encrypting, as one chained job with its HMAC; decrypting, as
// a cipher job of its own once the HMAC matched. AES-GCM and
// AES-GMAC, which IPsec-MB runs one packet at a time whichever API is used, go through
// its direct GCM calls (see aead_direct). Nothing is allocated per call.
//
// Threading: one batch per thread (it uses that thread's IMB_MGR).
#include <intel-ipsec-mb.h>

#include <array>
#include <cassert>
#include <cstdint>
#include <span>

#include "dataplane/esp/cipher_keys.hpp"
#include "sa_contract/sa_config.hpp"

namespace pcscf::esp {

// Where an SA's HMAC states are: its record's first line (MD5, SHA-1) or its key block
// (SHA-256), or a control-path HmacKey.
struct HmacRef {
    const uint8_t* ipad;
    const uint8_t* opad;
    HmacRef(const HmacKey& k) noexcept : ipad(k.ipad.data()), opad(k.opad.data()) {}     // NOLINT: implicit on purpose
    HmacRef(const HmacKey160& k) noexcept : ipad(k.ipad.data()), opad(k.opad.data()) {}  // NOLINT
};

// IPsec-MB's hash for an HMAC alg.
constexpr IMB_HASH_ALG imb_hash(Alg a) noexcept {
    return a == Alg::hmac_sha1_96 ? IMB_AUTH_HMAC_SHA_1 : a == Alg::hmac_md5_96 ? IMB_AUTH_MD5 : IMB_AUTH_HMAC_SHA_256;
}

// The cipher half of an ESP job, in place: `len` bytes (a multiple of the block) from
// `offset` into the hashed data. Encryption comes before the HMAC, which covers the
// ciphertext (RFC 4303 3.3.2); decryption after it, which checks the ciphertext first
// (RFC 4303 3.4.4). Either cipher decrypts only a packet whose HMAC matches `icv` (RFC
// 4303 3.4.4.1: a forged packet costs its HMAC, not its decryption as well, which for
// 3DES is thirty times more); the caller still compares and drops the others.
struct CbcPart {
    Ealg ealg = Ealg::null;  // aes_cbc or des_ede3_cbc
    bool decrypt = false;
    const CipherKeys* keys = nullptr;
    const uint8_t* iv = nullptr;  // iv_len(ealg) bytes, in the packet after the ESP header
    uint32_t offset = 0;
    uint32_t len = 0;
    const uint8_t* icv = nullptr;  // decrypt: the packet's ICV, icv_len bytes
    uint32_t icv_len = 0;
};

// AES-GCM (RFC 4106) or AES-GMAC (RFC 4543) over one ESP packet, in place. GCM: AAD =
// SPI || sequence number (the 8 bytes at `esp`), the cipher covers `len` bytes from
// `esp + hdr` (payload to next header). GMAC: nothing is encrypted, the AAD is `len`
// bytes from `esp` (ESP header, IV, payload to next header; RFC 4543 3.3). The tag
// (kAeadIcvLen bytes) goes to `tag`; inbound, GCM computes it over the ciphertext while
// decrypting, and the caller compares it.
struct AeadPart {
    Transform xf = Transform::gcm;  // gcm or gmac
    bool decrypt = false;
    const gcm_key_data* key = nullptr;  // expanded, 64-byte aligned
    const uint8_t* nonce = nullptr;     // salt || IV, 12 bytes
    uint8_t* esp = nullptr;
    uint32_t hdr = 0;  // ESP header + IV
    uint32_t len = 0;
    uint8_t* tag = nullptr;
};

// One AES-GCM or AES-GMAC packet through IPsec-MB's direct GCM calls; false if IPsec-MB
// refused the arguments. Its job API costs more per packet for the same work, and GMAC
// is GCM with nothing to encrypt and all of `len` as AAD (RFC 4543 3), which IPsec-MB's
// AAD path hashes faster than its GMAC calls do (engine_benchmark's imb_jobs rows).
inline bool aead_direct(IMB_MGR* mgr, const AeadPart& a) noexcept {
    gcm_context_data ctx;  // the one-shot calls set it up
    if (a.xf == Transform::gmac) {
        IMB_AES128_GCM_ENC(mgr, a.key, &ctx, a.esp, a.esp, 0, a.nonce, a.esp, a.len, a.tag, kAeadIcvLen);
    } else {
        uint8_t* text = a.esp + a.hdr;
        if (a.decrypt)
            IMB_AES128_GCM_DEC(mgr, a.key, &ctx, text, text, a.len, a.nonce, a.esp, kEspHeaderLen, a.tag, kAeadIcvLen);
        else IMB_AES128_GCM_ENC(mgr, a.key, &ctx, text, text, a.len, a.nonce, a.esp, kEspHeaderLen, a.tag, kAeadIcvLen);
    }
    return imb_get_errno(mgr) == 0;
}

class CryptoBatch {
public:
    static constexpr uint32_t kMax = 64;

    explicit CryptoBatch(IMB_MGR* mgr) noexcept;

    void clear() noexcept { sha1_.n = sha256_.n = aes_enc_.n = aes_dec_.n = job_n_ = des3_dec_n_ = aead_n_ = n_ = 0; }
    uint32_t size() const noexcept { return n_; }
    bool full() const noexcept { return n_ == kMax; }

    // Queues tag = HMAC(key, data[0, len)) truncated to icv_len (12 bytes, 16 for SHA-256)
    // bytes; returns its index. `tag` may point into the packet (outbound) or to scratch
    // (inbound verification).
    uint32_t add(Alg alg, HmacRef key, const uint8_t* data, uint32_t len, uint8_t* tag) noexcept;
    // The same with a CBC cipher over part of `data` (see CbcPart): encryption before the
    // HMAC, decryption after it.
    uint32_t add(Alg alg, HmacRef key, uint8_t* data, uint32_t len, uint8_t* tag, const CbcPart& cbc) noexcept;

    // Queues an AES-GCM or AES-GMAC packet; returns its index.
    uint32_t add(const AeadPart& aead) noexcept;

    // Computes everything queued. Afterwards ok(i) says whether job i completed.
    void run() noexcept;
    bool ok(uint32_t i) const noexcept { return ok_[i]; }

private:
    // What goes through the job API: HMAC-MD5 alone (cbc.ealg null), an HMAC with
    // 3DES-CBC encryption, or a 3DES-CBC decryption alone (hash IMB_AUTH_NULL; `tag` the
    // HMAC its packet got).
    struct JobWork {
        const uint8_t* ipad;
        const uint8_t* opad;
        const uint8_t* data;
        uint32_t len;
        uint32_t index;
        uint8_t* tag;
        IMB_HASH_ALG hash;
        CbcPart cbc;
    };
    JobWork& queue_hmac(uint32_t index, IMB_HASH_ALG hash, HmacRef key, const uint8_t* data, uint32_t len,
                        uint8_t* tag) noexcept;
    uint32_t add_chained(Alg alg, HmacRef key, uint8_t* data, uint32_t len, uint8_t* tag, const CbcPart& cbc) noexcept;
    void queue_des3_decrypt(uint32_t index, uint8_t* data, const uint8_t* tag, const CbcPart& cbc) noexcept;
    void run_jobs(std::span<const JobWork> work) noexcept;
    void run_des3_decrypts() noexcept;

    IMB_MGR* mgr_;
    // The jobs of one hash burst, their constant fields set once, and each one's index.
    struct Burst {
        std::array<IMB_JOB, kMax> jobs;
        std::array<uint8_t, kMax> index;
        uint32_t n = 0;
        IMB_HASH_ALG hash = IMB_AUTH_NULL;
        void init(IMB_HASH_ALG alg) noexcept;
        void add(uint32_t i, HmacRef key, const uint8_t* data, uint32_t len, uint8_t* tag) noexcept {
            IMB_JOB& j = jobs[n];
            j.src = data;
            j.msg_len_to_hash_in_bytes = len;
            j.auth_tag_output = tag;
            j.u.HMAC._hashed_auth_key_xor_ipad = key.ipad;
            j.u.HMAC._hashed_auth_key_xor_opad = key.opad;
            index[n++] = static_cast<uint8_t>(i);
        }
        void run(IMB_MGR* mgr, std::array<bool, kMax>& ok) noexcept;
    };

    // The AES-CBC halves of one direction's packets, one synchronous cipher burst, their
    // constant fields set once. run() leaves each job's status; merge() ANDs it into ok.
    // Decrypting, run() first keeps only the jobs whose HMAC matched (see CbcPart).
    struct CipherBurst {
        std::array<IMB_JOB, kMax> jobs;
        std::array<uint8_t, kMax> index;
        std::array<const uint8_t*, kMax> tag, icv;  // decrypt: the HMAC computed, the ICV received
        std::array<uint8_t, kMax> icv_len;
        uint32_t n = 0;
        uint32_t run_n = 0;  // the first run_n jobs ran (decrypt: those verified)
        IMB_CIPHER_DIRECTION dir = IMB_DIR_ENCRYPT;
        bool all_done = false;  // by the last run(): IPsec-MB ran every job
        void init(IMB_CIPHER_DIRECTION d) noexcept;
        void add(uint32_t i, uint8_t* data, const CbcPart& c, const uint8_t* hmac) noexcept {
            IMB_JOB& j = jobs[n];
            j.enc_keys = c.keys->enc_keys(Ealg::aes_cbc);
            j.dec_keys = c.keys->dec_keys(Ealg::aes_cbc);
            j.iv = c.iv;
            j.src = data;
            j.dst = data + c.offset;  // the cipher's output, where its input was
            j.cipher_start_src_offset_in_bytes = c.offset;
            j.msg_len_to_cipher_in_bytes = c.len;
            tag[n] = hmac;
            icv[n] = c.icv;
            icv_len[n] = static_cast<uint8_t>(c.icv_len);
            index[n++] = static_cast<uint8_t>(i);
        }
        void run(IMB_MGR* mgr, const std::array<bool, kMax>& hashed) noexcept;
        void merge(std::array<bool, kMax>& ok) const noexcept;
    };

    uint32_t n_ = 0, job_n_ = 0, des3_dec_n_ = 0, aead_n_ = 0;
    Burst sha1_, sha256_;
    CipherBurst aes_enc_, aes_dec_;
    std::array<JobWork, kMax> job_work_;
    std::array<JobWork, kMax> des3_dec_;  // run after the HMACs, those that matched
    std::array<AeadPart, kMax> aead_;
    std::array<uint8_t, kMax> aead_index_;
    std::array<bool, kMax> ok_;
};

// Inline: one call per packet on both paths.
inline uint32_t CryptoBatch::add(Alg alg, HmacRef key, const uint8_t* data, uint32_t len, uint8_t* tag) noexcept {
    assert(!full());
    const uint32_t i = n_++;
    if (alg == Alg::hmac_sha1_96) sha1_.add(i, key, data, len, tag);
    else if (alg == Alg::hmac_sha256_128) sha256_.add(i, key, data, len, tag);
    else queue_hmac(i, IMB_AUTH_MD5, key, data, len, tag).cbc.ealg = Ealg::null;
    return i;
}

inline uint32_t CryptoBatch::add(Alg alg, HmacRef key, uint8_t* data, uint32_t len, uint8_t* tag,
                                 const CbcPart& cbc) noexcept {
    assert(!full() && cbc.ealg != Ealg::null);
    if (cbc.ealg == Ealg::des_ede3_cbc && !cbc.decrypt) return add_chained(alg, key, data, len, tag, cbc);
    const uint32_t i = add(alg, key, data, len, tag);
    if (cbc.ealg == Ealg::des_ede3_cbc) queue_des3_decrypt(i, data, tag, cbc);
    else (cbc.decrypt ? aes_dec_ : aes_enc_).add(i, data, cbc, tag);
    return i;
}

inline uint32_t CryptoBatch::add(const AeadPart& aead) noexcept {
    assert(!full() && is_aead(aead.xf));
    const uint32_t i = n_++;
    aead_index_[aead_n_] = static_cast<uint8_t>(i);
    aead_[aead_n_++] = aead;
    return i;
}

}  // namespace pcscf::esp
