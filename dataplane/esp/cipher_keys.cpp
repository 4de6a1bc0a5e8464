#include "dataplane/esp/cipher_keys.hpp"

#include <intel-ipsec-mb.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <utility>

namespace pcscf::esp {

std::expected<CipherKeyPool, std::string> CipherKeyPool::create(uint32_t capacity, int socket) {
    const size_t n = std::max<uint32_t>(capacity, 1);  // rte_zmalloc refuses a size of 0
    auto* blocks =
        static_cast<CipherKeys*>(rte_zmalloc_socket("pcscf_cipher_keys", n * sizeof(CipherKeys), 64, socket));
    auto* free = static_cast<uint32_t*>(rte_malloc_socket("pcscf_cipher_free", n * 4, 64, socket));
    if (blocks == nullptr || free == nullptr) {
        rte_free(blocks);
        rte_free(free);
        return std::unexpected("cannot allocate " + std::to_string(n * sizeof(CipherKeys) >> 20) +
                               " MiB for the keys of " + std::to_string(capacity) +
                               " ciphered SAs (hugepages or EAL -m too small?)");
    }
    for (uint32_t i = 0; i < capacity; ++i) free[i] = capacity - 1 - i;  // index 0 first
    return CipherKeyPool(blocks, free, capacity);
}

CipherKeyPool::CipherKeyPool(CipherKeyPool&& o) noexcept
    : blocks_(std::exchange(o.blocks_, nullptr)),
      free_(std::exchange(o.free_, nullptr)),
      capacity_(o.capacity_),
      n_free_(o.n_free_) {}

CipherKeyPool::~CipherKeyPool() {
    if (blocks_ != nullptr) std::memset(static_cast<void*>(blocks_), 0, size_t{capacity_} * sizeof(CipherKeys));
    rte_free(blocks_);
    rte_free(free_);
}

int32_t CipherKeyPool::add(IMB_MGR* mgr, Transform t, Ealg ealg, std::span<const uint8_t> key,
                           const HmacKey& hmac) noexcept {
    if (n_free_ == 0) return -ENOSPC;
    const uint32_t index = free_[--n_free_];
    set(index, mgr, t, ealg, key, hmac);
    return int32_t(index);
}

void CipherKeyPool::set(uint32_t index, IMB_MGR* mgr, Transform t, Ealg ealg, std::span<const uint8_t> key,
                        const HmacKey& hmac) noexcept {
    CipherKeys& k = blocks_[index];
    std::memset(static_cast<void*>(&k), 0, sizeof k);
    k.sha256 = hmac;  // zeros but for alg hmac-sha-256-128
    if (t == Transform::hmac_sha256) return;
    if (is_aead(t)) {
        IMB_AES128_GCM_PRE(mgr, key.data(), &k.gcm);  // key || salt
        std::memcpy(k.salt, key.data() + 16, sizeof k.salt);
        return;
    }
    if (ealg == Ealg::aes_cbc) {
        IMB_AES_KEYEXP_128(mgr, key.data(), k.cbc.sched, k.cbc.sched + CbcKeys::kAesSchedule);
        return;
    }
    // 3DES-EDE (RFC 2451): three independent DES keys, K1 first.
    for (size_t i = 0; i < 3; ++i) {
        uint8_t* ks = k.cbc.sched + i * CbcKeys::kDesSchedule;
        IMB_DES_KEYSCHED(mgr, reinterpret_cast<uint64_t*>(ks), key.data() + 8 * i);
        k.cbc.des3[i] = ks;
    }
}

CipherKeys::Span CipherKeys::cipher_span(Transform t, Ealg e, bool decrypt) noexcept {
    if (t == Transform::hmac || t == Transform::hmac_sha256) return {0, 0};
    if (t == Transform::cbc_hmac && e == Ealg::aes_cbc) {
        const size_t lo = decrypt ? CbcKeys::kAesSchedule : 0;
        return {lo, lo + CbcKeys::kAesSchedule};
    }
    if (t == Transform::cbc_hmac)
        return {0, offsetof(CbcKeys, des3) + sizeof(CbcKeys::des3)};  // 3DES: all, pointers too
    return {0, offsetof(CipherKeys, sha256)};                         // AES-GCM / GMAC: all of it
}

void CipherKeys::prefetch(Transform t, Ealg e, bool decrypt, bool sha256) const noexcept {
    const auto* p = reinterpret_cast<const uint8_t*>(this);
    if (sha256) rte_prefetch0(&this->sha256);
    const Span s = cipher_span(t, e, decrypt);
    for (size_t l = s.begin / 64; l * 64 < s.end; ++l) rte_prefetch0(p + 64 * l);
}

void CipherKeyPool::release(uint32_t index) noexcept {
    std::memset(static_cast<void*>(&blocks_[index]), 0, sizeof(CipherKeys));
    free_[n_free_++] = index;
}

}  // namespace pcscf::esp
