#include "dataplane/esp/outbound_table.hpp"

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

#include <atomic>
#include <cstring>
#include <utility>

namespace pcscf::esp {

std::expected<OutboundTable, std::string> OutboundTable::create(uint32_t capacity, int socket) {
    if (capacity < 8) return std::unexpected(std::string("outbound table needs >= 8 entries"));
    static std::atomic<uint32_t> serial{0};  // rte_hash names must be unique per process
    const std::string name = "pcscf_ob_" + std::to_string(serial++);
    rte_hash_parameters p{};
    p.name = name.c_str();
    p.entries = capacity;
    p.key_len = kOutboundKeyLen;
    p.hash_func = rte_hash_crc;
    p.socket_id = socket;
    // The extendable table makes every insert up to `capacity` succeed (no cuckoo failure).
    p.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
    rte_hash* h = rte_hash_create(&p);
    if (h == nullptr)
        return std::unexpected("cannot create the outbound SA hash for " +
                               std::to_string(capacity) + " SAs: " + rte_strerror(rte_errno));
    const uint32_t pool_size = uint32_t(rte_hash_max_key_id(h)) + 1;
    auto* pool = static_cast<OutboundSa*>(
        rte_zmalloc_socket("pcscf_outbound_sa", size_t{pool_size} * sizeof(OutboundSa), 64, socket));
    if (pool == nullptr) {
        rte_hash_free(h);
        return std::unexpected("cannot allocate " + std::to_string(capacity) +
                               " outbound SAs (hugepages or EAL -m too small?)");
    }
    return OutboundTable(h, pool, capacity, pool_size);
}

OutboundTable::OutboundTable(OutboundTable&& o) noexcept
    : hash_(std::exchange(o.hash_, nullptr)), pool_(std::exchange(o.pool_, nullptr)),
      capacity_(o.capacity_), pool_size_(o.pool_size_), count_(o.count_) {}

OutboundTable::~OutboundTable() {
    rte_hash_free(hash_);
    rte_free(pool_);
}

int32_t OutboundTable::find(const OutboundKey& key) const noexcept {
    return rte_hash_lookup(hash_, &key);  // OutboundKey is 8-byte aligned
}

void OutboundTable::find_bulk(const OutboundKey* const* keys, uint32_t n,
                              int32_t* positions) const noexcept {
    // rte_hash takes `const void**` although it only reads the key pointers.
    auto* k = const_cast<const void**>(reinterpret_cast<const void* const*>(keys));
    rte_hash_lookup_bulk(hash_, k, n, positions);
}

int32_t OutboundTable::insert(const SaConfig& sa, const HmacKey& key) noexcept {
    const OutboundKey k{sa.ue_addr, sa.ue_port, sa.pcscf_port};  // aligned for the hash
    if (count_ >= capacity_) return find(k) >= 0 ? -EEXIST : -ENOSPC;
    // For a key it holds, rte_hash_add_key returns the key's position: one search, not two.
    const int32_t pos = rte_hash_add_key(hash_, &k);
    if (pos < 0) return pos == -EINVAL ? -EINVAL : -ENOSPC;
    OutboundSa& r = pool_[pos];
    if (r.spi != 0) return -EEXIST;  // a free position's record is zeroed
    std::memset(static_cast<void*>(&r), 0, sizeof r);
    r.spi = sa.spi;
    r.alg = sa.alg;
    r.key = key;
    r.cookie = sa.cookie;
    r.pcscf_addr = sa.pcscf_addr;
    r.sel = k;
    ++count_;
    return pos;
}

void OutboundTable::erase(int32_t pos) noexcept {
    OutboundSa& r = pool_[pos];
    rte_hash_del_key(hash_, &r.sel);
    std::memset(static_cast<void*>(&r), 0, sizeof r);
    --count_;
}

}  // namespace pcscf::esp
