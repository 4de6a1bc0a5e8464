#pragma once
// The cipher keys of one worker's SAs that have one (TS 33.203 Annex H: ealg aes-cbc,
// des-ede3-cbc and aes-gcm, alg aes-gmac), expanded once, when the worker installs the
// SA, into the schedules IPsec-MB's jobs take; and the HMAC-SHA-256 states of alg
// hmac-sha-256-128, which do not fit the SA record's first line. They sit in a fixed pool
// allocated with the engine: an SA record holds only its block's index, so the records
// stay two cache lines and an SA with neither costs nothing here. A freed block is
// zeroed: no key outlives its SA.
//
// Threading: only the owning worker reads or writes a pool.
#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>

#include <intel-ipsec-mb.h>

#include "sa_contract/sa_config.hpp"

namespace pcscf::esp {

// One SA's schedules. AES-128-CBC (RFC 3602): the encryption round keys, then the
// decryption ones. 3DES (RFC 2451): the DES schedules of K1, K2 and K3, and the three
// pointers to them that IMB_CIPHER_DES3 jobs take as both enc_keys and dec_keys.
struct CbcKeys {
    static constexpr size_t kAesSchedule = 16 * 11;  // 11 round keys
    static constexpr size_t kDesSchedule = 8 * 16;   // 16 round keys
    alignas(16) uint8_t sched[3 * kDesSchedule];
    const void* des3[3];
};
static_assert(2 * CbcKeys::kAesSchedule <= sizeof(CbcKeys::sched));

// AES-GCM (RFC 4106) and AES-GMAC (RFC 4543): IPsec-MB's expanded key (round keys, then
// the GHASH key's powers) and the salt that starts every nonce. HMAC-SHA-256-128 (RFC
// 4868), with or without a CBC cipher: its hash states, which do not fit the SA record.
struct alignas(64) CipherKeys {
    union {
        CbcKeys cbc;
        gcm_key_data gcm;  // at offset 0: 64-byte aligned, as IPsec-MB wants its key data
    };
    uint8_t salt[4];
    alignas(64) HmacKey sha256;  // one cache line of its own

    const void* enc_keys(Ealg e) const noexcept {
        return e == Ealg::aes_cbc ? static_cast<const void*>(cbc.sched) : static_cast<const void*>(cbc.des3);
    }
    const void* dec_keys(Ealg e) const noexcept {
        return e == Ealg::aes_cbc ? static_cast<const void*>(cbc.sched + CbcKeys::kAesSchedule)
                                  : static_cast<const void*>(cbc.des3);
    }
    // The bytes of the block a packet of transform `t` reads for its cipher: one AES-CBC
    // schedule (the decryption one when `decrypt`), the three of 3DES, or all of an
    // AES-GCM/GMAC block; none for hmac_sha256, whose states are `sha256`.
    struct Span {
        size_t begin, end;
    };
    static Span cipher_span(Transform t, Ealg e, bool decrypt) noexcept;
    // Brings in what a packet of transform `t` reads: its cipher_span, and the SHA-256
    // states when `sha256`.
    void prefetch(Transform t, Ealg e, bool decrypt, bool sha256 = false) const noexcept;
};
static_assert(sizeof(gcm_key_data) == 1008 && sizeof(CipherKeys) == 1088, "seventeen cache lines");

// Requests the key blocks of a burst's packets in turn: the packets of one SA, which come
// together, bring its block in once.
class KeyBlockPrefetch {
public:
    void operator()(const CipherKeys& keys, Transform t, Ealg e, bool decrypt, bool sha256) noexcept {
        if (&keys != last_) keys.prefetch(t, e, decrypt, sha256);
        last_ = &keys;
    }

private:
    const CipherKeys* last_ = nullptr;
};

class CipherKeyPool {
public:
    // Room for `capacity` ciphered SAs (0: none may be installed).
    static std::expected<CipherKeyPool, std::string> create(uint32_t capacity, int socket);
    CipherKeyPool(CipherKeyPool&& o) noexcept;
    CipherKeyPool& operator=(CipherKeyPool&&) = delete;
    ~CipherKeyPool();

    uint32_t capacity() const noexcept { return capacity_; }
    uint32_t in_use() const noexcept { return capacity_ - n_free_; }

    // Expands `key` (cipher_key_len(alg, ealg) bytes for a transform `t` other than
    // hmac, checked by the caller) into a free block, with `hmac`, the SHA-256 states of
    // an SA of alg hmac-sha-256-128 (zeros for the others); returns its index, or -ENOSPC.
    int32_t add(IMB_MGR* mgr, Transform t, Ealg ealg, std::span<const uint8_t> key, const HmacKey& hmac) noexcept;
    // Expands a new key into a block in use (an update that changes key or algorithm).
    void set(uint32_t index, IMB_MGR* mgr, Transform t, Ealg ealg, std::span<const uint8_t> key,
             const HmacKey& hmac) noexcept;
    void release(uint32_t index) noexcept;  // zeroes the block

    const CipherKeys& at(uint32_t index) const noexcept { return blocks_[index]; }

private:
    CipherKeyPool(CipherKeys* blocks, uint32_t* free, uint32_t capacity) noexcept
        : blocks_(blocks), free_(free), capacity_(capacity), n_free_(capacity) {}

    CipherKeys* blocks_;
    uint32_t* free_;  // free indices, a stack
    uint32_t capacity_;
    uint32_t n_free_;
};

}  // namespace pcscf::esp
