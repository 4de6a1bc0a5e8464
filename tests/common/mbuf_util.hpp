#pragma once
// Packets as byte vectors in and out of mbufs, for tests and benchmarks.
#include <rte_mbuf.h>

#include <cstdint>
#include <span>
#include <vector>

namespace pcscf::test {

// A process-wide pool of 4,096 mbufs with 9 KB of data room (large enough for jumbo SIP).
rte_mempool* test_pool();

// A single-segment mbuf holding `bytes`.
rte_mbuf* make_mbuf(std::span<const uint8_t> bytes);
std::vector<uint8_t> bytes_of(const rte_mbuf* m);

// Frees the mbufs on scope exit.
struct MbufGuard {
    std::vector<rte_mbuf*> v;
    ~MbufGuard() {
        for (auto* m : v) rte_pktmbuf_free(m);
    }
};

}  // namespace pcscf::test
