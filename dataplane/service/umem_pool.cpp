#include "dataplane/service/umem_pool.hpp"

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_memzone.h>

#include <linux/bpf.h>
#include <unistd.h>

#include <cstring>

namespace pcscf::dp {

namespace {

void free_zone(rte_mempool_memhdr*, void* zone) { rte_memzone_free(static_cast<const rte_memzone*>(zone)); }

// The UMEM as the PMD computes it, and the objects found outside it.
struct Umem {
    uintptr_t start = 0, end = 0;
    size_t header = 0, frame = 0;
    uint32_t outside = 0;
};

void count_outside(rte_mempool*, void* arg, void* obj, unsigned) {
    auto* u = static_cast<Umem*>(arg);
    const uintptr_t first = uintptr_t(obj) - u->header;  // what the PMD posts to the kernel
    if (first < u->start || first + u->frame > u->end) ++u->outside;
}

}  // namespace

bool is_af_xdp(uint16_t port) noexcept {
    rte_eth_dev_info info{};
    return rte_eth_dev_info_get(port, &info) == 0 && info.driver_name != nullptr &&
           std::strcmp(info.driver_name, "net_af_xdp") == 0;
}

std::expected<rte_mempool*, std::string> make_umem_pool(const std::string& name, uint32_t n, int socket) {
    const auto fail = [&name](const std::string& why) {
        return std::unexpected("cannot create mbuf pool " + name + " (" + why + ")");
    };
    const uint32_t header = RTE_CACHE_LINE_ROUNDUP(sizeof(rte_mempool_objhdr));
    const auto room = uint16_t(kUmemFrame - header - sizeof(rte_mbuf));
    // NO_SPREAD: padding objects to spread them over memory channels would break the tiling.
    rte_mempool* mp = rte_mempool_create_empty(name.c_str(), n, sizeof(rte_mbuf) + room, n >= 512 ? 256 : 0,
                                               sizeof(rte_pktmbuf_pool_private), socket, RTE_MEMPOOL_F_NO_SPREAD);
    if (mp == nullptr) return fail(rte_strerror(rte_errno));
    const std::string zone_name = name + "_umem";
    const auto undo = [&](const std::string& why) {
        rte_mempool_free(mp);  // frees the zone with the pool's first memory chunk
        if (const rte_memzone* z = rte_memzone_lookup(zone_name.c_str())) rte_memzone_free(z);
        return fail(why);
    };
    if (mp->header_size + mp->elt_size + mp->trailer_size != kUmemFrame)
        return undo("objects of " + std::to_string(mp->header_size + mp->elt_size + mp->trailer_size) + " bytes, not " +
                    std::to_string(kUmemFrame));
    if (int rc = rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), nullptr); rc != 0)
        return undo(rte_strerror(-rc));
    rte_pktmbuf_pool_private priv{};
    priv.mbuf_data_room_size = room;
    rte_pktmbuf_pool_init(mp, &priv);
    const rte_memzone* zone =
        rte_memzone_reserve_aligned(zone_name.c_str(), size_t(n) * kUmemFrame, socket, 0, kUmemFrame);
    if (zone == nullptr)
        return undo(std::to_string(n) + " x " + std::to_string(kUmemFrame) + " bytes: " + rte_strerror(rte_errno) +
                    "; reserve more hugepages or lower --mbufs");
    const int added = rte_mempool_populate_virt(mp, static_cast<char*>(zone->addr), zone->len, zone->hugepage_sz,
                                                free_zone, const_cast<rte_memzone*>(zone));
    if (added != int(n)) return undo("placed " + std::to_string(added) + " of " + std::to_string(n) + " buffers");
    rte_mempool_obj_iter(mp, rte_pktmbuf_init, nullptr);
    if (auto ok = check_umem_layout(mp); !ok) return undo(ok.error());
    return mp;
}

uint32_t umem_frame_room(rte_mempool* mp) noexcept {
    const uint32_t used =
        mp->header_size + sizeof(rte_mbuf) + rte_pktmbuf_priv_size(mp) + RTE_PKTMBUF_HEADROOM + XDP_PACKET_HEADROOM;
    const uint32_t frame = mp->header_size + mp->elt_size + mp->trailer_size;
    return frame > used ? frame - used : 0;
}

std::expected<void, std::string> check_umem_layout(rte_mempool* mp) {
    const rte_mempool_memhdr* first = STAILQ_FIRST(&mp->mem_list);
    if (first == nullptr) return std::unexpected(std::string("no memory"));
    // As DPDK 22.11's rte_eth_af_xdp.c: from the page holding the first chunk, one object
    // size per object.
    Umem u;
    u.header = mp->header_size;
    u.frame = rte_mempool_calc_obj_size(mp->elt_size, mp->flags, nullptr);
    u.start = uintptr_t(first->addr) & ~uintptr_t(getpagesize() - 1);
    u.end = uintptr_t(first->addr) + uintptr_t(mp->populated_size) * u.frame;
    rte_mempool_obj_iter(mp, count_outside, &u);
    if (u.outside != 0)
        return std::unexpected(std::to_string(u.outside) + " of " + std::to_string(mp->populated_size) +
                               " buffers lie outside the UMEM net_af_xdp registers");
    return {};
}

}  // namespace pcscf::dp
