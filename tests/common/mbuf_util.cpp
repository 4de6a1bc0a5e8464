#include "tests/common/mbuf_util.hpp"

#include <cstring>
#include <stdexcept>

namespace pcscf::test {

rte_mempool* test_pool() {
    static rte_mempool* pool = [] {
        rte_mempool* p = rte_pktmbuf_pool_create("test_pool", 4095, 256, 0, 9216 + RTE_PKTMBUF_HEADROOM, SOCKET_ID_ANY);
        if (p == nullptr) throw std::runtime_error("cannot create the test mbuf pool");
        return p;
    }();
    return pool;
}

rte_mbuf* make_mbuf(std::span<const uint8_t> bytes) {
    rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
    if (m == nullptr) throw std::runtime_error("test pool exhausted");
    char* p = rte_pktmbuf_append(m, uint16_t(bytes.size()));
    if (p == nullptr) throw std::runtime_error("packet larger than an mbuf");
    if (!bytes.empty()) std::memcpy(p, bytes.data(), bytes.size());
    return m;
}

std::vector<uint8_t> bytes_of(const rte_mbuf* m) {
    if (m->pkt_len == 0) return {};  // a dropped empty packet: no bytes, and no copy from null
    std::vector<uint8_t> out(m->pkt_len);
    const auto* p = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, m->pkt_len, out.data()));
    if (p != out.data()) std::memcpy(out.data(), p, m->pkt_len);
    return out;
}

}  // namespace pcscf::test
