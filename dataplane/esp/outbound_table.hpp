#pragma once
// One worker's outbound SAs, found by (UE address, UE port, P-CSCF port): the selectors
// of a packet the P-CSCF sends. A DPDK cuckoo hash (rte_hash, fixed capacity, no
// allocation after creation) maps the key to a position in a pool of hot records.
//
// Threading: only the owning worker reads or writes a table.
#include <rte_prefetch.h>

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>

#include "dataplane/esp/sa_config.hpp"

struct rte_hash;

namespace pcscf::esp {

// 8-byte aligned because rte_hash_crc reads keys 8 bytes at a time; only the first
// kOutboundKeyLen bytes are hashed and compared.
struct alignas(8) OutboundKey {
    IpAddr ue_addr;
    uint16_t ue_port = 0;     // host order
    uint16_t pcscf_port = 0;  // host order
    friend bool operator==(const OutboundKey& a, const OutboundKey& b) noexcept {
        return a.ue_addr == b.ue_addr && a.ue_port == b.ue_port && a.pcscf_port == b.pcscf_port;
    }
};
inline constexpr uint32_t kOutboundKeyLen = 20;
static_assert(offsetof(OutboundKey, pcscf_port) + 2 == kOutboundKeyLen, "no inner padding");

struct alignas(64) OutboundSa {
    // Line 0: what the packet path needs.
    uint32_t spi;
    Alg alg;
    uint8_t flags;      // kNearEndReported, kExhaustedReported
    uint16_t reserved;
    uint64_t seq;       // last sequence number sent; the next packet gets seq + 1
    HmacKey key;
    uint64_t cookie;
    // Line 1: source selector and counters.
    IpAddr pcscf_addr;  // unspecified = any source address
    OutboundKey sel;
    uint64_t packets;
    uint64_t bytes;
    uint64_t drops;

    static constexpr uint8_t kNearEndReported = 1;
    static constexpr uint8_t kExhaustedReported = 2;
};
static_assert(sizeof(OutboundSa) == 128, "two cache lines");

class OutboundTable {
public:
    static std::expected<OutboundTable, std::string> create(uint32_t capacity, int socket);
    OutboundTable(OutboundTable&& o) noexcept;
    OutboundTable& operator=(OutboundTable&&) = delete;
    ~OutboundTable();

    uint32_t capacity() const noexcept { return capacity_; }
    uint32_t count() const noexcept { return count_; }
    uint32_t pool_size() const noexcept { return pool_size_; }

    // Position of the SA, or a negative value if none.
    int32_t find(const OutboundKey& key) const noexcept;
    // Looks up n <= 64 keys at once; positions[i] < 0 where there is no SA.
    void find_bulk(const OutboundKey* const* keys, uint32_t n, int32_t* positions) const noexcept;

    OutboundSa& at(int32_t pos) noexcept { return pool_[pos]; }
    void prefetch(int32_t pos) const noexcept {
        rte_prefetch0(&pool_[pos]);
        rte_prefetch0(reinterpret_cast<const uint8_t*>(&pool_[pos]) + 64);
    }
    const OutboundSa& at(int32_t pos) const noexcept { return pool_[pos]; }

    // Returns the new position, or -EEXIST / -ENOSPC.
    int32_t insert(const SaConfig& sa, const HmacKey& key) noexcept;
    void erase(int32_t pos) noexcept;

    template <typename F>
    void for_each(F&& f) const {  // visits every installed SA
        for (uint32_t i = 0; i < pool_size_; ++i)
            if (pool_[i].spi != 0) f(pool_[i]);
    }

private:
    OutboundTable(rte_hash* h, OutboundSa* pool, uint32_t capacity, uint32_t pool_size) noexcept
        : hash_(h), pool_(pool), capacity_(capacity), pool_size_(pool_size) {}

    rte_hash* hash_;
    OutboundSa* pool_;
    uint32_t capacity_;
    uint32_t pool_size_;
    uint32_t count_ = 0;
};

}  // namespace pcscf::esp
