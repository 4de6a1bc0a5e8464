// SaManager against real rings and real engines: the worker side here is the same three
// steps a worker lcore takes between bursts (take records, apply them to its engine,
// acknowledge on the event ring), so what is checked is the whole control <-> worker
// protocol: SPI allocation, ownership, acknowledgements, failures, and that nothing
// (SPI, registry entry, table slot) is left behind after a delete.
#include <gtest/gtest.h>

#include <cerrno>
#include <set>
#include <span>

#include "control/sa/sa_manager.hpp"
#include "control/sa/sa_request_text.hpp"
#include "sa_contract/owner.hpp"
#include "tests/control/sa_rig.hpp"

namespace pcscf::ctl {
namespace {

using esp::Direction;

constexpr uint32_t kWorkers = test::SaRig::kWorkers;

class SaManagerTest : public ::testing::Test, public test::SaRig {
protected:
    void SetUp() override {
        sas->set_listener([this](const SaInfo&, const esp::SaEvent& e) { acks.push_back(e); });
    }

    SaRequest inbound(const char* ue, uint16_t port = 5060) {
        SaRequest r;
        r.dir = Direction::inbound;
        r.alg = esp::Alg::hmac_sha1_96;
        r.key.assign(20, 0x11);
        r.ue = *net::IpAddr::parse(ue);
        r.ue_port = port;
        return r;
    }
    SaRequest outbound(const char* ue, uint32_t spi, uint16_t pcscf_port = 5101) {
        SaRequest r = inbound(ue);
        r.dir = Direction::outbound;
        r.spi = spi;
        r.pcscf = *net::IpAddr::parse("10.0.0.1");
        r.pcscf_port = pcscf_port;
        return r;
    }
    std::vector<esp::SaEvent> acks;
};

TEST_F(SaManagerTest, InboundSpiIsAllocatedOnTheOwningWorkerAndActivatedByItsAck) {
    const auto id = sas->add(inbound("192.0.2.10"));
    ASSERT_TRUE(id.has_value()) << id.error().message;
    auto sa = *sas->find(*id);
    EXPECT_EQ(sa.state, SaState::pending);
    EXPECT_EQ(sa.worker, esp::owner_of(*net::IpAddr::parse("192.0.2.10"), kWorkers));
    EXPECT_TRUE(layout.contains(sa.cfg.spi));
    EXPECT_EQ(layout.owner(sa.cfg.spi), sa.worker) << "the SPI must name its worker";
    EXPECT_EQ(engines[sa.worker]->find_inbound(sa.cfg.spi), nullptr) << "applied before the worker ran";
    step();
    sa = *sas->find(*id);
    EXPECT_EQ(sa.state, SaState::active);
    EXPECT_GE(sa.handle, 0);
    EXPECT_NE(engines[sa.worker]->find_inbound(sa.cfg.spi), nullptr);
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_EQ(acks[0].result, 0);
}

TEST_F(SaManagerTest, AllocatedSpisAvoidTheUesAndNeverRepeat) {
    SaRequest r = inbound("192.0.2.10");
    const uint32_t w = esp::owner_of(r.ue, kWorkers);
    r.avoid_spis = {layout.spi_of(w, 0), layout.spi_of(w, 1)};
    std::set<uint32_t> seen;
    for (uint16_t p = 1; p <= 10; ++p) {
        r.ue_port = p;
        const auto id = sas->add(r);
        ASSERT_TRUE(id.has_value()) << id.error().message;
        const uint32_t spi = sas->find(*id)->cfg.spi;
        EXPECT_NE(spi, r.avoid_spis[0]);
        EXPECT_NE(spi, r.avoid_spis[1]);
        EXPECT_TRUE(seen.insert(spi).second) << "SPI " << spi << " given twice";
    }
}

TEST_F(SaManagerTest, DeleteRemovesFromTheWorkerAndForgetsOnlyAfterTheAck) {
    const auto id = *sas->add(inbound("192.0.2.10"));
    step();
    const uint32_t spi = sas->find(id)->cfg.spi;
    ASSERT_TRUE(sas->remove(id).has_value());
    EXPECT_EQ(sas->find(id)->state, SaState::removing);
    EXPECT_NE(sas->find_inbound(spi), std::nullopt) << "forgotten before the worker let go";
    step();
    EXPECT_EQ(sas->find(id), std::nullopt);
    EXPECT_EQ(sas->find_inbound(spi), std::nullopt);
    EXPECT_EQ(inbound_in_engines(), 0u);
    EXPECT_EQ(sas->size(), 0u);
}

TEST_F(SaManagerTest, ChurnLeavesNothingBehind) {
    std::vector<SaId> ids;
    for (int round = 0; round < 20; ++round) {
        for (uint16_t p = 0; p < 20; ++p) {
            auto in = sas->add(inbound(round % 2 ? "192.0.2.10" : "2001:db8::10", uint16_t(1000 + p)));
            ASSERT_TRUE(in.has_value()) << in.error().message;
            ids.push_back(*in);
            auto out = sas->add(outbound("192.0.2.20", 0x5000 + p, uint16_t(5100 + p)));
            ASSERT_TRUE(out.has_value()) << out.error().message;
            ids.push_back(*out);
        }
        step();
        for (SaId id : ids) ASSERT_TRUE(sas->remove(id).has_value());
        ids.clear();
        step();
        ASSERT_EQ(sas->size(), 0u) << "round " << round;
    }
    EXPECT_EQ(inbound_in_engines(), 0u);
    for (const auto& e : engines) EXPECT_EQ(e->outbound_sas().count(), 0u);
}

TEST_F(SaManagerTest, OutboundSelectorsAreUnique) {
    ASSERT_TRUE(sas->add(outbound("192.0.2.20", 0x5000)).has_value());
    const auto dup = sas->add(outbound("192.0.2.20", 0x6000));
    ASSERT_FALSE(dup.has_value());
    EXPECT_EQ(dup.error().code, Errc::exists) << dup.error().message;
}

TEST_F(SaManagerTest, BadRequestsAreRefusedWithAReason) {
    SaRequest r = inbound("192.0.2.10");
    r.key.assign(16, 1);  // an MD5 key for SHA-1
    EXPECT_FALSE(sas->add(r).has_value());
    r = inbound("192.0.2.10");
    r.spi = 7;
    EXPECT_FALSE(sas->add(r).has_value()) << "reserved SPI";
    r.spi = layout.base + uint32_t(layout.span());
    EXPECT_FALSE(sas->add(r).has_value()) << "SPI outside the range";
    EXPECT_FALSE(sas->add(outbound("192.0.2.20", 0)).has_value()) << "outbound without the UE's SPI";
    for (uint32_t reserved : {1u, 255u}) {
        const auto out = sas->add(outbound("192.0.2.20", reserved));
        ASSERT_FALSE(out.has_value()) << "outbound SPI " << reserved;
        EXPECT_EQ(out.error().code, Errc::invalid) << out.error().message;
    }
    EXPECT_FALSE(sas->add(SaRequest{}).has_value()) << "no UE address";
    EXPECT_FALSE(sas->remove(999).has_value());
    EXPECT_EQ(sas->size(), 0u);
}

TEST_F(SaManagerTest, AFullRingIsReportedAndLeaksNoSpi) {
    size_t accepted = 0;
    std::optional<Error> error;
    for (uint16_t p = 0; p < 200 && !error; ++p) {
        auto id = sas->add(inbound("192.0.2.10", p));
        if (id) ++accepted;
        else error = id.error();
    }
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->code, Errc::busy) << error->message;
    EXPECT_EQ(sas->size(), accepted);
    step();
    // The refused one did not keep an SPI: the worker's slots hold exactly the accepted.
    EXPECT_EQ(inbound_in_engines(), accepted);
}

// A UE's set goes as one group: all of it or none, in one enqueue on the UE's worker.
TEST_F(SaManagerTest, AGroupIsInstalledWholeOrNotAtAll) {
    auto set_of = [&](uint16_t port_uc) {  // as install_sa_set asks: in_ps, out_uc, out_us, in_pc
        std::vector<SaRequest> s = {inbound("192.0.2.10", port_uc), outbound("192.0.2.10", port_uc, 5101),
                                    outbound("192.0.2.10", port_uc + 1, 5102), inbound("192.0.2.10", port_uc + 1)};
        s[1].ue_port = port_uc;
        s[2].ue_port = port_uc + 1;
        return s;
    };
    const std::vector<SaRequest> set = set_of(6000);
    const uint32_t w = esp::owner_of(set[0].ue, kWorkers);
    auto ids = sas->add_all(set);
    ASSERT_TRUE(ids.has_value()) << ids.error().message;
    ASSERT_EQ(ids->size(), 4u);
    EXPECT_EQ(rings->control().pending(w), 4u) << "all four wait for the worker together";
    for (size_t i = 0; i < 4; ++i) EXPECT_EQ(sas->find((*ids)[i])->cfg.dir, set[i].dir) << "ids in request order";
    step();
    EXPECT_EQ(acks.size(), 4u);
    for (SaId id : *ids) EXPECT_EQ(sas->find(id)->state, SaState::active);
    EXPECT_EQ(inbound_in_engines(), 2u);
    EXPECT_EQ(outbound_in_engines(), 2u);

    // A ring with room for fewer than four takes none of them, and no SPI stays taken.
    uint16_t port = 100;
    while (rings->control().pending(w) < 64 - 3) {  // outbound: no inbound SPI used up
        SaRequest r = outbound("192.0.2.10", 9000 + port);
        r.ue_port = port++;
        ASSERT_TRUE(sas->add(r).has_value());
    }
    const size_t before = sas->size();
    std::vector<SaRequest> next = set_of(6100);
    auto refused = sas->add_all(next);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code, Errc::busy) << refused.error().message;
    EXPECT_EQ(sas->size(), before);
    EXPECT_EQ(rings->control().pending(w), 64u - 3) << "nothing of the group was queued";
    step();
    EXPECT_EQ(inbound_in_engines() + outbound_in_engines(), before) << "the refused group kept no SPI, no slot";
    ids = sas->add_all(next);  // with room again, the same group goes whole
    ASSERT_TRUE(ids.has_value()) << ids.error().message;
    step();
    EXPECT_EQ(sas->size(), before + 4);

    // A bad request anywhere in the group refuses all of it.
    next[3].alg = esp::Alg::hmac_md5_96;
    next[3].key.assign(3, 1);
    for (auto& r : next) r.ue_port += 100;
    auto bad = sas->add_all(next);
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error().code, Errc::invalid);
    EXPECT_EQ(sas->size(), before + 4);
}

// Removals go as one group too; on a ring without room for all, they wait in the backlog
// (never refused, never lost).
TEST_F(SaManagerTest, AGroupIsRemovedTogether) {
    std::vector<SaId> ids;
    for (uint16_t p = 1; p <= 4; ++p) ids.push_back(*sas->add(inbound("192.0.2.10", p)));
    const uint32_t w = esp::owner_of(*net::IpAddr::parse("192.0.2.10"), kWorkers);
    step();
    sas->remove_all(ids);
    EXPECT_EQ(rings->control().pending(w), 4u);
    for (SaId id : ids) EXPECT_EQ(sas->find(id)->state, SaState::removing);
    step();
    EXPECT_EQ(sas->size(), 0u);
    EXPECT_EQ(inbound_in_engines(), 0u);

    ids.clear();
    for (uint16_t p = 1; p <= 4; ++p) ids.push_back(*sas->add(inbound("192.0.2.10", p)));
    step();
    for (uint16_t p = 10; rings->control().pending(w) < 62; ++p)
        ASSERT_TRUE(sas->add(outbound("192.0.2.10", 1000 + p, p)));
    sas->remove_all(ids);  // no room for four: they go one by one, the rest to the backlog
    EXPECT_GT(sas->backlog(), 0u);
    EXPECT_LT(sas->backlog(), 4u);
    for (int i = 0; i < 4; ++i) step();
    EXPECT_EQ(inbound_in_engines(), 0u) << "every removal reached the worker";
    EXPECT_EQ(sas->backlog(), 0u);
}

// UDP-enc-tun (TS 33.203 Annex M): a request names the UE's public and inner IPv4
// addresses; the NAT port moves with an update record that keeps the key and waits in the
// backlog on a full ring; a transport SA has no NAT port, and IPv6 has no UDP-enc-tun.
TEST_F(SaManagerTest, AUdpEncTunSaTakesItsNatPortByAnUpdate) {
    SaRequest r = outbound("198.51.100.7", 0x7000);
    r.mode = esp::Mode::udp_enc_tun;
    r.ue_inner = *net::IpAddr::parse("192.168.1.20");
    const auto id = sas->add(r);
    ASSERT_TRUE(id.has_value()) << id.error().message;
    const auto plain = sas->add(outbound("198.51.100.7", 0x7001, 5102));
    ASSERT_TRUE(plain.has_value());
    step();
    EXPECT_EQ(records.front().sa.ue_inner, r.ue_inner);
    EXPECT_EQ(records.front().sa.mode, esp::Mode::udp_enc_tun);
    EXPECT_FALSE(sas->updating(*id));
    ASSERT_TRUE(sas->set_encap_port(*id, 40000).has_value());
    ASSERT_TRUE(sas->set_encap_port(*id, 40001).has_value());
    EXPECT_TRUE(sas->updating(*id)) << "its worker has not applied the updates";
    sas->pump();
    EXPECT_TRUE(sas->updating(*id));
    apply_records();
    sas->pump();
    EXPECT_FALSE(sas->updating(*id)) << "both updates acknowledged";
    EXPECT_FALSE(sas->updating(*plain));
    ASSERT_TRUE(sas->set_encap_port(*id, 40000).has_value());
    step();
    const esp::SaRecord& u = records.back();
    EXPECT_EQ(u.op, esp::SaOp::update);
    EXPECT_EQ(u.sa.encap_port, 40000);
    EXPECT_EQ(u.sa.mode, esp::Mode::udp_enc_tun);
    EXPECT_EQ(u.key, records.front().key) << "the key the SA was added with";
    EXPECT_EQ(acks.back().op, esp::SaOp::update);
    EXPECT_EQ(acks.back().result, 0);
    EXPECT_EQ(sas->find(*id)->cfg.encap_port, 40000);

    const auto transport = sas->set_encap_port(*plain, 40000);
    ASSERT_FALSE(transport.has_value());
    EXPECT_EQ(transport.error().code, Errc::invalid);
    EXPECT_EQ(sas->set_encap_port(999, 40000).error().code, Errc::not_found);

    SaRequest v6 = outbound("2001:db8::7", 0x7002);
    v6.mode = esp::Mode::udp_enc_tun;
    v6.ue_inner = *net::IpAddr::parse("192.168.1.20");
    const auto refused = sas->add(v6);
    ASSERT_FALSE(refused.has_value());
    EXPECT_NE(refused.error().message.find("IPv4 addresses (NAT44 only)"), std::string::npos);
    SaRequest stray = outbound("198.51.100.8", 0x7003);
    stray.encap_port = 4500;
    EXPECT_EQ(sas->add(stray).error().code, Errc::invalid) << "a NAT port on a transport SA";

    // A full ring: the update waits and goes in order.
    const uint32_t w = sas->find(*id)->worker;
    for (uint16_t p = 10; rings->control().pending(w) < 64; ++p)
        if (!sas->add(outbound("198.51.100.7", 0x8000 + p, p))) break;
    ASSERT_TRUE(sas->set_encap_port(*id, 41000).has_value());
    EXPECT_EQ(sas->backlog(), 1u);
    for (int i = 0; i < 4 && sas->backlog(); ++i) step();
    EXPECT_EQ(sas->backlog(), 0u);
    step();  // the worker applies what the last pump sent
    EXPECT_EQ(records.back().op, esp::SaOp::update);
    EXPECT_EQ(records.back().sa.encap_port, 41000);
}

TEST_F(SaManagerTest, RemovalsAreNeverLostToAFullRing) {
    // More SAs than the command ring holds, all on one worker, installed...
    std::vector<SaId> ids;
    for (uint16_t p = 1; p <= 150; ++p) {
        auto id = sas->add(outbound("192.0.2.10", 0x5000 + p, p));
        if (!id) {
            step();
            id = sas->add(outbound("192.0.2.10", 0x5000 + p, p));
        }
        ASSERT_TRUE(id.has_value()) << id.error().message;
        ids.push_back(*id);
    }
    step();
    ASSERT_EQ(outbound_in_engines(), ids.size());
    // ... then removed at once (a tick expiring many UEs): every removal is accepted.
    for (SaId id : ids) ASSERT_TRUE(sas->remove(id).has_value());
    EXPECT_GT(sas->backlog(), 0u) << "the ring did not fill: the test proves nothing";
    // A new add must not overtake the waiting removals (its selectors are one of theirs).
    auto early = sas->add(outbound("192.0.2.10", 0x6000, 150));
    ASSERT_FALSE(early.has_value());
    EXPECT_EQ(early.error().code, Errc::busy) << early.error().message;
    for (int i = 0; i < 10 && (sas->size() || sas->backlog()); ++i) step();
    EXPECT_EQ(sas->backlog(), 0u);
    EXPECT_EQ(sas->size(), 0u);
    EXPECT_EQ(outbound_in_engines(), 0u) << "SAs left in the worker with no owner";
    EXPECT_TRUE(sas->add(outbound("192.0.2.10", 0x6000, 150)).has_value());
}

TEST_F(SaManagerTest, ARecordTheWorkerRefusesIsForgottenAndReported) {
    // The worker already holds this SPI (installed behind the manager's back), so it
    // refuses the add: the manager must report it and forget the SA and its SPI.
    SaRequest r = inbound("192.0.2.10");
    r.spi = layout.spi_of(1, 5);
    esp::SaRecord rec;
    rec.sa.dir = Direction::inbound;
    rec.sa.alg = r.alg;
    rec.sa.spi = r.spi;
    rec.sa.ue_addr = r.ue;
    ASSERT_EQ(engines[1]->apply(rec), 0);
    const auto id = sas->add(r);
    ASSERT_TRUE(id.has_value()) << id.error().message;
    step();
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_EQ(acks[0].result, -EEXIST);
    EXPECT_EQ(describe_result(acks[0].result), "already installed on the worker");
    EXPECT_EQ(sas->find(*id), std::nullopt);
    EXPECT_EQ(sas->find_inbound(r.spi), std::nullopt);
    EXPECT_TRUE(sas->add(r).has_value()) << "the SPI was not released";
}

TEST_F(SaManagerTest, RekeyKeepsTheSaAndItsPlace) {
    const auto id = *sas->add(inbound("192.0.2.10"));
    step();
    const auto before = *sas->find(id);
    std::vector<uint8_t> md5(16, 0x22);
    ASSERT_TRUE(sas->rekey(id, esp::Alg::hmac_md5_96, md5).has_value());
    step();
    const auto after = *sas->find(id);
    EXPECT_EQ(after.cfg.alg, esp::Alg::hmac_md5_96);
    EXPECT_EQ(after.handle, before.handle);
    EXPECT_EQ(engines[after.worker]->find_inbound(after.cfg.spi)->alg, esp::Alg::hmac_md5_96);
}

// The encryption algorithm and CK_ESP travel in the record as given; the worker expands
// the key itself. A key of the wrong length for its ealg is refused before anything is sent.
TEST_F(SaManagerTest, EalgAndCipherKeyTravelInTheRecordAndAreChecked) {
    SaRequest aes = inbound("192.0.2.10");
    aes.ealg = esp::Ealg::aes_cbc;
    for (uint8_t i = 0; i < 16; ++i) aes.cipher_key.push_back(uint8_t(0xa0 + i));
    const auto id = sas->add(aes);
    ASSERT_TRUE(id.has_value()) << id.error().message;
    step();
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].sa.ealg, esp::Ealg::aes_cbc);
    ASSERT_EQ(records[0].cipher.len, 16u);
    EXPECT_TRUE(std::equal(aes.cipher_key.begin(), aes.cipher_key.end(), records[0].cipher.bytes.begin()));
    const auto sa = *sas->find(*id);
    EXPECT_EQ(sa.cfg.ealg, esp::Ealg::aes_cbc);
    EXPECT_EQ(sa.cipher, records[0].cipher);

    // A new integrity key keeps the encryption as it was.
    ASSERT_TRUE(sas->rekey(*id, esp::Alg::hmac_md5_96, std::vector<uint8_t>(16, 0x22)).has_value());
    step();
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[1].op, esp::SaOp::update);
    EXPECT_EQ(records[1].sa.ealg, esp::Ealg::aes_cbc);
    EXPECT_EQ(records[1].cipher, records[0].cipher);
    ASSERT_TRUE(sas->remove(*id).has_value());
    step();
    EXPECT_EQ(records.back().cipher.len, 0u) << "a removal carries no key";

    SaRequest des = inbound("192.0.2.11");
    des.ealg = esp::Ealg::des_ede3_cbc;
    des.cipher_key.assign(24, 0x5b);
    ASSERT_TRUE(sas->add(des).has_value());
    step();
    EXPECT_EQ(records.back().sa.ealg, esp::Ealg::des_ede3_cbc);
    EXPECT_EQ(records.back().cipher.len, 24u);

    const size_t before = sas->size(), sent = records.size();
    const std::pair<esp::Ealg, size_t> bad[] = {
        {esp::Ealg::aes_cbc, 15}, {esp::Ealg::aes_cbc, 24}, {esp::Ealg::des_ede3_cbc, 16},
        {esp::Ealg::aes_cbc, 0},  {esp::Ealg::null, 16},
    };
    for (const auto& [ealg, len] : bad) {
        SaRequest r = inbound("192.0.2.12");
        r.ealg = ealg;
        r.cipher_key.assign(len, 1);
        const auto refused = sas->add(r);
        ASSERT_FALSE(refused.has_value()) << esp::name(ealg) << " with " << len << " bytes";
        EXPECT_EQ(refused.error().code, Errc::invalid);
        EXPECT_NE(refused.error().message.find(ealg == esp::Ealg::null ? "no cipher key" : "CK_ESP"), std::string::npos)
            << refused.error().message;
    }
    step();
    EXPECT_EQ(sas->size(), before);
    EXPECT_EQ(records.size(), sent) << "nothing sent for a refused request";
}

// AES-GCM and AES-GMAC (Annex H): the key and salt in the cipher key, no HMAC state; every
// pair Annex H does not allow, and every wrong length, refused before anything is sent.
TEST_F(SaManagerTest, AeadSasCarryKeyAndSaltAndNoHmacKey) {
    const std::pair<esp::Alg, esp::Ealg> aeads[] = {{esp::Alg::null, esp::Ealg::aes_gcm},
                                                    {esp::Alg::aes_gmac, esp::Ealg::null}};
    uint8_t host = 20;
    for (const auto& [alg, ealg] : aeads) {
        const std::string ue = "192.0.2." + std::to_string(host++);
        SaRequest r = inbound(ue.c_str());
        r.alg = alg;
        r.key.clear();
        r.ealg = ealg;
        r.cipher_key.assign(20, 0x6a);
        const size_t sent = records.size();
        const auto id = sas->add(r);
        ASSERT_TRUE(id.has_value()) << esp::name(alg) << ": " << id.error().message;
        EXPECT_EQ(sas->find(*id)->cipher.span().size(), 20u);
        const auto rekey = sas->rekey(*id, esp::Alg::hmac_sha1_96, std::vector<uint8_t>(20, 1));
        ASSERT_FALSE(rekey.has_value());
        EXPECT_NE(rekey.error().message.find("a rekey changes an HMAC key"), std::string::npos)
            << rekey.error().message;
        step();
        ASSERT_GT(records.size(), sent);
        const esp::SaRecord& add = records[sent];
        EXPECT_EQ(add.op, esp::SaOp::add);
        EXPECT_EQ(add.sa.alg, alg);
        EXPECT_EQ(add.sa.ealg, ealg);
        EXPECT_EQ(add.cipher.len, 20u);
        EXPECT_EQ(add.cipher.bytes[19], 0x6a);
        EXPECT_EQ(add.key, esp::HmacKey{});
    }
    const size_t before = sas->size(), sent = records.size();
    struct Bad {
        esp::Alg alg;
        esp::Ealg ealg;
        size_t key, cipher;
        const char* why;
    };
    const Bad bad[] = {
        {esp::Alg::null, esp::Ealg::aes_gcm, 0, 16, "is 20 bytes (AES key || salt), not 16"},
        {esp::Alg::aes_gmac, esp::Ealg::null, 0, 0, "is 20 bytes (AES key || salt), not 0"},
        {esp::Alg::aes_gmac, esp::Ealg::null, 16, 20, "alg=aes-gmac takes no integrity key"},
        {esp::Alg::null, esp::Ealg::aes_cbc, 0, 16, "alg=null, ealg=aes-cbc is not a pair TS 33.203 Annex H allows"},
        {esp::Alg::aes_gmac, esp::Ealg::aes_gcm, 0, 20, "alg=aes-gmac, ealg=aes-gcm is not a pair"},
        {esp::Alg::hmac_sha1_96, esp::Ealg::aes_gcm, 20, 20, "alg=hmac-sha-1-96, ealg=aes-gcm is not a pair"},
        {esp::Alg::null, esp::Ealg::null, 0, 0, "alg=null, ealg=null is not a pair"},
    };
    for (const Bad& b : bad) {
        SaRequest r = inbound("192.0.2.30");
        r.alg = b.alg;
        r.key.assign(b.key, 1);
        r.ealg = b.ealg;
        r.cipher_key.assign(b.cipher, 2);
        const auto refused = sas->add(r);
        ASSERT_FALSE(refused.has_value()) << b.why;
        EXPECT_EQ(refused.error().code, Errc::invalid);
        EXPECT_NE(refused.error().message.find(b.why), std::string::npos) << refused.error().message;
    }
    step();
    EXPECT_EQ(sas->size(), before);
    EXPECT_EQ(records.size(), sent) << "nothing sent for a refused request";
}

// Each `prefix` + text of `bad` is refused, the message saying its `why`.
void expect_refused(const std::string& prefix, std::span<const std::pair<std::string, const char*>> bad) {
    for (const auto& [extra, why] : bad) {
        const std::string text = prefix + extra;
        const auto e = parse_sa_request(text);
        ASSERT_FALSE(e.has_value()) << text;
        EXPECT_NE(e.error().message.find(why), std::string::npos) << text << " -> " << e.error().message;
    }
}

TEST(SaRequestText, ReadsTheAeadPairsWithTheirKeyAndSalt) {
    const auto gcm = parse_sa_request("dir=in,alg=null,ealg=aes-gcm,ekey=" + std::string(40, 'a') + ",ue=192.0.2.1");
    ASSERT_TRUE(gcm.has_value()) << gcm.error().message;
    EXPECT_EQ(gcm->alg, esp::Alg::null);
    EXPECT_EQ(gcm->ealg, esp::Ealg::aes_gcm);
    EXPECT_TRUE(gcm->key.empty());
    EXPECT_EQ(gcm->cipher_key, std::vector<uint8_t>(20, 0xaa));
    const auto gmac = parse_sa_request("dir=in,alg=aes-gmac,ekey=" + std::string(40, 'b') + ",ue=192.0.2.1");
    ASSERT_TRUE(gmac.has_value()) << gmac.error().message;
    EXPECT_EQ(gmac->alg, esp::Alg::aes_gmac);
    EXPECT_EQ(gmac->ealg, esp::Ealg::null) << "no ealg: null";
    EXPECT_EQ(gmac->cipher_key.size(), 20u);
    const std::pair<std::string, const char*> bad[] = {
        {"alg=null,ealg=aes-gcm", "ekey (20 bytes, the AES key || salt) is required with alg=null, ealg=aes-gcm"},
        {"alg=aes-gmac", "ekey (20 bytes, the AES key || salt) is required with alg=aes-gmac, ealg=null"},
        {"alg=aes-gmac,key=" + std::string(32, '1') + ",ekey=" + std::string(40, '1'),
         "alg=aes-gmac takes no key: its key and salt go in ekey"},
        {"alg=null,ealg=aes-cbc,ekey=" + std::string(32, '1'), "alg=null with ealg=aes-cbc is not a pair"},
        {"alg=aes-gmac,ealg=aes-cbc,ekey=" + std::string(32, '1'), "alg=aes-gmac with ealg=aes-cbc is not a pair"},
        {"alg=hmac-md5-96,ealg=aes-gcm,key=" + std::string(32, '1'), "alg=hmac-md5-96 with ealg=aes-gcm is not"},
        {"alg=hmac-md5-96", "key is required with alg=hmac-md5-96"},
    };
    expect_refused("dir=in,ue=192.0.2.1,", bad);
}

TEST(SaRequestText, ReadsEalgAndItsKey) {
    const auto r = parse_sa_request("dir=in,alg=hmac-sha-1-96,key=" + std::string(40, '1') +
                                    ",ealg=aes-cbc,ekey=" + std::string(32, 'c') + ",ue=192.0.2.1");
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->ealg, esp::Ealg::aes_cbc);
    EXPECT_EQ(r->cipher_key, std::vector<uint8_t>(16, 0xcc));
    const auto plain = parse_sa_request("dir=in,alg=hmac-md5-96,key=" + std::string(32, '1') + ",ue=192.0.2.1");
    ASSERT_TRUE(plain.has_value());
    EXPECT_EQ(plain->ealg, esp::Ealg::null) << "no ealg: integrity only";
    EXPECT_TRUE(plain->cipher_key.empty());
    const std::pair<std::string, const char*> bad[] = {
        {"ealg=rc4", "ealg: 'rc4'"},
        {"ealg=aes-cbc", "ekey (16 bytes, CK_ESP) is required"},
        {"ealg=des-ede3-cbc", "ekey (24 bytes, CK_ESP) is required"},
        {"ekey=00", "ekey needs ealg"},
        {"ealg=aes-cbc,ekey=0g", "ekey: '0g' is not hex"},
    };
    expect_refused("dir=in,alg=hmac-md5-96,key=" + std::string(32, '1') + ",ue=192.0.2.1,", bad);
}

TEST(SaRequestText, ParsesWhatOperatorsType) {
    const auto r = parse_sa_request(
        "dir=out,alg=hmac-md5-96,key=00112233445566778899aabbccddeeff,spi=4294967295,"
        "ue=2001:db8::10,ue_port=5060,pcscf=2001:db8::1,pcscf_port=5101");
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->dir, Direction::outbound);
    EXPECT_EQ(r->spi, 4294967295u);
    EXPECT_EQ(r->key.size(), 16u);
    EXPECT_EQ(r->ue.to_string(), "2001:db8::10");
    EXPECT_EQ(r->pcscf_port, 5101);
}

// A UE behind a NAT, as an operator types it: the mode, the UE's own address and the
// NAT's port; installed, the worker gets a UDP-enc-tun record with them.
TEST_F(SaManagerTest, ReadsAndInstallsAUdpEncTunSa) {
    const auto r = parse_sa_request("dir=out,alg=hmac-sha-1-96,key=" + std::string(40, '1') +
                                    ",spi=28672,ue=198.51.100.7,ue_port=5060,pcscf_port=5101,mode=UDP-enc-tun,"
                                    "ue_inner=192.168.1.20,encap_port=40000");
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->mode, esp::Mode::udp_enc_tun);
    EXPECT_EQ(r->ue_inner.to_string(), "192.168.1.20");
    EXPECT_EQ(r->encap_port, 40000);
    ASSERT_TRUE(sas->add(*r).has_value());
    step();
    EXPECT_EQ(records.back().sa.mode, esp::Mode::udp_enc_tun);
    EXPECT_EQ(records.back().sa.ue_inner, r->ue_inner);
    EXPECT_EQ(records.back().sa.encap_port, 40000);
    const auto learnt = parse_sa_request("dir=in,alg=hmac-md5-96,key=" + std::string(32, '1') +
                                         ",ue=198.51.100.7,mode=udp-enc-tun,ue_inner=192.168.1.20");
    ASSERT_TRUE(learnt.has_value()) << learnt.error().message;
    EXPECT_EQ(learnt->encap_port, 0) << "learnt from the UE's first packet";
    EXPECT_TRUE(parse_sa_request("dir=in,alg=hmac-md5-96,key=" + std::string(32, '1') + ",ue=192.0.2.1,mode=trans")
                    .has_value());
    const std::pair<std::string, const char*> bad[] = {
        {"mode=tunnel", "mode: 'tunnel' is neither trans nor UDP-enc-tun"},
        {"mode=UDP-enc-tun", "ue_inner (the UE's own address behind the NAT) is required"},
        {"ue_inner=192.168.1.20", "ue_inner and encap_port need mode=UDP-enc-tun"},
        {"encap_port=4500", "ue_inner and encap_port need mode=UDP-enc-tun"},
        {"mode=UDP-enc-tun,ue_inner=192.168.1.20,encap_port=65536", "encap_port"},
        {"mode=UDP-enc-tun,ue_inner=10.0.0.300", "ue_inner"},
    };
    expect_refused("dir=in,alg=hmac-md5-96,key=" + std::string(32, '1') + ",ue=192.0.2.1,", bad);
}

TEST(SaRequestText, RefusesBadInputWithAReason) {
    const std::pair<const char*, const char*> bad[] = {
        {"dir=sideways", "dir"},       {"dir=in,alg=aes", "alg"},        {"dir=in,key=abc", "odd number"},
        {"dir=in,key=zz", "not hex"},  {"dir=in,spi=4294967296", "spi"}, {"dir=in,ue_port=65536", "ue_port"},
        {"dir=in,ue=300.1.1.1", "ue"}, {"dir=in,dir=out", "twice"},      {"dir=in,colour=blue", "colour"},
        {"dir=in,ue", "key=value"},
    };
    for (const auto& [text, why] : bad) {
        const auto r = parse_sa_request(text);
        ASSERT_FALSE(r.has_value()) << text;
        EXPECT_EQ(r.error().code, Errc::invalid) << text;
        EXPECT_NE(r.error().message.find(why), std::string::npos) << text << " -> " << r.error().message;
    }
}

TEST(SpiAllocatorTest, WalksForwardAndRunsOutCleanly) {
    esp::SpiLayout l;
    l.base = 0x1000;
    l.workers = 2;
    l.slots_per_worker = 4;
    SpiAllocator a(l);
    std::vector<uint32_t> got;
    while (auto s = a.allocate(1, {})) got.push_back(*s);
    ASSERT_EQ(got.size(), 4u);
    for (uint32_t s : got) EXPECT_EQ(l.owner(s), 1u);
    a.release(got[0]);
    const auto again = a.allocate(1, {});
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(*again, got[0]);  // the only free one
    EXPECT_FALSE(a.allocate(1, {}).has_value());
    EXPECT_EQ(a.used(0), 0u);
    EXPECT_FALSE(a.reserve(0x10));  // outside the layout
}

}  // namespace
}  // namespace pcscf::ctl
