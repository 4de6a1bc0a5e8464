#include "dataplane/esp/crypto_batch.hpp"

#include <cassert>
#include <cstring>
#include <utility>

#include "dataplane/esp/inbound_checks.hpp"

namespace pcscf::esp {

namespace {

// The fields every HMAC job shares: no cipher, a 96-bit tag (128-bit for SHA-256).
void set_common(IMB_JOB& j, IMB_HASH_ALG hash, const uint8_t* ipad, const uint8_t* opad, const uint8_t* data,
                uint32_t len, uint8_t* tag) noexcept {
    j.cipher_mode = IMB_CIPHER_NULL;
    j.cipher_direction = IMB_DIR_ENCRYPT;
    j.chain_order = IMB_ORDER_CIPHER_HASH;
    j.hash_alg = hash;
    j.src = data;
    j.dst = const_cast<uint8_t*>(data);  // unused: no cipher, nothing is written there
    j.cipher_start_src_offset_in_bytes = 0;
    j.msg_len_to_cipher_in_bytes = 0;
    j.iv = nullptr;
    j.iv_len_in_bytes = 0;
    j.enc_keys = nullptr;
    j.dec_keys = nullptr;
    j.key_len_in_bytes = 0;
    j.hash_start_src_offset_in_bytes = 0;
    j.msg_len_to_hash_in_bytes = len;
    j.auth_tag_output = tag;
    j.auth_tag_output_len_in_bytes = hash == IMB_AUTH_HMAC_SHA_256 ? kSha256IcvLen : kIcvLen;
    j.u.HMAC._hashed_auth_key_xor_ipad = ipad;
    j.u.HMAC._hashed_auth_key_xor_opad = opad;
    j.user_data = nullptr;
}

// 3DES-CBC (RFC 2451) over part of the hashed bytes, in place: chained with the HMAC
// when encrypting, alone (hash IMB_AUTH_NULL) when decrypting.
void set_des3(IMB_JOB& j, const uint8_t* data, const CbcPart& c) noexcept {
    j.cipher_mode = IMB_CIPHER_DES3;
    j.cipher_direction = c.decrypt ? IMB_DIR_DECRYPT : IMB_DIR_ENCRYPT;
    j.chain_order = c.decrypt ? IMB_ORDER_HASH_CIPHER : IMB_ORDER_CIPHER_HASH;
    j.enc_keys = c.keys->enc_keys(c.ealg);
    j.dec_keys = c.keys->dec_keys(c.ealg);
    j.key_len_in_bytes = 24;
    j.iv = c.iv;
    j.iv_len_in_bytes = iv_len(c.ealg);
    j.cipher_start_src_offset_in_bytes = c.offset;
    j.msg_len_to_cipher_in_bytes = c.len;
    j.dst = const_cast<uint8_t*>(data) + c.offset;  // the cipher's output, where its input was
}

}  // namespace

CryptoBatch::CryptoBatch(IMB_MGR* mgr) noexcept : mgr_(mgr) {
    sha1_.init(IMB_AUTH_HMAC_SHA_1);
    sha256_.init(IMB_AUTH_HMAC_SHA_256);
    aes_enc_.init(IMB_DIR_ENCRYPT);
    aes_dec_.init(IMB_DIR_DECRYPT);
}

// AES-128-CBC (RFC 3602) alone, in place.
void CryptoBatch::CipherBurst::init(IMB_CIPHER_DIRECTION d) noexcept {
    dir = d;
    std::memset(jobs.data(), 0, sizeof jobs);
    for (IMB_JOB& j : jobs) {
        j.cipher_mode = IMB_CIPHER_CBC;
        j.cipher_direction = d;
        j.chain_order = IMB_ORDER_CIPHER_HASH;
        j.hash_alg = IMB_AUTH_NULL;
        j.key_len_in_bytes = IMB_KEY_128_BYTES;
        j.iv_len_in_bytes = iv_len(Ealg::aes_cbc);
    }
}

// Decrypting, the jobs whose HMAC did not match go to the end, unrun: their packets keep
// the ciphertext, and the caller's own compare drops them. A burst IPsec-MB refuses (one
// job it finds invalid) runs none of its jobs and leaves the others' status as the last
// burst left it: all of them fail then.
void CryptoBatch::CipherBurst::run(IMB_MGR* mgr, const std::array<bool, kMax>& hashed) noexcept {
    run_n = n;
    if (dir == IMB_DIR_DECRYPT) {
        run_n = 0;
        for (uint32_t k = 0; k < n; ++k) {
            if (!hashed[index[k]] || !icv_equal(tag[k], icv[k], icv_len[k])) continue;
            if (run_n != k) {  // only behind a forged packet: good traffic moves nothing
                std::swap(jobs[run_n], jobs[k]);
                std::swap(index[run_n], index[k]);
                std::swap(tag[run_n], tag[k]);
                std::swap(icv[run_n], icv[k]);
                std::swap(icv_len[run_n], icv_len[k]);
            }
            ++run_n;
        }
    }
    all_done =
        run_n == 0 || IMB_SUBMIT_CIPHER_BURST(mgr, jobs.data(), run_n, IMB_CIPHER_CBC, dir, IMB_KEY_128_BYTES) == run_n;
}

// The unrun ones (decrypting, their HMAC did not match) keep what the HMAC said.
void CryptoBatch::CipherBurst::merge(std::array<bool, kMax>& ok) const noexcept {
    for (uint32_t k = 0; k < run_n; ++k)
        ok[index[k]] = ok[index[k]] && all_done && jobs[k].status == IMB_STATUS_COMPLETED;
}

void CryptoBatch::Burst::init(IMB_HASH_ALG alg) noexcept {
    hash = alg;
    std::memset(jobs.data(), 0, sizeof jobs);
    for (IMB_JOB& j : jobs) set_common(j, hash, nullptr, nullptr, nullptr, 0, nullptr);
}

void CryptoBatch::Burst::run(IMB_MGR* mgr, std::array<bool, kMax>& ok) noexcept {
    if (n == 0) return;
    const bool all_done = IMB_SUBMIT_HASH_BURST(mgr, jobs.data(), n, hash) == n;  // as CipherBurst::run
    for (uint32_t k = 0; k < n; ++k) ok[index[k]] = all_done && jobs[k].status == IMB_STATUS_COMPLETED;
}

// Field by field: the parts of JobWork this job does not use stay unwritten.
CryptoBatch::JobWork& CryptoBatch::queue_hmac(uint32_t index, IMB_HASH_ALG hash, HmacRef key, const uint8_t* data,
                                              uint32_t len, uint8_t* tag) noexcept {
    JobWork& w = job_work_[job_n_++];
    w.ipad = key.ipad;
    w.opad = key.opad;
    w.data = data;
    w.len = len;
    w.index = index;
    w.tag = tag;
    w.hash = hash;
    return w;
}

uint32_t CryptoBatch::add_chained(Alg alg, HmacRef key, uint8_t* data, uint32_t len, uint8_t* tag,
                                  const CbcPart& cbc) noexcept {
    const uint32_t i = n_++;
    queue_hmac(i, imb_hash(alg), key, data, len, tag).cbc = cbc;
    return i;
}

void CryptoBatch::queue_des3_decrypt(uint32_t index, uint8_t* data, const uint8_t* tag, const CbcPart& cbc) noexcept {
    JobWork& w = des3_dec_[des3_dec_n_++];
    w.ipad = w.opad = nullptr;
    w.data = data;
    w.len = 0;
    w.index = index;
    w.tag = const_cast<uint8_t*>(tag);  // read only: the job has no hash to write it
    w.hash = IMB_AUTH_NULL;
    w.cbc = cbc;
}

void CryptoBatch::run() noexcept {
    aes_enc_.run(mgr_, ok_);  // before the HMACs, which cover the ciphertext (RFC 4303 3.3.2)
    sha1_.run(mgr_, ok_);
    sha256_.run(mgr_, ok_);
    if (job_n_ > 0) run_jobs({job_work_.data(), job_n_});
    aes_enc_.merge(ok_);
    aes_dec_.run(mgr_, ok_);  // after the HMACs, which check the ciphertext (RFC 4303 3.4.4)
    aes_dec_.merge(ok_);
    if (des3_dec_n_ > 0) run_des3_decrypts();  // the same
    for (uint32_t k = 0; k < aead_n_; ++k) ok_[aead_index_[k]] = aead_direct(mgr_, aead_[k]);
}

// The packets whose HMAC did not match keep their ciphertext and the status their HMAC
// left; the caller's own compare drops them.
void CryptoBatch::run_des3_decrypts() noexcept {
    uint32_t n = 0;
    for (uint32_t k = 0; k < des3_dec_n_; ++k) {
        const JobWork& w = des3_dec_[k];
        if (ok_[w.index] && icv_equal(w.tag, w.cbc.icv, w.cbc.icv_len)) des3_dec_[n++] = w;
    }
    if (n > 0) run_jobs({des3_dec_.data(), n});
}

// Each job's status goes to ok(): only jobs whose packets are still good come here.
void CryptoBatch::run_jobs(std::span<const JobWork> work) noexcept {
    auto done = [this](const IMB_JOB* j) {
        if (j != nullptr) ok_[uint32_t(reinterpret_cast<uintptr_t>(j->user_data2))] = j->status == IMB_STATUS_COMPLETED;
    };
    for (const JobWork& w : work) {
        ok_[w.index] = false;
        IMB_JOB* j = IMB_GET_NEXT_JOB(mgr_);
        set_common(*j, w.hash, w.ipad, w.opad, w.data, w.len, w.tag);
        if (w.cbc.ealg != Ealg::null) set_des3(*j, w.data, w.cbc);
        j->user_data2 = reinterpret_cast<void*>(static_cast<uintptr_t>(w.index));
        for (j = IMB_SUBMIT_JOB(mgr_); j != nullptr; j = IMB_GET_COMPLETED_JOB(mgr_)) done(j);
    }
    for (IMB_JOB* j = IMB_FLUSH_JOB(mgr_); j != nullptr; j = IMB_FLUSH_JOB(mgr_)) done(j);
}

}  // namespace pcscf::esp
