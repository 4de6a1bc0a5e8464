// The packet pool a net_af_xdp port receives into is its AF_XDP UMEM, which DPDK 22.11's
// PMD registers as populated_size x object size from the page of the pool's first chunk.
// Every buffer must lie inside it: the kernel drops, for good, any buffer posted outside.
#include <gtest/gtest.h>
#include <rte_mbuf.h>
#include <rte_memzone.h>

#include "dataplane/service/umem_pool.hpp"

namespace pcscf::dp {
namespace {

void count_unaligned(rte_mempool* mp, void* arg, void* obj, unsigned) {
    const uintptr_t first = uintptr_t(obj) - mp->header_size;
    *static_cast<uint32_t*>(arg) += first % kUmemFrame != 0;
}

TEST(UmemPool, EveryBufferLiesInsideTheUmemOnAPageOfItsOwn) {
    auto mp = make_umem_pool("umem_inside", 8191, 0);
    ASSERT_TRUE(mp) << mp.error();
    EXPECT_EQ((*mp)->populated_size, 8191u);
    EXPECT_EQ(rte_mempool_calc_obj_size((*mp)->elt_size, (*mp)->flags, nullptr), kUmemFrame);
    const auto layout = check_umem_layout(*mp);
    EXPECT_TRUE(layout) << layout.error();
    uint32_t unaligned = 0;  // crossing no page, a buffer is valid in zero-copy mode too
    rte_mempool_obj_iter(*mp, count_unaligned, &unaligned);
    EXPECT_EQ(unaligned, 0u);
    rte_mempool_free(*mp);
}

TEST(UmemPool, AFrameFitsBehindBothHeadrooms) {
    auto mp = make_umem_pool("umem_room", 64, 0);
    ASSERT_TRUE(mp) << mp.error();
    const uint32_t room = umem_frame_room(*mp);
    EXPECT_EQ(room, 3520u);  // 4096 less the object header, the mbuf, and 128 + 256 of headroom
    rte_mbuf* m = rte_pktmbuf_alloc(*mp);
    ASSERT_NE(m, nullptr);
    // Where the PMD puts a received frame: past the kernel's XDP headroom as well.
    ASSERT_NE(rte_pktmbuf_append(m, 256), nullptr);
    ASSERT_NE(rte_pktmbuf_adj(m, 256), nullptr);
    EXPECT_EQ(rte_pktmbuf_tailroom(m), room);
    rte_pktmbuf_free(m);
    rte_mempool_free(*mp);
}

TEST(UmemPool, FreeingThePoolReleasesItsZone) {
    for (int round = 0; round < 2; ++round) {  // the second fails if the zone's name is still taken
        auto mp = make_umem_pool("umem_free", 1024, 0);
        ASSERT_TRUE(mp) << mp.error();
        EXPECT_NE(rte_memzone_lookup("umem_free_umem"), nullptr);
        rte_mempool_free(*mp);
        EXPECT_EQ(rte_memzone_lookup("umem_free_umem"), nullptr);
    }
}

// What the check guards against: without hugepages, the pool rte_pktmbuf_pool_create makes
// keeps each 2368-byte object within a 4 KiB page, so the PMD's UMEM misses the tail of it.
TEST(UmemPool, TheDefaultPktmbufPoolIsNotLaidOutForTheUmem) {
    rte_mempool* mp = rte_pktmbuf_pool_create("umem_default", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    ASSERT_NE(mp, nullptr);
    const auto layout = check_umem_layout(mp);
    ASSERT_FALSE(layout);
    EXPECT_NE(layout.error().find("outside the UMEM"), std::string::npos) << layout.error();
    rte_mempool_free(mp);
}

}  // namespace
}  // namespace pcscf::dp
