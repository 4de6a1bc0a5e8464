#pragma once
// A burst's HMACs straight into IPsec-MB, as the engine submits them and nothing else:
// HMAC-SHA-1 and HMAC-SHA-256 through the synchronous hash burst, HMAC-MD5 through the
// job API (IPsec-MB 1.3 has no MD5 burst), every line the lanes read requested first. The references of
// engine_benchmark (hash-only, the ideal loops) share it, so they hash alike.
#include <intel-ipsec-mb.h>

#include <cstddef>
#include <cstdint>

#include "dataplane/esp/crypto_batch.hpp"
#include "net/mbuf_ip.hpp"
#include "sa_contract/sa_config.hpp"

namespace pcscf::bench {

// One HMAC: tag = HMAC(key, data[0, len)) truncated to the ICV (12 bytes, SHA-256 16).
struct HmacWork {
    const uint8_t* data;
    uint32_t len;
    uint8_t* tag;  // scratch (verification) or the packet's ICV (sealing)
    const esp::HmacKey* key;
};

// The `n` HMACs that `at(k)` (an HmacWork) describes. `jobs`: n of them, zeroed once
// (the bursts read them; MD5 takes the manager's own).
template <class At>
inline void hmac_burst(IMB_MGR* mgr, esp::Alg alg, size_t n, IMB_JOB* jobs, At at) {
    if (n == 0) return;
    const IMB_HASH_ALG hash = esp::imb_hash(alg);
    const bool burst = hash != IMB_AUTH_MD5;
    // A reference that took the misses of 16 streams one by one would be no bound on the
    // engine cold, which requests them first.
    for (size_t k = 0; k < n; ++k) {
        const HmacWork w = at(k);
        net::prefetch_lines(w.data, w.data + w.len);
    }
    for (size_t k = 0; k < n; ++k) {
        const HmacWork w = at(k);
        IMB_JOB* j = burst ? &jobs[k] : IMB_GET_NEXT_JOB(mgr);
        j->cipher_mode = IMB_CIPHER_NULL;
        j->chain_order = IMB_ORDER_CIPHER_HASH;
        j->cipher_direction = IMB_DIR_ENCRYPT;
        j->hash_alg = hash;
        j->src = w.data;
        j->dst = const_cast<uint8_t*>(w.data);
        j->msg_len_to_cipher_in_bytes = 0;
        j->hash_start_src_offset_in_bytes = 0;
        j->msg_len_to_hash_in_bytes = w.len;
        j->auth_tag_output = w.tag;
        j->auth_tag_output_len_in_bytes = esp::icv_len(alg, esp::Transform::hmac);
        j->u.HMAC._hashed_auth_key_xor_ipad = w.key->ipad.data();
        j->u.HMAC._hashed_auth_key_xor_opad = w.key->opad.data();
        if (!burst) IMB_SUBMIT_JOB(mgr);
    }
    if (!burst)
        while (IMB_FLUSH_JOB(mgr) != nullptr) {
        }
    else IMB_SUBMIT_HASH_BURST(mgr, jobs, uint32_t(n), hash);
}

}  // namespace pcscf::bench
