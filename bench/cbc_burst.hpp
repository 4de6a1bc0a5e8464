#pragma once
// A burst's AES-128-CBC (RFC 3602) straight into IPsec-MB's synchronous cipher burst, as
// the engine submits it and nothing else: the references of engine_benchmark (its AES-CBC
// hash-only rows, the ideal loops) share it, so they encrypt alike.
#include <intel-ipsec-mb.h>

#include <cstddef>
#include <cstdint>

#include "dataplane/esp/cipher_keys.hpp"

namespace pcscf::bench {

// One ESP packet's cipher part, in place: `len` bytes (whole blocks) from `esp + offset`
// (after the ESP header and the IV at esp + 8).
struct CbcWork {
    uint8_t* esp;
    uint32_t offset;
    uint32_t len;
    const esp::CipherKeys* keys;
};

// The `n` (at most 64, CryptoBatch::kMax) ciphers that `at(k)` (a CbcWork) describes;
// `jobs`: n of them, zeroed once. False if IPsec-MB refused the burst (it then runs none).
template <class At>
inline bool aes_cbc_burst(IMB_MGR* mgr, bool encrypt, size_t n, IMB_JOB* jobs, At at) {
    if (n == 0) return true;
    const IMB_CIPHER_DIRECTION dir = encrypt ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
    for (size_t k = 0; k < n; ++k) {
        const CbcWork w = at(k);
        IMB_JOB& j = jobs[k];
        j.cipher_mode = IMB_CIPHER_CBC;
        j.cipher_direction = dir;
        j.chain_order = IMB_ORDER_CIPHER_HASH;
        j.hash_alg = IMB_AUTH_NULL;
        j.enc_keys = w.keys->enc_keys(esp::Ealg::aes_cbc);
        j.dec_keys = w.keys->dec_keys(esp::Ealg::aes_cbc);
        j.key_len_in_bytes = IMB_KEY_128_BYTES;
        j.iv = w.esp + esp::kEspHeaderLen;
        j.iv_len_in_bytes = esp::iv_len(esp::Ealg::aes_cbc);
        j.src = w.esp;
        j.dst = w.esp + w.offset;
        j.cipher_start_src_offset_in_bytes = w.offset;
        j.msg_len_to_cipher_in_bytes = w.len;
    }
    return IMB_SUBMIT_CIPHER_BURST(mgr, jobs, uint32_t(n), IMB_CIPHER_CBC, dir, IMB_KEY_128_BYTES) == n;
}

}  // namespace pcscf::bench
