// A worker whose engine looks ahead (Engine::looks_ahead; the threshold lowered to one
// SA here) holds each poll's ESP back one poll and verifies it with the next poll's as
// the engine's look-ahead: nothing is lost or reordered, a held burst leaves as soon as
// a poll brings nothing, standby and shutdown take what is held; below the threshold
// nothing waits. (WorkerRig, real ESP sealed with the SA's key.)
#include <atomic>

#include "tests/common/packet_builder.hpp"
#include "tests/esp/esp_builder.hpp"
#include "tests/service/worker_rig.hpp"

namespace pcscf::dp {
namespace {

using net::DropReason;

class WorkerLookAhead : public WorkerRig {
protected:
    void make(uint32_t look_ahead_from) {
        cfg_.engine.look_ahead_from = look_ahead_from;
        local_.add(p4);
        make_worker(0);
        const uint8_t raw[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
        key_ = *esp::expand_key(worker_->engine().imb(), esp::Alg::hmac_sha1_96, raw);
        esp::SaRecord in;
        in.sa.dir = esp::Direction::inbound;
        in.sa.spi = kSpi;
        in.sa.alg = esp::Alg::hmac_sha1_96;
        in.sa.ue_addr = ue4;
        in.sa.ue_port = 40000;
        in.sa.pcscf_addr = p4;
        in.sa.pcscf_port = 5060;
        in.key = key_;
        int32_t handle = -1;
        ASSERT_EQ(worker_->preload(in, handle), 0);
    }

    // ESP from the UE with sequence number `seq`, `tag` the first byte of its UDP payload.
    void receive_one(uint32_t seq, uint8_t tag) {
        uint8_t payload[16] = {tag};
        const auto plain = test::make_packet({ue4, p4, 40000, 5060}, payload);
        test::Seal s;
        s.spi = kSpi;
        s.seq = seq;
        s.key = key_;
        receive(access, test::with_ethernet(test::seal(worker_->engine().imb(), plain, s)));
    }
    // Sequence numbers and tags `from` to `to`.
    void receive_esp(uint8_t from, uint8_t to) {
        for (uint8_t t = from; t <= to; ++t) receive_one(t, t);
    }

    // The tags of what reached the kernel, in order.
    std::vector<uint8_t> delivered() {
        std::vector<uint8_t> tags;
        for (const auto& f : sent(tap)) tags.push_back(f.at(14 + 20 + 8));
        return tags;
    }
    static std::vector<uint8_t> tags(uint8_t from, uint8_t to) {
        std::vector<uint8_t> v;
        for (uint8_t t = from; t <= to; ++t) v.push_back(t);
        return v;
    }

    static constexpr uint32_t kSpi = 0x1000;  // worker 0's first slot
    esp::HmacKey key_;
    const net::IpAddr ue4 = *net::IpAddr::parse("192.0.2.10"), p4 = *net::IpAddr::parse("198.51.100.1");
};

TEST_F(WorkerLookAhead, HoldsABurstOnePollWhileMoreComesAndLetsItGoWhenNothingDoes) {
    make(1);
    ASSERT_TRUE(worker_->engine().looks_ahead());
    receive_esp(1, 5);
    worker_->poll();
    EXPECT_TRUE(delivered().empty()) << "held while the engine looks ahead";
    receive_esp(6, 10);
    worker_->poll();
    EXPECT_EQ(delivered(), tags(1, 5)) << "verified with the next burst as its look-ahead";
    worker_->poll();
    EXPECT_EQ(delivered(), tags(6, 10)) << "a poll that brings nothing lets the held burst go";
    worker_->poll();
    EXPECT_TRUE(delivered().empty());
    EXPECT_EQ(worker_->stats().esp_in, 10u);
    EXPECT_EQ(worker_->engine().drops().total(), 0u);
    EXPECT_EQ(worker_->engine().inbound_stats(kSpi)->packets, 10u);
}

// A burst held back is verified on its own SA's replay window like any other: one
// replayed across the two bursts is dropped once, as replay.
TEST_F(WorkerLookAhead, AReplayAcrossAHeldBurstIsStillCaught) {
    make(1);
    receive_esp(1, 3);
    worker_->poll();
    receive_one(2, 99);  // sequence number 2 again
    receive_esp(4, 4);
    worker_->poll();
    worker_->poll();
    EXPECT_EQ(delivered(), (std::vector<uint8_t>{1, 2, 3, 4}));
    EXPECT_EQ(worker_->engine().drops()[DropReason::replay], 1u);
}

TEST_F(WorkerLookAhead, BelowTheThresholdNothingWaits) {
    make(2);  // one SA installed
    ASSERT_FALSE(worker_->engine().looks_ahead());
    receive_esp(1, 5);
    worker_->poll();
    EXPECT_EQ(delivered(), tags(1, 5));
}

TEST_F(WorkerLookAhead, AStandbyDropsWhatItHeld) {
    make(1);
    std::atomic<bool> serving{true};
    worker_->set_serving_flag(&serving);
    receive_esp(1, 5);
    worker_->poll();
    serving = false;
    worker_->poll();
    EXPECT_TRUE(delivered().empty());
    EXPECT_EQ(worker_->stats().drops[DropReason::standby], 5u);
}

TEST_F(WorkerLookAhead, DrainFreesWhatItHeld) {
    make(1);
    const unsigned before = rte_mempool_avail_count(pool_);
    receive_esp(1, 5);
    worker_->poll();
    EXPECT_LT(rte_mempool_avail_count(pool_), before - 4) << "five held";
    worker_->drain();
    EXPECT_EQ(rte_mempool_avail_count(pool_), before);
}

}  // namespace
}  // namespace pcscf::dp
