#include "dataplane/esp/hmac_batch.hpp"

#include <cassert>
#include <cstring>

namespace pcscf::esp {

namespace {

// The fields every HMAC job shares: no cipher, a 96-bit tag.
void set_common(IMB_JOB& j, IMB_HASH_ALG hash, const HmacKey& key, const uint8_t* data, uint32_t len,
                uint8_t* tag) noexcept {
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
    j.auth_tag_output_len_in_bytes = kIcvLen;
    j.u.HMAC._hashed_auth_key_xor_ipad = key.ipad.data();
    j.u.HMAC._hashed_auth_key_xor_opad = key.opad.data();
}

}  // namespace

HmacBatch::HmacBatch(IMB_MGR* mgr) noexcept : mgr_(mgr) {
    std::memset(sha1_jobs_.data(), 0, sizeof sha1_jobs_);
    static const HmacKey none{};
    for (IMB_JOB& j : sha1_jobs_) set_common(j, IMB_AUTH_HMAC_SHA_1, none, nullptr, 0, nullptr);
}

uint32_t HmacBatch::add(Alg alg, const HmacKey& key, const uint8_t* data, uint32_t len, uint8_t* tag) noexcept {
    assert(!full());
    const uint32_t i = n_++;
    if (alg == Alg::hmac_sha1_96) {
        // The burst's own jobs keep their constant fields from the constructor.
        IMB_JOB& j = sha1_jobs_[sha1_n_];
        j.src = data;
        j.msg_len_to_hash_in_bytes = len;
        j.auth_tag_output = tag;
        j.u.HMAC._hashed_auth_key_xor_ipad = key.ipad.data();
        j.u.HMAC._hashed_auth_key_xor_opad = key.opad.data();
        sha1_index_[sha1_n_++] = static_cast<uint8_t>(i);
    } else {
        md5_work_[md5_n_++] = Md5Work{&key, data, len, tag, i};
    }
    return i;
}

void HmacBatch::run() noexcept {
    if (sha1_n_ > 0) {
        IMB_SUBMIT_HASH_BURST(mgr_, sha1_jobs_.data(), sha1_n_, IMB_AUTH_HMAC_SHA_1);
        for (uint32_t k = 0; k < sha1_n_; ++k) ok_[sha1_index_[k]] = sha1_jobs_[k].status == IMB_STATUS_COMPLETED;
    }
    if (md5_n_ > 0) run_md5();
}

void HmacBatch::run_md5() noexcept {
    auto done = [this](const IMB_JOB* j) {
        if (j != nullptr) ok_[uint32_t(reinterpret_cast<uintptr_t>(j->user_data2))] = j->status == IMB_STATUS_COMPLETED;
    };
    for (uint32_t k = 0; k < md5_n_; ++k) {
        const Md5Work& w = md5_work_[k];
        ok_[w.index] = false;
        IMB_JOB* j = IMB_GET_NEXT_JOB(mgr_);
        set_common(*j, IMB_AUTH_MD5, *w.key, w.data, w.len, w.tag);
        j->user_data2 = reinterpret_cast<void*>(static_cast<uintptr_t>(w.index));
        for (j = IMB_SUBMIT_JOB(mgr_); j != nullptr; j = IMB_GET_COMPLETED_JOB(mgr_)) done(j);
    }
    for (IMB_JOB* j = IMB_FLUSH_JOB(mgr_); j != nullptr; j = IMB_FLUSH_JOB(mgr_)) done(j);
}

}  // namespace pcscf::esp
