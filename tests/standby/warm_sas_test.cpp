// A standby's warm SAs against real rings and engines (tests/control/sa_rig.hpp): the
// records a primary's SaManager writes, applied as the change feed brings them, put each
// SA on the worker SaManager would choose; the takeover resumes those SAs (SaOp::resume)
// at their mark + 2K instead of installing them again, installs the ones the feed never
// brought, and what the feed deleted, or a new snapshot lacks, leaves the workers.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "control/sa/sa_state.hpp"
#include "control/standby/warm_sas.hpp"
#include "sa_contract/owner.hpp"
#include "tests/control/sa_rig.hpp"

namespace pcscf::ctl::standby {
namespace {

using esp::Direction;
constexpr uint32_t kK = 4;  // the primary's --seq-checkpoint

class WarmSasTest : public ::testing::Test, public test::SaRig {
protected:
    // An SA as the primary's SaManager stores it ("sa/<id>"), with a checkpoint ("seq/<id>").
    void stored(SaId id, Direction dir, uint32_t spi, const char* ue, uint32_t checkpoint,
                esp::Ealg ealg = esp::Ealg::null, uint8_t cipher = 0, esp::Alg alg = esp::Alg::hmac_sha1_96) {
        SaInfo sa;
        sa.cfg.ealg = ealg;
        sa.cipher.len = uint8_t(esp::cipher_key_len(alg, ealg));
        sa.cipher.bytes.fill(cipher);
        sa.id = id;
        sa.cfg.dir = dir;
        sa.cfg.alg = alg;
        sa.cfg.spi = spi;
        sa.cfg.ue_addr = *net::IpAddr::parse(ue);
        sa.cfg.pcscf_addr = *net::IpAddr::parse("10.0.0.1");
        sa.cfg.ue_port = uint16_t(20000 + id);
        sa.cfg.pcscf_port = 5101;
        sa.label = "ue@ims.example.net";
        esp::HmacKey key;
        key.ipad.fill(uint8_t(id));
        key.opad.fill(uint8_t(~id));
        store[sa_record_key(id)] = encode(sa, key);
        store[seq_record_key(id)] = encode(SeqMark{checkpoint, kK, false});
    }
    void feed_all() {
        for (const auto& [k, v] : store) warm.apply(k, v);
        settle();
    }
    // What the workers and the control thread do until every record is acknowledged.
    void settle() {
        for (int i = 0; i < 100 && warm.stats().in_flight > 0; ++i) {
            apply_records();
            warm.pump();
        }
        ASSERT_EQ(warm.stats().in_flight, 0u);
    }
    // The takeover as ControlPlane::attach_state does it: SaManager restores the store's SAs
    // through the warm ones.
    size_t take_over() {
        std::vector<StoredSa> sas;
        std::vector<std::pair<SaId, SeqMark>> marks;
        for (const auto& [k, v] : store) {
            if (auto id = id_of(k, "sa/")) sas.push_back(*decode_sa(v));
            else if (auto id = id_of(k, "seq/")) marks.emplace_back(*id, *decode_seq(v));
        }
        this->sas->set_state(nullptr, kK);
        // The workers run meanwhile, as their lcores do: an SA that is not warm is installed
        // and its acknowledgement awaited within the restore.
        std::atomic<bool> done = false;
        std::thread workers([&] {
            while (!done) apply_records();
        });
        const size_t back = this->sas
                                ->restore(
                                    std::move(sas), std::move(marks),
                                    [this](uint32_t worker, const esp::SaRecord& rec, int32_t& handle) {
                                        return warm.take_over(worker, rec, handle);
                                    },
                                    [](const std::string& line) { ADD_FAILURE() << line; })
                                .size();
        done = true;
        workers.join();
        warm.forward_others([this](const esp::SaEvent& e) { this->sas->handle(e); });
        warm.release_unclaimed();
        settle();
        return back;
    }
    std::optional<uint32_t> seq_of(SaId id) {
        const auto sa = this->sas->find(id);
        if (!sa) return std::nullopt;
        return engines[sa->worker]->seq_at(sa->cfg.dir, sa->handle);
    }

    std::map<std::string, std::string> store;
    std::vector<std::string> warnings;
    WarmSas warm{rings->control(), layout, [this](const std::string& w) { warnings.push_back(w); }};
};

TEST_F(WarmSasTest, TheFeedsSasAreInstalledWhereSaManagerPutsThemAndTheTakeoverResumesThem) {
    const uint32_t spi1 = layout.spi_of(1, 3);
    stored(1, Direction::inbound, spi1, "192.0.2.10", 40);
    stored(2, Direction::outbound, 0x77, "192.0.2.10", 64);
    stored(3, Direction::outbound, 0x78, "192.0.2.11", 8);
    feed_all();
    EXPECT_EQ(warm.stats().sas, 3u);
    EXPECT_EQ(inbound_in_engines(), 1u);
    EXPECT_EQ(outbound_in_engines(), 2u);
    EXPECT_NE(engines[1]->find_inbound(spi1), nullptr) << "the SPI names its worker";
    for (const char* ue : {"192.0.2.10", "192.0.2.11"}) {
        const uint32_t w = esp::owner_of(*net::IpAddr::parse(ue), kWorkers);
        EXPECT_GE(engines[w]->outbound_sas().count(), 1u) << ue << " on worker " << w;
    }

    EXPECT_EQ(take_over(), 3u);
    EXPECT_EQ(inbound_in_engines(), 1u) << "resumed, not installed again";
    EXPECT_EQ(outbound_in_engines(), 2u);
    EXPECT_EQ(seq_of(1), 40 + 2 * kK) << "the inbound window's edge";
    EXPECT_EQ(seq_of(2), 64 + 2 * kK) << "the next number sent follows it";
    EXPECT_EQ(seq_of(3), 8 + 2 * kK);
    EXPECT_TRUE(warnings.empty()) << warnings.front();
}

// An SA that encrypts is kept warm with its ealg and CK_ESP; a new CK_ESP under the same
// id installs it anew; the takeover resumes it with the same key.
TEST_F(WarmSasTest, AnEncryptingSaKeepsItsCipherKeyThroughTheTakeover) {
    stored(2, Direction::outbound, 0x77, "192.0.2.10", 64, esp::Ealg::aes_cbc, 0xc1);
    feed_all();
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].op, esp::SaOp::add);
    EXPECT_EQ(records[0].sa.ealg, esp::Ealg::aes_cbc);
    EXPECT_EQ(records[0].cipher.len, 16u);
    EXPECT_EQ(records[0].cipher.bytes[15], 0xc1);

    stored(2, Direction::outbound, 0x77, "192.0.2.10", 64, esp::Ealg::des_ede3_cbc, 0xd3);
    warm.apply(sa_record_key(2), store[sa_record_key(2)]);
    settle();
    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(records[1].op, esp::SaOp::remove);
    EXPECT_EQ(records[2].op, esp::SaOp::add);
    EXPECT_EQ(records[2].sa.ealg, esp::Ealg::des_ede3_cbc);
    EXPECT_EQ(records[2].cipher.len, 24u);
    EXPECT_EQ(records[2].cipher.bytes[23], 0xd3);

    EXPECT_EQ(take_over(), 1u);
    EXPECT_EQ(records.back().op, esp::SaOp::resume) << "warm with the same key: resumed, not installed";
    EXPECT_EQ(records.back().cipher, records[2].cipher);
    EXPECT_EQ(this->sas->find(2)->cipher, records[2].cipher);
    EXPECT_EQ(seq_of(2), 64 + 2 * kK);
    EXPECT_TRUE(warnings.empty()) << warnings.front();
}

// A UDP-enc-tun SA (TS 33.203 Annex M) is kept warm with its mode and inner address; a NAT
// port the primary learnt moves it by an update (not a new install), and the takeover
// resumes it as it is, port included.
TEST_F(WarmSasTest, AUdpEncTunSaFollowsThePrimarysNatPort) {
    stored(2, Direction::outbound, 0x77, "198.51.100.7", 64);
    const auto nat_port = [&](uint16_t port) {
        auto s = decode_sa(store[sa_record_key(2)]);
        ASSERT_TRUE(s.has_value()) << s.error().message;
        s->info.cfg.mode = esp::Mode::udp_enc_tun;
        s->info.cfg.ue_inner = *net::IpAddr::parse("192.168.1.20");
        s->info.cfg.encap_port = port;
        store[sa_record_key(2)] = encode(s->info, s->key);
    };
    nat_port(0);
    feed_all();
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].op, esp::SaOp::add);
    EXPECT_EQ(records[0].sa.mode, esp::Mode::udp_enc_tun);
    EXPECT_EQ(records[0].sa.ue_inner, *net::IpAddr::parse("192.168.1.20"));

    nat_port(40000);
    warm.apply(sa_record_key(2), store[sa_record_key(2)]);
    settle();
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[1].op, esp::SaOp::update);
    EXPECT_EQ(records[1].sa.encap_port, 40000);
    EXPECT_EQ(records[1].key, records[0].key);

    EXPECT_EQ(take_over(), 1u);
    EXPECT_EQ(records.back().op, esp::SaOp::resume) << "warm as stored: resumed, not installed again";
    EXPECT_EQ(this->sas->find(2)->cfg.encap_port, 40000);
    EXPECT_TRUE(warnings.empty()) << warnings.front();
}

// The AEAD pairs reach the standby's workers with their key || salt (20 bytes) and no
// HMAC state of their own.
TEST_F(WarmSasTest, AesGcmAndAesGmacSasGoToTheWorkersWithKeyAndSalt) {
    stored(2, Direction::outbound, 0x77, "192.0.2.10", 64, esp::Ealg::aes_gcm, 0xa7, esp::Alg::null);
    stored(3, Direction::outbound, 0x78, "192.0.2.11", 64, esp::Ealg::null, 0xb8, esp::Alg::aes_gmac);
    for (const auto& [k, v] : store) warm.apply(k, v);
    apply_records();
    ASSERT_EQ(records.size(), 2u);  // one per worker (by UE address), in no given order
    const bool gcm_first = records[0].sa.alg == esp::Alg::null;
    const esp::SaRecord& gcm = records[gcm_first ? 0 : 1];
    const esp::SaRecord& gmac = records[gcm_first ? 1 : 0];
    EXPECT_EQ(gcm.sa.alg, esp::Alg::null);
    EXPECT_EQ(gcm.sa.ealg, esp::Ealg::aes_gcm);
    EXPECT_EQ(gmac.sa.alg, esp::Alg::aes_gmac);
    EXPECT_EQ(gmac.sa.ealg, esp::Ealg::null);
    for (const esp::SaRecord& r : records) {
        EXPECT_EQ(r.op, esp::SaOp::add);
        EXPECT_EQ(r.cipher.len, esp::kAeadKeyLen);
        EXPECT_EQ(r.cipher.bytes[19], r.sa.alg == esp::Alg::null ? 0xa7 : 0xb8);
    }
}

TEST_F(WarmSasTest, CheckpointsMoveAWarmSaOnAndAResumeNeverMovesItBack) {
    stored(2, Direction::outbound, 0x77, "192.0.2.10", 64);
    feed_all();
    store[seq_record_key(2)] = encode(SeqMark{128, kK, false});  // the primary sent on
    warm.apply(seq_record_key(2), store[seq_record_key(2)]);
    settle();
    EXPECT_EQ(take_over(), 1u);
    EXPECT_EQ(seq_of(2), 128 + 2 * kK);
}

TEST_F(WarmSasTest, WhatTheFeedDeletesOrANewSnapshotLacksLeavesTheWorkers) {
    stored(1, Direction::inbound, layout.spi_of(0, 1), "192.0.2.10", 0);
    stored(2, Direction::outbound, 0x77, "192.0.2.10", 0);
    stored(3, Direction::outbound, 0x78, "192.0.2.11", 0);
    feed_all();
    ASSERT_EQ(inbound_in_engines() + outbound_in_engines(), 3u);

    warm.apply(sa_record_key(2), std::nullopt);  // the registration went on the primary
    warm.apply(seq_record_key(2), std::nullopt);
    store.erase(sa_record_key(2));
    store.erase(seq_record_key(2));
    settle();
    EXPECT_EQ(outbound_in_engines(), 1u);

    // A snapshot (the feed had a gap): SA 3 is gone from it, SA 4 is new.
    store.erase(sa_record_key(3));
    store.erase(seq_record_key(3));
    stored(4, Direction::outbound, 0x79, "192.0.2.12", 0);
    warm.resync(state::Records(store.begin(), store.end()));
    settle();
    EXPECT_EQ(warm.stats().sas, 2u);
    EXPECT_EQ(inbound_in_engines(), 1u);
    EXPECT_EQ(outbound_in_engines(), 1u);
    EXPECT_EQ(engines[esp::owner_of(*net::IpAddr::parse("192.0.2.12"), kWorkers)]->outbound_sas().count(), 1u);
}

TEST_F(WarmSasTest, AnSaTheFeedNeverBroughtIsInstalledAtTheTakeoverAndOneNotTakenLeaves) {
    stored(1, Direction::outbound, 0x77, "192.0.2.10", 16);
    feed_all();
    stored(2, Direction::outbound, 0x78, "192.0.2.11", 16);  // in the store, not in the feed yet
    // SA 1 is warm but the takeover's store no longer has it (deleted in the last instant).
    store.erase(sa_record_key(1));
    store.erase(seq_record_key(1));
    EXPECT_EQ(take_over(), 1u);
    EXPECT_EQ(outbound_in_engines(), 1u) << "SA 2 installed, SA 1 released";
    EXPECT_EQ(seq_of(2), 16 + 2 * kK);
    EXPECT_EQ(warm.stats().sas, 1u);
}

}  // namespace
}  // namespace pcscf::ctl::standby
