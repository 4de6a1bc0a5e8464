#pragma once
// A worker's transmit buffer for one port queue: frames collect here during a poll and
// leave in bursts. What the NIC does not take is freed and counted, never retried (the
// link is full; SIP retransmits).
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <cstdint>

namespace pcscf::dp {

class TxQueue {
public:
    static constexpr uint16_t kSize = 64;

    TxQueue(uint16_t port, uint16_t queue) noexcept : port_(port), queue_(queue) {}

    // Queues a frame; flushes first when the buffer is full. Returns frames refused.
    uint16_t push(rte_mbuf* m) noexcept {
        uint16_t refused = 0;
        if (n_ == kSize) refused = flush();
        buf_[n_++] = m;
        return refused;
    }
    // Sends what is queued; returns how many the port refused (already freed).
    uint16_t flush() noexcept {
        if (n_ == 0) return 0;
        const uint16_t sent = rte_eth_tx_burst(port_, queue_, buf_, n_);
        sent_ += sent;
        const uint16_t refused = uint16_t(n_ - sent);
        if (refused > 0) rte_pktmbuf_free_bulk(buf_ + sent, refused);
        n_ = 0;
        return refused;
    }
    uint64_t sent() const noexcept { return sent_; }
    void drop_all() noexcept {  // at shutdown
        rte_pktmbuf_free_bulk(buf_, n_);
        n_ = 0;
    }

private:
    uint16_t port_, queue_;
    uint16_t n_ = 0;
    uint64_t sent_ = 0;
    rte_mbuf* buf_[kSize];
};

}  // namespace pcscf::dp
