// Sec-agree for a UE behind a NAT (TS 33.203 Annex M, TS 24.229 Annex F, RFC 3948): the
// registrar detects the NAT from SM1's Via, chooses a mod=UDP-enc-tun offer, installs
// UDP-enc-tun SAs (public address, inner address, NAT port not known yet), moves the
// set's SAs to the NAT port the datapath reports, and keeps it in the state store. Checked
// on the records the workers got (SaRig), not only on the registrar's view.
#include <gtest/gtest.h>

#include <map>

#include "control/secagree/registrar.hpp"
#include "control/secagree/registration_state.hpp"
#include "tests/control/sa_rig.hpp"

namespace pcscf::secagree {
namespace {

using namespace std::chrono_literals;

const net::IpAddr kPublic = *net::IpAddr::parse("198.51.100.7");  // the NAT's address: the source we see
const net::IpAddr kInner = *net::IpAddr::parse("192.168.1.20");   // the UE's own, in its Via
const net::IpAddr kPcscf4 = *net::IpAddr::parse("192.0.2.1");
const net::IpAddr kPcscf6 = *net::IpAddr::parse("2001:db8:f::1");
const std::string kImpi = "user@ims.example";
constexpr uint8_t kIk[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

// The UE's offer: one hmac-sha-1-96 mechanism per mod given ("trans", "UDP-enc-tun").
std::vector<sip::SecurityMechanism> offer(std::initializer_list<std::string_view> mods, uint16_t port_c = 6000) {
    std::string text;
    for (std::string_view mod : mods)
        text += (text.empty() ? "" : ", ") + std::string("ipsec-3gpp;alg=hmac-sha-1-96;prot=esp;mod=") +
                std::string(mod) + ";spi-c=" + std::to_string(0x1110000 + port_c) +
                ";spi-s=2236962;port-c=" + std::to_string(port_c) + ";port-s=9901";
    auto l = sip::parse_security_list(text);
    EXPECT_TRUE(l.has_value()) << text;
    return l ? *l : std::vector<sip::SecurityMechanism>{};
}

struct MemorySink : ctl::state::StateSink {
    void put(std::string key, std::string value) override { kv[key] = std::move(value); }
    void del(std::string key) override { kv.erase(key); }
    std::map<std::string, std::string> kv;
};

class RegistrarNatTest : public ::testing::Test, public test::SaRig {
protected:
    RegistrarNatTest() { make({}); }
    void make(RegistrarConfig c) {
        reg.emplace(*sas, std::move(c), kPcscf4, kPcscf6);
        sas->set_listener([this](const ctl::SaInfo& sa, const esp::SaEvent& e) {
            if (e.kind == esp::EventKind::applied && e.op == esp::SaOp::update) update_results.push_back(e.result);
            reg->on_sa_event(sa, e);
        });
        reg->set_info([this](const std::string& line) { log.push_back(line); });
    }

    Sm1 sm1(std::initializer_list<std::string_view> mods, const net::IpAddr& via = kInner,
            const net::IpAddr& from = kPublic) {
        Sm1 m;
        m.impi = kImpi;
        m.impu = "sip:user@ims.example";
        m.security_client = offer(mods);
        m.from = {from, 5060, 5060};
        m.via = via;
        return m;
    }
    // SM1 and SM6; the workers install the set.
    std::vector<sip::SecurityMechanism> challenge(const Sm1& m) {
        const auto one = reg->on_sm1(m, now);
        EXPECT_TRUE(one.has_value()) << one.error().reason;
        auto six = reg->on_sm6(kImpi, m.from.ue, kIk, now);
        EXPECT_TRUE(six.has_value()) << six.error().reason;
        step();
        return six ? six->first : std::vector<sip::SecurityMechanism>{};
    }
    // SM1 .. SM12 from behind the NAT.
    void register_ue() {
        const auto m = sm1({"trans", "UDP-enc-tun"});
        const auto server = challenge(m);
        const SaSet t = *reg->view(kImpi, kPublic)->temporary;
        ASSERT_TRUE(reg->on_sm7(kImpi, {kPublic, t.port_uc(), t.port_ps, true}, m.security_client, server));
        ASSERT_TRUE(reg->on_sm12(kImpi, kPublic, 3600s, now).has_value());
        step();
    }
    SaSet current() const { return *reg->view(kImpi, kPublic)->current; }
    // What the datapath raises when a verified packet comes from a new NAT port.
    void nat_port(ctl::SaId inbound, uint16_t port) {
        nat_port_seen(inbound, port);
        step();
    }
    std::vector<esp::SaRecord> updates() const {
        std::vector<esp::SaRecord> out;
        for (const auto& r : records)
            if (r.op == esp::SaOp::update) out.push_back(r);
        return out;
    }
    void retire_all() {
        for (int i = 1; i <= 2; ++i) {
            reg->tick(now + i * RegistrarConfig{}.delete_grace);
            step();
        }
    }

    Clock::time_point now = Clock::time_point{} + 1000s;
    std::optional<Registrar> reg;
    std::vector<std::string> log;
    std::vector<int32_t> update_results;  // the workers' acknowledgements of update records
};

TEST_F(RegistrarNatTest, ViaOtherThanTheSourceChoosesUdpEncTunAndInstallsItsSas) {
    const auto server = challenge(sm1({"trans", "UDP-enc-tun"}));
    const SaSet t = *reg->view(kImpi, kPublic)->temporary;
    EXPECT_EQ(t.mode(), esp::Mode::udp_enc_tun);
    EXPECT_EQ(t.ue, kPublic);
    EXPECT_EQ(t.ue_inner, kInner);
    EXPECT_EQ(t.encap_port, 0);
    ASSERT_EQ(server.size(), 8u) << "every allowed pair";
    for (const auto& m : server) {
        EXPECT_EQ(m.ipsec->mod, sip::Mode::udp_enc_tun);
        EXPECT_NE(sip::format_mechanism(m).find(";prot=esp;mod=UDP-enc-tun;"), std::string::npos)
            << sip::format_mechanism(m);
    }
    ASSERT_EQ(records.size(), 4u);
    for (const auto& r : records) {
        EXPECT_EQ(r.op, esp::SaOp::add);
        EXPECT_EQ(r.sa.mode, esp::Mode::udp_enc_tun);
        EXPECT_EQ(r.sa.ue_addr, kPublic) << "the NAT's address: where packets come from and go to";
        EXPECT_EQ(r.sa.ue_inner, kInner);
        EXPECT_EQ(r.sa.encap_port, 0) << "not learnt before the first verified packet";
    }
}

TEST_F(RegistrarNatTest, ViaNamingTheSourceChoosesTransport) {
    const auto server = challenge(sm1({"UDP-enc-tun", "trans"}, kPublic));
    EXPECT_EQ(reg->view(kImpi, kPublic)->temporary->mode(), esp::Mode::transport);
    for (const auto& m : server) EXPECT_EQ(m.ipsec->mod, sip::Mode::trans);
    ASSERT_EQ(records.size(), 4u);
    for (const auto& r : records) {
        EXPECT_EQ(r.sa.mode, esp::Mode::transport);
        EXPECT_TRUE(r.sa.ue_inner.is_unspecified());
    }
    // A Via host name cannot be compared with the source: no NAT assumed.
    EXPECT_FALSE(reg->nat_inner({kPublic, 5060, 5060}, kPublic, false).has_value()) << "only a REGISTER";
}

TEST_F(RegistrarNatTest, BehindANatWithoutAUdpEncTunOfferIs494AndCounted) {
    const auto r = reg->on_sm1(sm1({"trans"}), now);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().status, 494);
    EXPECT_TRUE(r.error().nat) << "its Security-Server lists mod=UDP-enc-tun";
    EXPECT_NE(r.error().reason.find("behind a NAT"), std::string::npos) << r.error().reason;
    EXPECT_NE(r.error().reason.find("no mod=UDP-enc-tun"), std::string::npos) << r.error().reason;
    EXPECT_NE(r.error().reason.find("transport-mode ESP cannot cross a NAPT"), std::string::npos);
    EXPECT_EQ(reg->nat_counters().refused, 1u);
    EXPECT_EQ(reg->ues(), 0u);
    step();
    EXPECT_EQ(sas->size(), 0u) << "a refused offer installs nothing";
    EXPECT_TRUE(records.empty());
    const auto listed = sip::format_mechanisms(reg->mechanisms(sip::Mode::udp_enc_tun));
    EXPECT_NE(listed.find("ipsec-3gpp;alg=null;ealg=aes-gcm;prot=esp;mod=UDP-enc-tun;q=1"), std::string::npos)
        << listed;
    EXPECT_EQ(listed.find("mod=trans"), std::string::npos);
}

TEST_F(RegistrarNatTest, OnlyUdpEncTunOfferedWithoutANatIs494) {
    auto r = reg->on_sm1(sm1({"UDP-enc-tun"}, kPublic), now);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().status, 494);
    EXPECT_FALSE(r.error().nat);
    EXPECT_NE(r.error().reason.find("only mod=UDP-enc-tun offered, but the UE is not behind a NAT"), std::string::npos)
        << r.error().reason;
    EXPECT_EQ(reg->nat_counters().refused, 0u);
    // IPv6: no NAT44 here, whatever its Via says.
    Sm1 v6 = sm1({"UDP-enc-tun"}, *net::IpAddr::parse("fd00::20"), *net::IpAddr::parse("2001:db8:1::10"));
    r = reg->on_sm1(v6, now);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().reason.find("UDP-enc-tun is for IPv4 UEs behind a NAT (NAT44) only"), std::string::npos)
        << r.error().reason;
    step();
    EXPECT_EQ(sas->size(), 0u);
}

TEST_F(RegistrarNatTest, NatTraversalOffNegotiatesTransport) {
    RegistrarConfig c;
    c.nat_traversal = false;
    make(c);
    challenge(sm1({"UDP-enc-tun", "trans"}));
    EXPECT_EQ(reg->view(kImpi, kPublic)->temporary->mode(), esp::Mode::transport);
    for (const auto& r : records) EXPECT_EQ(r.sa.mode, esp::Mode::transport);
    EXPECT_FALSE(reg->nat_inner({kPublic, 5060, 5060}, kInner, true).has_value()) << "rule 2 as without NAT";
    reg->abort(kImpi, kPublic, now);
    retire_all();
    const auto r = reg->on_sm1(sm1({"UDP-enc-tun"}, kInner, kPublic), now);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().reason.find("NAT traversal is off"), std::string::npos) << r.error().reason;
}

TEST_F(RegistrarNatTest, SecurityVerifyMustEchoTheMode) {
    const auto m = sm1({"trans", "UDP-enc-tun"});
    auto server = challenge(m);
    const SaSet t = *reg->view(kImpi, kPublic)->temporary;
    const Arrival over{kPublic, t.port_uc(), t.port_ps, true};
    EXPECT_EQ(reg->nat_inner(over, kInner, true), kInner) << "SM7's Via names the UE's own address";
    auto forged = server;
    for (auto& s : forged) s.ipsec->mod = sip::Mode::trans;
    const auto r = reg->on_sm7(kImpi, over, m.security_client, forged);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().reason, "Security-Verify differs from the Security-Server sent");
    EXPECT_TRUE(reg->on_sm7(kImpi, over, m.security_client, server).has_value());
}

TEST_F(RegistrarNatTest, TheNatPortMovesTheSetsSasOnceAndAgainOnARebinding) {
    register_ue();
    SaSet s = current();
    EXPECT_EQ(s.encap_port, 0);
    nat_port(s.ids[SaSet::in_ps], 40000);
    auto u = updates();
    ASSERT_EQ(u.size(), 3u) << "the two outbound SAs and the other inbound one";
    for (const auto& r : u) {
        EXPECT_EQ(r.sa.encap_port, 40000);
        EXPECT_EQ(r.sa.mode, esp::Mode::udp_enc_tun);
        EXPECT_EQ(r.sa.ue_inner, kInner);
        EXPECT_NE(r.sa.cookie, s.ids[SaSet::in_ps]) << "the reporting SA took the port itself";
    }
    for (SaSet::Slot slot : {SaSet::out_uc, SaSet::out_us})
        EXPECT_TRUE(std::any_of(u.begin(), u.end(), [&](const auto& r) { return r.sa.cookie == s.ids[slot]; }));
    for (ctl::SaId id : s.ids) EXPECT_EQ(sas->find(id)->cfg.encap_port, 40000) << id;
    EXPECT_EQ(current().encap_port, 40000);
    EXPECT_EQ(reg->nat_counters().port_changes, 1u);
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(log[0], kImpi + " at 198.51.100.7 (inner 192.168.1.20): NAT port learnt: 40000");
    EXPECT_EQ(sas->size(), 4u);
    EXPECT_EQ(update_results, std::vector<int32_t>(3, 0)) << "every update applied";

    // The other inbound SA reports the same port: nothing to do.
    records.clear();
    nat_port(s.ids[SaSet::in_pc], 40000);
    EXPECT_TRUE(updates().empty());
    EXPECT_EQ(reg->nat_counters().port_changes, 1u);
    EXPECT_EQ(log.size(), 1u);

    // A NAT rebinding: a third port.
    nat_port(s.ids[SaSet::in_pc], 41234);
    u = updates();
    ASSERT_EQ(u.size(), 3u);
    for (const auto& r : u) EXPECT_EQ(r.sa.encap_port, 41234);
    EXPECT_EQ(current().encap_port, 41234);
    EXPECT_EQ(reg->nat_counters().port_changes, 2u);
    ASSERT_EQ(log.size(), 2u);
    EXPECT_EQ(log[1], kImpi + " at 198.51.100.7 (inner 192.168.1.20): NAT port 40000 -> 41234");
}

TEST_F(RegistrarNatTest, APortLearntOverTheTemporarySetStaysWithItsRegistration) {
    const auto m = sm1({"UDP-enc-tun"});
    const auto server = challenge(m);
    const SaSet t = *reg->view(kImpi, kPublic)->temporary;
    nat_port(t.ids[SaSet::in_ps], 40000);  // SM7 is the first packet over the new SAs
    EXPECT_EQ(updates().size(), 3u);
    EXPECT_EQ(reg->view(kImpi, kPublic)->temporary->encap_port, 40000);
    ASSERT_TRUE(reg->on_sm7(kImpi, {kPublic, t.port_uc(), t.port_ps, true}, m.security_client, server));
    ASSERT_TRUE(reg->on_sm12(kImpi, kPublic, 3600s, now).has_value());
    EXPECT_EQ(current().encap_port, 40000);
    EXPECT_EQ(reg->nat_inner({kPublic, t.port_us(), t.port_pc, true}, kInner, false), kInner)
        << "a protected request's Via names the inner address";
}

TEST_F(RegistrarNatTest, TheStateStoreKeepsTheNatPort) {
    MemorySink sink;
    reg->set_state(&sink);
    sas->set_state(&sink, 1024);
    register_ue();
    nat_port(current().ids[SaSet::in_ps], 40000);
    reg->flush_state(now);
    const auto stored = decode_registration(sink.kv.at(registration_key(kImpi, kPublic)));
    ASSERT_TRUE(stored.has_value()) << stored.error().message;
    EXPECT_EQ(stored->current->mode(), esp::Mode::udp_enc_tun);
    EXPECT_EQ(stored->current->ue_inner, kInner);
    EXPECT_EQ(stored->current->encap_port, 40000);
    for (ctl::SaId id : current().ids) {
        const auto sa = ctl::decode_sa(sink.kv.at(ctl::sa_record_key(id)));
        ASSERT_TRUE(sa.has_value()) << sa.error().message;
        EXPECT_EQ(sa->info.cfg.mode, esp::Mode::udp_enc_tun);
        EXPECT_EQ(sa->info.cfg.encap_port, 40000) << "the reporting SA too";
        EXPECT_EQ(sa->info.cfg.ue_inner, kInner);
    }
}

TEST_F(RegistrarNatTest, DeRegistrationRemovesAllFourSas) {
    register_ue();
    nat_port(current().ids[SaSet::in_ps], 40000);
    EXPECT_EQ(inbound_in_engines() + outbound_in_engines(), 4u);
    reg->deregistered(kImpi, kPublic, now);
    retire_all();
    EXPECT_EQ(sas->size(), 0u);
    EXPECT_EQ(inbound_in_engines() + outbound_in_engines(), 0u);
    EXPECT_EQ(reg->ues(), 0u);
    // A report for an SA already gone changes nothing.
    records.clear();
    nat_port(1, 42000);
    EXPECT_TRUE(updates().empty());
}

TEST_F(RegistrarNatTest, ExpiryRemovesAllFourSas) {
    register_ue();
    nat_port(current().ids[SaSet::in_ps], 40000);
    reg->tick(now + 3601s);
    step();
    EXPECT_EQ(sas->size(), 0u);
    EXPECT_EQ(inbound_in_engines() + outbound_in_engines(), 0u);
    EXPECT_EQ(reg->ues(), 0u);
}

}  // namespace
}  // namespace pcscf::secagree
