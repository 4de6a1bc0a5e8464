#include "dataplane/esp/inbound_table.hpp"

#include <rte_malloc.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace pcscf::esp {

std::expected<InboundTable, std::string> InboundTable::create(uint32_t slots, uint32_t replay_window, int socket) {
    if (!ReplayWindow::valid_size(replay_window))
        return std::unexpected("replay window must be " + std::to_string(ReplayWindow::kMinSize) + ".." +
                               std::to_string(ReplayWindow::kMaxSize) + " packets, got " +
                               std::to_string(replay_window));
    if (slots == 0) return std::unexpected(std::string("inbound table needs at least one slot"));
    const ReplayWindow replay(replay_window);
    const size_t map_bytes = replay.words() <= 2 ? 0 : (size_t{replay.words()} * 8 + 63) / 64 * 64;
    const size_t stride = sizeof(InboundSa) + map_bytes;
    auto* base = static_cast<uint8_t*>(rte_zmalloc_socket("pcscf_inbound_sa", size_t{slots} * stride, 64, socket));
    auto* drops = static_cast<uint64_t*>(rte_zmalloc_socket("pcscf_inbound_drops", size_t{slots} * 8, 64, socket));
    auto* cookies = static_cast<uint64_t*>(rte_zmalloc_socket("pcscf_inbound_cookies", size_t{slots} * 8, 64, socket));
    auto* nat =
        static_cast<NatSide*>(rte_zmalloc_socket("pcscf_inbound_nat", size_t{slots} * sizeof(NatSide), 64, socket));
    if (base == nullptr || drops == nullptr || cookies == nullptr || nat == nullptr) {
        rte_free(base);
        rte_free(drops);
        rte_free(cookies);
        rte_free(nat);
        return std::unexpected("cannot allocate " + std::to_string(size_t{slots} * stride >> 20) + " MiB for " +
                               std::to_string(slots) + " inbound SAs (hugepages or EAL -m too small?)");
    }
    return InboundTable(base, drops, cookies, nat, slots, stride, replay);
}

InboundTable::InboundTable(InboundTable&& o) noexcept
    : base_(std::exchange(o.base_, nullptr)),
      drops_(std::exchange(o.drops_, nullptr)),
      cookies_(std::exchange(o.cookies_, nullptr)),
      nat_(std::exchange(o.nat_, nullptr)),
      slots_(o.slots_),
      count_(o.count_),
      stride_(o.stride_),
      replay_(o.replay_),
      inline_window_(o.inline_window_) {}

InboundTable::~InboundTable() {
    rte_free(base_);
    rte_free(drops_);
    rte_free(cookies_);
    rte_free(nat_);
}

void InboundTable::install(uint32_t slot, const SaConfig& sa, const HmacKey& key, uint32_t cipher) noexcept {
    InboundSa& r = at(slot);
    if (r.spi == 0) ++count_;
    std::memset(static_cast<void*>(&r), 0, stride_);
    drops_[slot] = 0;
    r.spi = sa.spi;
    r.alg = sa.alg;
    r.ealg = sa.ealg;
    r.xf = transform(sa.alg, sa.ealg).value_or(Transform::hmac);  // the engine checked the pair
    r.cipher = cipher;
    r.set_ports(sa.ue_port, sa.pcscf_port);
    r.key = HmacKey160::of(key);
    cookies_[slot] = sa.cookie;
    if (sa.mode == Mode::udp_enc_tun) r.flags = InboundSa::kUdpEncTun;
    nat_[slot] = NatSide::of(sa);
    r.ue_addr = sa.ue_addr;
    r.pcscf_addr = sa.pcscf_addr;
    if (sa.seq_start != 0) resume(slot, sa.seq_start);
}

void InboundTable::resume(uint32_t slot, uint32_t edge) noexcept {
    // Restored: everything up to the right edge counts as seen, nothing above.
    InboundSa& r = at(slot);
    if (edge <= r.replay_last) return;
    r.replay_last = edge;
    uint64_t* map = window(r);
    std::fill(map, map + replay_.words(), ~uint64_t{0});
    map[replay_.word(edge)] = ~uint64_t{0} >> (63 - (edge & 63));
}

void InboundTable::clear(uint32_t slot) noexcept {
    InboundSa& r = at(slot);
    if (r.spi != 0) --count_;
    std::memset(static_cast<void*>(&r), 0, offsetof(InboundSa, ue_addr));
}

}  // namespace pcscf::esp
