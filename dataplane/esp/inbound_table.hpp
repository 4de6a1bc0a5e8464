#pragma once
// One worker's inbound SAs, indexed directly by SPI slot (see SpiLayout): lookup is one
// array access whatever the number of SAs. Each slot is the SA's hot record (two cache
// lines, the default replay bitmap included; a larger bitmap follows it), so a packet
// touches adjacent cache lines only. Per-SA drop counts live apart (attacks touch them),
// and so do the control plane's cookies (only events read them).
//
// Threading: only the owning worker reads or writes a table.
#include <rte_prefetch.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <expected>
#include <string>

#include "dataplane/esp/nat_side.hpp"
#include "dataplane/esp/replay_window.hpp"
#include "net/byte_order.hpp"
#include "sa_contract/sa_config.hpp"

namespace pcscf::esp {

struct alignas(64) InboundSa {
    // Line 0: what the packet path needs before and during the HMAC (and decryption).
    uint32_t spi;  // 0 while the slot is free (SPI 0 is never allocated)
    Alg alg;
    uint8_t flags;  // kUsed once the first packet has verified; kUdpEncTun
    Ealg ealg;
    Transform xf;          // from (alg, ealg); all but hmac have a key block in `cipher`
    uint32_t replay_last;  // highest verified sequence number
    uint32_t cipher;       // index in the engine's CipherKeyPool (xf not hmac)
    HmacKey160 key;        // for HMAC-MD5 and HMAC-SHA-1 (SHA-256: in the key block)
    uint64_t packets;
    // Line 1: selectors checked after decapsulation, counters, and the replay bitmap when
    // the window is the default 64 (larger bitmaps follow the record). The control
    // plane's cookie, read only for events, lives apart (InboundTable::cookie).
    net::IpAddr ue_addr;
    net::IpAddr pcscf_addr;
    uint64_t bytes;
    // The port selectors as the packet's L4 header holds them (the UE's port, then the
    // P-CSCF's, network order) and the bytes they bind: 0 (any) binds none. A packet's
    // ports are then one masked compare.
    uint32_t ports;
    uint32_t ports_mask;
    uint64_t window[2];

    void set_ports(uint16_t ue_port, uint16_t pcscf_port) noexcept {
        uint8_t be[4], mask[4];
        net::store_be16(be, ue_port);
        net::store_be16(be + 2, pcscf_port);
        net::store_be16(mask, ue_port != 0 ? 0xffff : 0);
        net::store_be16(mask + 2, pcscf_port != 0 ? 0xffff : 0);
        std::memcpy(&ports, be, 4);
        std::memcpy(&ports_mask, mask, 4);
    }
    bool ports_match(const uint8_t* l4) const noexcept {
        uint32_t both;
        std::memcpy(&both, l4, 4);
        return (both & ports_mask) == ports;
    }

    static constexpr uint8_t kUsed = 1;
    static constexpr uint8_t kUdpEncTun = 2;  // Mode::udp_enc_tun: NatSide holds its addressing
};
static_assert(sizeof(InboundSa) == 128, "two cache lines");
static_assert(offsetof(InboundSa, ue_addr) == 64, "selectors start line 1");
static_assert(offsetof(InboundSa, window) == 112, "the default bitmap ends line 1");

class InboundTable {
public:
    static std::expected<InboundTable, std::string> create(uint32_t slots, uint32_t replay_window, int socket);
    InboundTable(InboundTable&& o) noexcept;
    InboundTable& operator=(InboundTable&&) = delete;
    ~InboundTable();

    uint32_t slots() const noexcept { return slots_; }
    uint32_t count() const noexcept { return count_; }
    const ReplayWindow& replay() const noexcept { return replay_; }
    size_t bytes_per_sa() const noexcept { return stride_; }

    InboundSa& at(uint32_t slot) noexcept { return *reinterpret_cast<InboundSa*>(base_ + size_t{slot} * stride_); }
    const InboundSa& at(uint32_t slot) const noexcept {
        return *reinterpret_cast<const InboundSa*>(base_ + size_t{slot} * stride_);
    }
    uint64_t* window(InboundSa& sa) const noexcept {
        return inline_window_ ? sa.window : reinterpret_cast<uint64_t*>(&sa + 1);
    }
    uint64_t& drops(uint32_t slot) noexcept { return drops_[slot]; }
    const uint64_t& drops(uint32_t slot) const noexcept { return drops_[slot]; }
    uint64_t& cookie(uint32_t slot) noexcept { return cookies_[slot]; }
    uint64_t cookie(uint32_t slot) const noexcept { return cookies_[slot]; }
    NatSide& nat(uint32_t slot) noexcept { return nat_[slot]; }
    const NatSide& nat(uint32_t slot) const noexcept { return nat_[slot]; }
    void prefetch(uint32_t slot) const noexcept {
        const uint8_t* p = base_ + size_t{slot} * stride_;
        rte_prefetch0(p);
        rte_prefetch0(p + 64);
        if (!inline_window_) rte_prefetch0(p + 128);
    }
    // What install() writes: the slot, its drop counter and cookie (kept apart, off the packet path).
    void prefetch_install(uint32_t slot) const noexcept {
        prefetch(slot);
        rte_prefetch0(&drops_[slot]);
        rte_prefetch0(&cookies_[slot]);
    }
    // What clear() touches: line 0.
    void prefetch_clear(uint32_t slot) const noexcept { rte_prefetch0(base_ + size_t{slot} * stride_); }

    // Fills a free slot (SA state reset), or frees a used one: zeroes line 0 (the SPI that
    // marks it used, the keys, the packet count) and leaves the rest, which install()
    // rewrites, so a delete costs one cache line, not the whole record. `cipher` is the
    // SA's CipherKeyPool block when its transform is not hmac.
    void install(uint32_t slot, const SaConfig& sa, const HmacKey& key, uint32_t cipher) noexcept;
    void clear(uint32_t slot) noexcept;
    // Moves the replay window's right edge forward to `edge`, everything up to it seen.
    void resume(uint32_t slot, uint32_t edge) noexcept;

private:
    InboundTable(uint8_t* base, uint64_t* drops, uint64_t* cookies, NatSide* nat, uint32_t slots, size_t stride,
                 ReplayWindow replay) noexcept
        : base_(base),
          drops_(drops),
          cookies_(cookies),
          nat_(nat),
          slots_(slots),
          stride_(stride),
          replay_(replay),
          inline_window_(replay.words() <= 2) {}

    uint8_t* base_;
    uint64_t* drops_;
    uint64_t* cookies_;
    NatSide* nat_;
    uint32_t slots_;
    uint32_t count_ = 0;
    size_t stride_;
    ReplayWindow replay_;
    bool inline_window_;
};

}  // namespace pcscf::esp
