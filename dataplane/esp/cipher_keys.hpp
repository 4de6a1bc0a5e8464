#pragma once
// The CBC keys of one worker's ciphered SAs (TS 33.203 Annex H ealg aes-cbc and
// des-ede3-cbc), expanded once, when the worker installs the SA, into the schedules
// IPsec-MB's jobs take. They sit in a fixed pool allocated with the engine: an SA record
// holds only its block's index, so the records stay two cache lines and an SA without
// encryption costs nothing here. A freed block is zeroed: no key outlives its SA.
//
// Threading: only the owning worker reads or writes a pool.
#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>

#include "sa_contract/sa_config.hpp"

struct IMB_MGR;

namespace pcscf::esp {

// One SA's schedules. AES-128 (RFC 3602): the encryption round keys, then the decryption
// ones. 3DES (RFC 2451): the DES schedules of K1, K2 and K3, and the three pointers to
// them that IMB_CIPHER_DES3 jobs take as both enc_keys and dec_keys.
struct alignas(64) CipherKeys {
    static constexpr size_t kAesSchedule = 16 * 11;  // 11 round keys
    static constexpr size_t kDesSchedule = 8 * 16;   // 16 round keys
    alignas(16) uint8_t sched[3 * kDesSchedule];
    const void* des3[3];

    const void* enc_keys(Ealg e) const noexcept {
        return e == Ealg::aes_cbc ? static_cast<const void*>(sched) : static_cast<const void*>(des3);
    }
    const void* dec_keys(Ealg e) const noexcept {
        return e == Ealg::aes_cbc ? static_cast<const void*>(sched + kAesSchedule) : static_cast<const void*>(des3);
    }
};
static_assert(2 * CipherKeys::kAesSchedule <= sizeof(CipherKeys::sched));
static_assert(sizeof(CipherKeys) == 448, "seven cache lines");

class CipherKeyPool {
public:
    // Room for `capacity` ciphered SAs (0: none may be installed).
    static std::expected<CipherKeyPool, std::string> create(uint32_t capacity, int socket);
    CipherKeyPool(CipherKeyPool&& o) noexcept;
    CipherKeyPool& operator=(CipherKeyPool&&) = delete;
    ~CipherKeyPool();

    uint32_t capacity() const noexcept { return capacity_; }
    uint32_t in_use() const noexcept { return capacity_ - n_free_; }

    // Expands `key` (cipher_key_len(ealg) bytes, ealg not null, both checked by the
    // caller) into a free block; returns its index, or -ENOSPC.
    int32_t add(IMB_MGR* mgr, Ealg ealg, std::span<const uint8_t> key) noexcept;
    // Expands a new key into a block in use (an update that changes key or algorithm).
    void set(uint32_t index, IMB_MGR* mgr, Ealg ealg, std::span<const uint8_t> key) noexcept;
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
