// The registration steps of TS 33.203 7.2 / 7.4.2a against real SAs: each step's effect
// is checked on the workers' tables (through SaRig), not only on the registrar's view.
#include <gtest/gtest.h>

#include "control/secagree/registrar.hpp"
#include "sa_contract/owner.hpp"
#include "tests/control/sa_rig.hpp"

namespace pcscf::secagree {
namespace {

using namespace std::chrono_literals;

const net::IpAddr kUe = *net::IpAddr::parse("2001:db8:1::10");
const net::IpAddr kPcscf6 = *net::IpAddr::parse("2001:db8:f::1");
const net::IpAddr kPcscf4 = *net::IpAddr::parse("192.0.2.1");
const std::string kImpi = "user@ims.example";
const std::string kImpu = "sip:user@ims.example";
constexpr uint8_t kIk[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

std::vector<sip::SecurityMechanism> offer(uint16_t port_c, uint16_t port_s = 9901, uint32_t spi_c = 0x1110000,
                                          uint32_t spi_s = 0x2220000, const char* extra = "") {
    const std::string text =
        "ipsec-3gpp;alg=hmac-md5-96;spi-c=" + std::to_string(spi_c + port_c) + ";spi-s=" + std::to_string(spi_s) +
        ";port-c=" + std::to_string(port_c) + ";port-s=" + std::to_string(port_s) +
        ", ipsec-3gpp;alg=hmac-sha-1-96;spi-c=" + std::to_string(spi_c + port_c) + ";spi-s=" + std::to_string(spi_s) +
        ";port-c=" + std::to_string(port_c) + ";port-s=" + std::to_string(port_s) + extra;
    auto l = sip::parse_security_list(text);
    EXPECT_TRUE(l.has_value());
    return l ? *l : std::vector<sip::SecurityMechanism>{};
}

class RegistrarTest : public ::testing::Test, public test::SaRig {
protected:
    RegistrarTest() : reg(*sas, cfg(), kPcscf4, kPcscf6) {
        sas->set_listener([this](const ctl::SaInfo& sa, const esp::SaEvent& e) { reg.on_sa_event(sa, e); });
    }
    static RegistrarConfig cfg() { return {}; }

    Sm1 sm1(uint16_t port_c, bool over_current = false) {
        Sm1 m;
        m.impi = kImpi;
        m.impu = kImpu;
        m.security_client = offer(port_c);
        m.from.ue = kUe;
        if (over_current) {
            const auto v = reg.view(kImpi, kUe);
            m.from.ue_port = v->current->port_uc();
            m.from.local_port = v->current->port_ps;
            m.from.protected_ = true;
        } else {
            m.from.ue_port = 5060;
            m.from.local_port = 5060;
        }
        return m;
    }
    // Past both graces of a retiring set: its inbound SAs go, then its outbound ones.
    void retire_all() {
        for (int i = 1; i <= 2; ++i) {
            reg.tick(now + i * RegistrarConfig{}.delete_grace);
            step();
        }
    }
    Arrival over_temp() {
        const auto t = *reg.view(kImpi, kUe)->temporary;
        return {kUe, t.port_uc(), t.port_ps, true};
    }
    // SM1 .. SM12 with client port `port_c`; returns the Security-Server sent.
    std::vector<sip::SecurityMechanism> register_ue(uint16_t port_c, bool protected_sm1 = false) {
        auto m = sm1(port_c, protected_sm1);
        EXPECT_TRUE(reg.on_sm1(m, now).has_value());
        auto six = reg.on_sm6(kImpi, kUe, kIk, now);
        EXPECT_TRUE(six.has_value()) << six.error().reason;
        step();
        EXPECT_TRUE(reg.on_sm7(kImpi, over_temp(), m.security_client, six->first).has_value());
        auto twelve = reg.on_sm12(kImpi, kUe, 3600s, now);
        EXPECT_TRUE(twelve.has_value());
        step();
        return six->first;
    }

    Clock::time_point now = Clock::time_point{} + 1000s;
    Registrar reg;
};

TEST_F(RegistrarTest, InitialRegistrationInstallsFourSasAndRoutesOverThem) {
    auto m = sm1(6000);
    const auto one = reg.on_sm1(m, now);
    ASSERT_TRUE(one.has_value());
    EXPECT_FALSE(*one) << "unprotected SM1 is not integrity-protected";
    const auto six = reg.on_sm6(kImpi, kUe, kIk, now);
    ASSERT_TRUE(six.has_value()) << six.error().reason;
    EXPECT_FALSE(six->second.protected_) << "401 to an unprotected SM1 goes unprotected";
    ASSERT_EQ(six->first.size(), 8u) << "every allowed pair";
    const sip::Ipsec3gpp& server = *six->first[0].ipsec;
    EXPECT_EQ(server.alg, sip::IntegrityAlg::null) << "our policy puts AES-GCM first";
    EXPECT_EQ(server.ealg, sip::EncryptionAlg::aes_gcm);
    EXPECT_EQ(six->first[1].ipsec->alg, sip::IntegrityAlg::hmac_sha_1_96) << "then SHA-1 before MD5";
    EXPECT_EQ(reg.view(kImpi, kUe)->temporary->pair(), (AlgPair{esp::Alg::hmac_sha1_96, esp::Ealg::null}))
        << "the UE offered integrity only: SHA-1 comes first";
    EXPECT_EQ(server.port_s, 5101);
    EXPECT_NE(server.spi_c, m.security_client[1].ipsec->spi_c);
    EXPECT_NE(server.spi_s, m.security_client[1].ipsec->spi_s);
    step();
    EXPECT_EQ(inbound_in_engines(), 2u);
    EXPECT_EQ(outbound_in_engines(), 2u);
    EXPECT_NE(engines[0]->find_inbound(server.spi_s) ? engines[0]->find_inbound(server.spi_s)
                                                     : engines[1]->find_inbound(server.spi_s),
              nullptr);

    ASSERT_TRUE(reg.on_sm7(kImpi, over_temp(), m.security_client, six->first).has_value());
    const auto route = reg.on_sm12(kImpi, kUe, 600s, now);
    ASSERT_TRUE(route.has_value());
    EXPECT_EQ(route->port_ps, 5101);
    EXPECT_EQ(route->port_uc, 6000);
    EXPECT_EQ(route->port_us, 9901);
    EXPECT_TRUE(route->protected_);
    const auto v = *reg.view(kImpi, kUe);
    ASSERT_TRUE(v.current.has_value());
    EXPECT_FALSE(v.temporary.has_value());
    EXPECT_EQ(reg.check_protected({kUe, 6000, 5101, true}, kImpu).value(), kImpi);
    EXPECT_EQ(reg.check_protected({kUe, 9901, v.current->port_pc, true}, kImpu).value(), kImpi);
    const auto to = reg.route_to(kImpu);
    ASSERT_TRUE(to.has_value());
    EXPECT_EQ(to->second.port_pc, v.current->port_pc);
    EXPECT_EQ(to->second.port_us, 9901);
}

// What the operator sees (pcscf-espctl ue list / show, monitor): every UE with its sets,
// and each registration's beginning and end as a notice.
TEST_F(RegistrarTest, ViewsAndNoticesFollowARegistration) {
    std::vector<std::string> notices;
    reg.set_notice([&](const std::string& impi, const net::IpAddr& ue, std::string_view what) {
        notices.push_back(impi + "@" + ue.to_string() + " " + std::string(what));
    });
    EXPECT_TRUE(reg.views(0, 10).empty());
    auto m = sm1(6000);
    ASSERT_TRUE(reg.on_sm1(m, now).has_value());
    ASSERT_TRUE(reg.on_sm6(kImpi, kUe, kIk, now).has_value());
    step();
    auto during = reg.views_of(kImpi);
    ASSERT_EQ(during.size(), 1u);
    EXPECT_TRUE(during[0].temporary.has_value());
    EXPECT_FALSE(during[0].current.has_value());
    EXPECT_TRUE(notices.empty()) << "nothing to tell before the 200";
    reg.abort(kImpi, kUe, now);
    EXPECT_EQ(notices, std::vector<std::string>{kImpi + "@" + kUe.to_string() + " failed"});
    notices.clear();

    register_ue(6002);
    const auto all = reg.views(0, 10);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].impi, kImpi);
    EXPECT_EQ(all[0].ue, kUe);
    ASSERT_TRUE(all[0].current.has_value());
    EXPECT_EQ(all[0].current->port_uc(), 6002);
    EXPECT_EQ(all[0].expiry, now + 3600s);
    EXPECT_EQ(all[0].impus, std::vector<std::string>{kImpu});
    EXPECT_TRUE(reg.views(1, 10).empty()) << "a page past the end is empty";
    EXPECT_TRUE(reg.views_of("other@ims.example").empty());
    EXPECT_EQ(notices, std::vector<std::string>{kImpi + "@" + kUe.to_string() + " registered"});

    reg.deregistered(kImpi, kUe, now);
    EXPECT_EQ(notices.back(), kImpi + "@" + kUe.to_string() + " de-registered");
    register_ue(6004);
    reg.tick(now + 3601s);
    EXPECT_EQ(notices.back(), kImpi + "@" + kUe.to_string() + " expired");
    EXPECT_TRUE(reg.views(0, 10).empty());
}

// A P-CSCF with several access addresses of a family: the UE's SAs are at the one its
// SM1 reached, SM7 counts only over the set at that address, and every route (the 401's,
// the 200's, the core's requests) leaves from it.
TEST_F(RegistrarTest, SetsAreAtTheAccessAddressSm1Reached) {
    const net::IpAddr second = *net::IpAddr::parse("2001:db8:f::2");
    auto m = sm1(6000);
    m.from.pcscf = second;
    ASSERT_TRUE(reg.on_sm1(m, now).has_value());
    auto six = reg.on_sm6(kImpi, kUe, kIk, now);
    ASSERT_TRUE(six.has_value()) << six.error().reason;
    step();
    const SaSet temp = *reg.view(kImpi, kUe)->temporary;
    EXPECT_EQ(temp.pcscf, second);
    for (ctl::SaId id : temp.ids) {
        const auto sa = sas->find(id);
        ASSERT_TRUE(sa.has_value());
        EXPECT_EQ(sa->cfg.pcscf_addr, second) << "SA " << id << " is not at the address SM1 reached";
    }
    Arrival at_first = over_temp();
    at_first.pcscf = kPcscf6;
    EXPECT_FALSE(reg.over_temporary(kImpi, at_first)) << "SM7 at the other address is not over the new SA";
    Arrival at_second = over_temp();
    at_second.pcscf = second;
    ASSERT_TRUE(reg.over_temporary(kImpi, at_second));
    ASSERT_TRUE(reg.on_sm7(kImpi, at_second, m.security_client, six->first).has_value());
    const auto twelve = reg.on_sm12(kImpi, kUe, 3600s, now);
    ASSERT_TRUE(twelve.has_value());
    EXPECT_EQ(twelve->pcscf, second) << "the 200 leaves from the set's address";
    const auto to = reg.route_to(kImpu);
    ASSERT_TRUE(to.has_value());
    EXPECT_EQ(to->second.pcscf, second) << "the core's requests leave from the set's address";
    EXPECT_EQ(reg.route_back(at_second)->pcscf, second);

    // A re-registration reaching the first address moves the new set there.
    auto again = sm1(6002);
    again.from.pcscf = kPcscf6;
    ASSERT_TRUE(reg.on_sm1(again, now).has_value());
    ASSERT_TRUE(reg.on_sm6(kImpi, kUe, kIk, now).has_value());
    step();
    EXPECT_EQ(reg.view(kImpi, kUe)->temporary->pcscf, kPcscf6);
    EXPECT_EQ(reg.view(kImpi, kUe)->current->pcscf, second);
}

struct Sm7Case {
    const char* name;
    int tamper;  // 0 unprotected, 1 wrong port, 2 Security-Verify changed, 3 Security-Client changed
    const char* reason;
};

class Sm7Failure : public RegistrarTest, public ::testing::WithParamInterface<Sm7Case> {};

TEST_P(Sm7Failure, AbortsAndDeletesTheTemporarySet) {
    auto m = sm1(6000);
    ASSERT_TRUE(reg.on_sm1(m, now).has_value());
    auto six = *reg.on_sm6(kImpi, kUe, kIk, now);
    step();
    Arrival from = over_temp();
    auto client = m.security_client;
    auto verify = six.first;
    switch (GetParam().tamper) {
        case 0: from.protected_ = false; break;
        case 1: from.ue_port = 6001; break;
        case 2: verify[0].ipsec->spi_s += 1; break;
        case 3: client.pop_back(); break;
    }
    const auto r = reg.on_sm7(kImpi, from, client, verify);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().status, 403);
    EXPECT_NE(r.error().reason.find(GetParam().reason), std::string::npos) << r.error().reason;
    // The refusal goes out over the temporary set, which is then aborted and retires.
    EXPECT_TRUE(reg.failure_route(kImpi, kUe).protected_);
    reg.abort(kImpi, kUe, now);
    step();
    EXPECT_EQ(outbound_in_engines(), 2u) << "the refusal still needs them";
    retire_all();
    EXPECT_EQ(inbound_in_engines() + outbound_in_engines(), 0u) << "temporary SAs leaked";
    EXPECT_EQ(sas->size(), 0u);
    EXPECT_EQ(reg.ues(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Cases, Sm7Failure,
                         ::testing::Values(Sm7Case{"unprotected", 0, "new inbound SA"},
                                           Sm7Case{"wrong_port", 1, "new inbound SA"},
                                           Sm7Case{"verify_differs", 2, "Security-Verify"},
                                           Sm7Case{"client_differs", 3, "Security-Client"}),
                         [](const auto& i) { return std::string(i.param.name); });

TEST_F(RegistrarTest, ASecond401ReplacesTheTemporarySet) {
    ASSERT_TRUE(reg.on_sm1(sm1(6000), now).has_value());
    const auto first = *reg.on_sm6(kImpi, kUe, kIk, now);
    const auto second = *reg.on_sm6(kImpi, kUe, kIk, now);
    step();
    EXPECT_EQ(inbound_in_engines(), 2u);
    EXPECT_EQ(outbound_in_engines(), 2u);
    EXPECT_NE(first.first[0].ipsec->spi_s, second.first[0].ipsec->spi_s);
}

TEST_F(RegistrarTest, ProtectedReRegistrationKeepsTheOldPairUntilTheNewSaIsUsed) {
    register_ue(6000);
    const SaSet old = *reg.view(kImpi, kUe)->current;
    const auto one = reg.on_sm1(sm1(6002, true), now);
    ASSERT_TRUE(one.has_value());
    EXPECT_TRUE(*one) << "SM1 over the registered SA is integrity-protected";
    auto six = reg.on_sm6(kImpi, kUe, kIk, now);
    ASSERT_TRUE(six.has_value());
    EXPECT_TRUE(six->second.protected_) << "401 goes over the old set";
    EXPECT_EQ(six->second.port_uc, 6000);
    step();
    ASSERT_TRUE(reg.on_sm7(kImpi, over_temp(), offer(6002), six->first).has_value());
    ASSERT_TRUE(reg.on_sm12(kImpi, kUe, 600s, now).has_value());
    step();
    const auto v = *reg.view(kImpi, kUe);
    EXPECT_EQ(v.current->port_ps, old.port_ps) << "server port stays";
    EXPECT_NE(v.current->port_pc, old.port_pc) << "client port changes";
    ASSERT_TRUE(v.kept.has_value());
    EXPECT_EQ(inbound_in_engines(), 3u) << "new pair + the kept old inbound";
    EXPECT_EQ(outbound_in_engines(), 3u);
    EXPECT_TRUE(reg.check_protected({kUe, 6000, 5101, true}, kImpu).has_value()) << "kept pair still usable";

    // The first packet verified on a new inbound SA retires the kept pair.
    esp::SaEvent used;
    used.kind = esp::EventKind::first_use;
    used.cookie = v.current->ids[SaSet::in_ps];
    ASSERT_TRUE(rings->worker(0).post_event(used));
    step();
    step();
    EXPECT_FALSE(reg.view(kImpi, kUe)->kept.has_value());
    EXPECT_EQ(inbound_in_engines(), 2u);
    EXPECT_EQ(outbound_in_engines(), 2u);
    EXPECT_FALSE(reg.check_protected({kUe, 6000, 5101, true}, kImpu).has_value());
}

TEST_F(RegistrarTest, ReRegistrationWithoutChallengeKeepsTheSetAndExtendsIt) {
    register_ue(6000);
    const SaSet before = *reg.view(kImpi, kUe)->current;
    ASSERT_TRUE(reg.on_sm1(sm1(6002, true), now).has_value());
    // The core answers 200 straight away: no new SAs, the offered port 6002 is obsolete.
    const auto r = reg.on_sm12(kImpi, kUe, 3600s, now + 500s);
    ASSERT_TRUE(r.has_value()) << r.error().reason;
    EXPECT_EQ(r->port_uc, 6000);
    step();
    const auto v = *reg.view(kImpi, kUe);
    EXPECT_EQ(v.current->ids, before.ids);
    EXPECT_FALSE(v.temporary.has_value());
    EXPECT_EQ(inbound_in_engines(), 2u);
    // Still registered after the first registration's hour (it ended at now + 3600 s).
    reg.tick(now + 3800s);
    EXPECT_TRUE(reg.route_to(kImpu).has_value());
    // An unprotected SM1 answered without a challenge is the core's error, not a refresh.
    ASSERT_TRUE(reg.on_sm1(sm1(6004), now).has_value());
    EXPECT_FALSE(reg.on_sm12(kImpi, kUe, 600s, now).has_value());
}

TEST_F(RegistrarTest, AMessageOverTheNewSetAfterSm12RetiresTheKeptPair) {
    register_ue(6000);
    register_ue(6002, true);
    ASSERT_TRUE(reg.view(kImpi, kUe)->kept.has_value());
    reg.on_protected_message({kUe, 6000, 5101, true});  // over the kept pair: it stays
    EXPECT_TRUE(reg.view(kImpi, kUe)->kept.has_value());
    reg.on_protected_message({kUe, 6002, 5101, true});
    step();
    EXPECT_FALSE(reg.view(kImpi, kUe)->kept.has_value());
    EXPECT_EQ(inbound_in_engines(), 2u);
    EXPECT_EQ(outbound_in_engines(), 2u);
}

// The UE may pick as its new port_us the port_uc of the pair that is kept: a message over
// the kept pair (old port_uc -> port_ps) is still the kept pair's, not the new set's
// (new port_us -> new port_pc), so it neither retires the kept pair nor routes over the
// new set.
TEST_F(RegistrarTest, TheKeptPairIsToldApartFromANewSetReusingItsPort) {
    register_ue(6000);
    const SaSet old = *reg.view(kImpi, kUe)->current;
    auto m = sm1(6002, true);
    m.security_client = offer(6002, 6000);  // port_us = the kept pair's port_uc
    ASSERT_TRUE(reg.on_sm1(m, now).has_value());
    auto six = reg.on_sm6(kImpi, kUe, kIk, now);
    ASSERT_TRUE(six.has_value());
    step();
    ASSERT_TRUE(reg.on_sm7(kImpi, over_temp(), m.security_client, six->first).has_value());
    ASSERT_TRUE(reg.on_sm12(kImpi, kUe, 600s, now).has_value());
    step();
    const auto v = *reg.view(kImpi, kUe);
    ASSERT_TRUE(v.kept.has_value());
    ASSERT_EQ(v.current->port_us(), 6000);
    ASSERT_NE(v.current->port_pc, old.port_ps);
    const Arrival over_kept{kUe, 6000, old.port_ps, true};
    const auto back = reg.route_back(over_kept);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->port_ps, old.port_ps) << "answered over the kept pair";
    EXPECT_EQ(back->port_uc, 6000);
    EXPECT_EQ(back->port_us, 0) << "not over the new set";
    reg.on_protected_message(over_kept);
    step();
    EXPECT_TRUE(reg.view(kImpi, kUe)->kept.has_value()) << "a message over the kept pair keeps it";
    reg.on_protected_message({kUe, 6000, v.current->port_pc, true});  // over the new set
    step();
    EXPECT_FALSE(reg.view(kImpi, kUe)->kept.has_value());
}

TEST_F(RegistrarTest, UnprotectedSm1WithOldSasDeletesThemAllAfterSm12) {
    register_ue(6000);
    register_ue(6002, false);
    EXPECT_FALSE(reg.view(kImpi, kUe)->kept.has_value());
    EXPECT_EQ(inbound_in_engines(), 2u);
    EXPECT_EQ(outbound_in_engines(), 2u);
}

TEST_F(RegistrarTest, ClientPortAlreadyInUseIsRefused) {
    register_ue(6000);
    const auto r = reg.on_sm1(sm1(6000, true), now);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().reason.find("already in use"), std::string::npos);
}

TEST_F(RegistrarTest, UesBehindOneAddressCannotTakeEachOthersPorts) {
    register_ue(6000);  // port-c 6000, port-s 9901
    for (const uint16_t taken : {6000, 9901}) {
        Sm1 other = sm1(taken);
        other.impi = other.impu = "bob@ims.example";
        other.security_client = offer(taken, 9950);
        const auto r = reg.on_sm1(other, now);
        ASSERT_FALSE(r.has_value()) << taken;
        EXPECT_NE(r.error().reason.find("already in use"), std::string::npos) << r.error().reason;
    }
    Sm1 free = sm1(6010);
    free.impi = free.impu = "bob@ims.example";
    free.security_client = offer(6010, 9950);
    EXPECT_TRUE(reg.on_sm1(free, now).has_value());
}

TEST_F(RegistrarTest, APortInATemporarySetIsInUseUntilTheSetGoes) {
    ASSERT_TRUE(reg.on_sm1(sm1(6000), now).has_value());
    ASSERT_TRUE(reg.on_sm6(kImpi, kUe, kIk, now).has_value());
    Sm1 other = sm1(6000);
    other.impi = "other@ims.example";  // another IMPI on the same UE address
    auto r = reg.on_sm1(other, now);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().reason.find("already in use"), std::string::npos) << r.error().reason;
    reg.abort(kImpi, kUe, now);  // the temporary set retires, and its port with it
    step();
    EXPECT_FALSE(reg.on_sm1(other, now).has_value()) << "its SAs are still installed";
    retire_all();
    EXPECT_TRUE(reg.on_sm1(other, now).has_value());
    // Promoted at SM12, the port stays in use (now through the registered set) and is
    // free again once the registration's SAs are gone.
    reg.abort("other@ims.example", kUe, now);
    register_ue(6004);
    EXPECT_FALSE(reg.on_sm1(other = sm1(6004), now).has_value());
    reg.deregistered(kImpi, kUe, now);
    retire_all();
    other.impi = "other@ims.example";
    EXPECT_TRUE(reg.on_sm1(other, now).has_value());
}

// A UE that starts again (its 401 lost, or told 503 while a retransmission of its SM1 got
// through) offers the same ports: its own temporary set makes way for the new one.
TEST_F(RegistrarTest, AUeStartingAgainOnTheSamePortsReplacesItsOwnTemporarySet) {
    ASSERT_TRUE(reg.on_sm1(sm1(6000), now).has_value());
    ASSERT_TRUE(reg.on_sm6(kImpi, kUe, kIk, now).has_value());
    step();
    const size_t installed = sas->size();
    EXPECT_EQ(installed, 4u);
    auto again = reg.on_sm1(sm1(6000), now);
    ASSERT_TRUE(again.has_value()) << again.error().reason;
    step();
    EXPECT_EQ(sas->size(), 0u) << "the earlier temporary set is gone";
    ASSERT_TRUE(reg.on_sm6(kImpi, kUe, kIk, now).has_value());
    step();
    EXPECT_EQ(sas->size(), 4u);
    Sm1 other = sm1(6000);
    other.impi = "other@ims.example";  // the port is still this UE's against any other
    EXPECT_FALSE(reg.on_sm1(other, now).has_value());
}

TEST_F(RegistrarTest, ProtectedSm1OverSomeoneElsesSaIsRefused) {
    register_ue(6000);
    Sm1 m = sm1(6002, true);
    m.impi = "other@ims.example";
    EXPECT_FALSE(reg.on_sm1(m, now).has_value());
}

TEST_F(RegistrarTest, OffersWeCannotUseAreRefusedWith494) {
    RegistrarConfig c;
    c.algorithms = *parse_algorithm_policy({"hmac-sha-1-96,hmac-md5-96,aes-cbc,null", std::nullopt, std::nullopt});
    Registrar no_3des(*sas, c, kPcscf4, kPcscf6);
    Sm1 m = sm1(6000);
    m.security_client = *sip::parse_security_list(
        "ipsec-3gpp;alg=hmac-sha-1-96;ealg=des-ede3-cbc;spi-c=1;spi-s=2;port-c=3;port-s=4, "
        "ipsec-3gpp;alg=hmac-sha-256-128;spi-c=1;spi-s=2;port-c=3;port-s=4");
    const auto r = no_3des.on_sm1(m, now);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().status, 494);
    EXPECT_NE(r.error().reason.find("no acceptable ipsec-3gpp offer"), std::string::npos) << r.error().reason;
    EXPECT_NE(r.error().reason.find("hmac-sha-1-96/des-ede3-cbc"), std::string::npos) << r.error().reason;
    EXPECT_EQ(no_3des.ues(), 0u);
    EXPECT_EQ(sip::format_mechanisms(no_3des.mechanisms()),
              "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=trans;q=1, "
              "ipsec-3gpp;alg=hmac-md5-96;ealg=aes-cbc;prot=esp;mod=trans;q=0.9, "
              "ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;prot=esp;mod=trans;q=0.8, "
              "ipsec-3gpp;alg=hmac-md5-96;ealg=null;prot=esp;mod=trans;q=0.7")
        << "the 494 lists what we accept instead";
}

TEST(RegistrarLimits, AtMostTheConfiguredSasPerDirection) {
    test::SaRig rig;
    RegistrarConfig c;
    c.max_sas_per_direction = 3;
    Registrar reg(*rig.sas, c, kPcscf4, kPcscf6);
    Sm1 m;
    m.impi = kImpi;
    m.impu = kImpu;
    m.from = {kUe, 5060, 5060, false};
    m.security_client = offer(6000);
    const auto now = Clock::now();
    ASSERT_TRUE(reg.on_sm1(m, now).has_value());
    const auto six = *reg.on_sm6(kImpi, kUe, kIk, now);
    const auto t = *reg.view(kImpi, kUe)->temporary;
    ASSERT_TRUE(reg.on_sm7(kImpi, {kUe, t.port_uc(), t.port_ps, true}, m.security_client, six.first).has_value());
    ASSERT_TRUE(reg.on_sm12(kImpi, kUe, 600s, now).has_value());
    m.security_client = offer(6002);
    const auto r = reg.on_sm1(m, now);  // 2 registered + 2 new > 3
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().reason.find("too many"), std::string::npos);
}

// --alg-priority, the older option, still orders (and limits) the integrity algorithms.
TEST_F(RegistrarTest, AlgorithmFollowsOurPriority) {
    RegistrarConfig c;
    c.algorithms = *parse_algorithm_policy({std::nullopt, std::nullopt, "hmac-md5-96,hmac-sha-1-96"});
    Registrar md5_first(*sas, c, kPcscf4, kPcscf6);
    ASSERT_TRUE(md5_first.on_sm1(sm1(6000), now).has_value());
    const auto six = md5_first.on_sm6(kImpi, kUe, kIk, now);
    ASSERT_TRUE(six.has_value());
    EXPECT_EQ(six->first[0].ipsec->ealg, sip::EncryptionAlg::aes_gcm) << "aes-gcm is still allowed, and first";
    EXPECT_EQ(six->first[1].ipsec->alg, sip::IntegrityAlg::hmac_md5_96);
    EXPECT_EQ(md5_first.view(kImpi, kUe)->temporary->alg, esp::Alg::hmac_md5_96);

    c.algorithms = *parse_algorithm_policy({std::nullopt, std::nullopt, "hmac-sha-1-96"});
    Registrar sha1_only(*sas, c, kPcscf4, kPcscf6);
    Sm1 m = sm1(6002);
    m.security_client = *sip::parse_security_list(
        "ipsec-3gpp;alg=hmac-md5-96;spi-c=1111;spi-s=2222;port-c=6002;"
        "port-s=9901");
    const auto r = sha1_only.on_sm1(m, now);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().status, 494) << "MD5 is not in --alg-priority";
    // Reloaded: registrations from now on follow the new policy.
    sha1_only.reconfigure(*parse_algorithm_policy({std::nullopt, std::nullopt, "hmac-md5-96"}), 240s);
    EXPECT_TRUE(sha1_only.on_sm1(m, now).has_value());
}

TEST_F(RegistrarTest, TimersDeleteTemporaryAndExpiredSets) {
    ASSERT_TRUE(reg.on_sm1(sm1(6000), now).has_value());
    ASSERT_TRUE(reg.on_sm6(kImpi, kUe, kIk, now).has_value());
    step();
    reg.tick(now + 239s);
    step();
    EXPECT_EQ(inbound_in_engines(), 2u) << "reg-await-auth has not run out";
    reg.tick(now + 241s);
    step();
    EXPECT_EQ(inbound_in_engines() + outbound_in_engines(), 0u);
    EXPECT_EQ(reg.ues(), 0u);

    register_ue(6000);
    reg.tick(now + 3599s);
    EXPECT_TRUE(reg.route_to(kImpu).has_value());
    reg.tick(now + 3601s);
    step();
    EXPECT_FALSE(reg.route_to(kImpu).has_value());
    EXPECT_EQ(inbound_in_engines() + outbound_in_engines(), 0u);
    EXPECT_EQ(sas->size(), 0u);
}

TEST_F(RegistrarTest, DeregistrationDeletesEverySaInboundFirst) {
    register_ue(6000);
    register_ue(6002, true);  // leaves a kept pair
    reg.deregistered(kImpi, kUe, now);
    step();
    EXPECT_EQ(reg.ues(), 0u) << "no longer registered";
    EXPECT_FALSE(reg.route_to(kImpu).has_value());
    EXPECT_EQ(inbound_in_engines(), 3u) << "the SAs outlive the 200 by a grace";
    reg.tick(now + 1s);
    step();
    EXPECT_EQ(inbound_in_engines(), 0u) << "nothing more may arrive over them";
    EXPECT_EQ(outbound_in_engines(), 3u) << "what arrived before may still be answered";
    reg.tick(now + 2s);
    step();
    EXPECT_EQ(inbound_in_engines() + outbound_in_engines(), 0u);
    EXPECT_EQ(sas->size(), 0u);
    EXPECT_EQ(reg.retiring(), 0u);
}

// A UE de-registers and, within the grace, registers again: the new registration's SAs
// are not the de-registration's to delete.
TEST_F(RegistrarTest, ARegistrationAfterADeregistrationKeepsItsSas) {
    register_ue(6000);
    reg.deregistered(kImpi, kUe, now);
    register_ue(6002);  // new client port; port_us 9901 as before (it may stay)
    const SaSet fresh = *reg.view(kImpi, kUe)->current;
    retire_all();
    ASSERT_TRUE(reg.view(kImpi, kUe).has_value());
    EXPECT_EQ(reg.view(kImpi, kUe)->current->ids, fresh.ids);
    EXPECT_TRUE(reg.route_to(kImpu).has_value());
    EXPECT_EQ(reg.ues(), 1u);
    EXPECT_EQ(inbound_in_engines(), 2u);
    EXPECT_EQ(outbound_in_engines(), 2u);
    for (ctl::SaId id : fresh.ids) EXPECT_TRUE(sas->find(id).has_value());
}

// The same after a failed registration: the retiring temporary set takes nothing else.
TEST_F(RegistrarTest, AnAbortedAttemptRetiresOnlyItsOwnSet) {
    ASSERT_TRUE(reg.on_sm1(sm1(6000), now).has_value());
    ASSERT_TRUE(reg.on_sm6(kImpi, kUe, kIk, now).has_value());
    step();
    reg.abort(kImpi, kUe, now);
    register_ue(6002);
    retire_all();
    EXPECT_TRUE(reg.route_to(kImpu).has_value());
    EXPECT_EQ(inbound_in_engines(), 2u);
    EXPECT_EQ(outbound_in_engines(), 2u);
}

TEST_F(RegistrarTest, APortOfARetiringSetIsInUseUntilItsSasAreGone) {
    register_ue(6000);
    reg.deregistered(kImpi, kUe, now);
    const auto r = reg.on_sm1(sm1(6000), now);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().reason.find("already in use"), std::string::npos) << r.error().reason;
    retire_all();
    EXPECT_TRUE(reg.on_sm1(sm1(6000), now).has_value());
}

TEST_F(RegistrarTest, ProtectedRequestsMustCarryAnImpuRegisteredOverTheSa) {
    register_ue(6000);
    EXPECT_FALSE(reg.check_protected({kUe, 6000, 5101, true}, "sip:someone.else@ims.example").has_value());
    EXPECT_FALSE(reg.check_protected({kUe, 6000, 5101, false}, kImpu).has_value());
    EXPECT_FALSE(reg.check_protected({kUe, 6001, 5101, true}, kImpu).has_value());
}

TEST_F(RegistrarTest, AuthenticationFailureAnswersOverTheNewSetThenDeletesIt) {
    ASSERT_TRUE(reg.on_sm1(sm1(6000), now).has_value());
    ASSERT_TRUE(reg.on_sm6(kImpi, kUe, kIk, now).has_value());
    const Route r = reg.failure_route(kImpi, kUe);
    EXPECT_TRUE(r.protected_);
    EXPECT_EQ(r.port_uc, 6000);
    reg.abort(kImpi, kUe, now);
    retire_all();
    EXPECT_EQ(inbound_in_engines() + outbound_in_engines(), 0u);
}

// TS 33.203 7.2: the 401 announces SAs the UE uses at once, so it waits until every SA
// of the temporary set is installed; take_settled() says when.
TEST_F(RegistrarTest, ATemporarySetSettlesOnceTheWorkersInstalledAllFourSas) {
    ASSERT_TRUE(reg.on_sm1(sm1(6000), now).has_value());
    ASSERT_TRUE(reg.on_sm6(kImpi, kUe, kIk, now).has_value());
    EXPECT_TRUE(reg.take_settled().empty()) << "nothing acknowledged yet";
    step();
    const auto settled = reg.take_settled();
    ASSERT_EQ(settled.size(), 1u);
    EXPECT_EQ(settled[0].impi, kImpi);
    EXPECT_EQ(settled[0].ue, kUe);
    EXPECT_FALSE(settled[0].refused.has_value());
    const SaSet temp = *reg.view(kImpi, kUe)->temporary;
    for (ctl::SaId id : temp.ids) EXPECT_EQ(sas->find(id)->state, ctl::SaState::active);
    step();
    EXPECT_TRUE(reg.take_settled().empty()) << "settled once";
}

TEST_F(RegistrarTest, ASetAWorkerRefusesEndsTheAttemptWithNothingLeft) {
    // An outbound SA the control thread does not know about holds the selectors of the
    // set's first outbound SA on its worker: the worker refuses that one (EEXIST).
    esp::SaRecord squatter;
    squatter.op = esp::SaOp::add;
    squatter.sa.dir = esp::Direction::outbound;
    squatter.sa.spi = 0x7777;
    squatter.sa.ue_addr = kUe;
    squatter.sa.pcscf_addr = kPcscf6;
    squatter.sa.ue_port = 6000;
    squatter.sa.pcscf_port = 5101;
    auto& owner = *engines[esp::owner_of(kUe, kWorkers)];
    ASSERT_EQ(owner.apply(squatter), 0);
    ASSERT_TRUE(reg.on_sm1(sm1(6000), now).has_value());
    ASSERT_TRUE(reg.on_sm6(kImpi, kUe, kIk, now).has_value());
    step();
    step();
    const auto settled = reg.take_settled();
    ASSERT_EQ(settled.size(), 1u);
    ASSERT_TRUE(settled[0].refused.has_value());
    EXPECT_EQ(settled[0].refused->status, 500);
    EXPECT_NE(settled[0].refused->reason.find("already installed"), std::string::npos) << settled[0].refused->reason;
    EXPECT_EQ(reg.ues(), 0u);
    EXPECT_EQ(sas->size(), 0u) << "the set's other SAs are deleted";
    EXPECT_EQ(inbound_in_engines(), 0u);
    EXPECT_EQ(outbound_in_engines(), 1u) << "only the squatter is left";
}

// Rule 3 counts the IMPI's SAs on every address it registers from.
TEST_F(RegistrarTest, AtMostSixSasPerDirectionForAnImpiWhateverItsAddresses) {
    const net::IpAddr addrs[] = {kUe, *net::IpAddr::parse("2001:db8:1::11"), *net::IpAddr::parse("192.0.2.12"),
                                 *net::IpAddr::parse("2001:db8:1::13")};
    auto attempt = [&](const net::IpAddr& ue, uint16_t port_c) {
        Sm1 m = sm1(port_c);
        m.from.ue = ue;
        auto one = reg.on_sm1(m, now);
        if (!one) return one.error();
        auto six = reg.on_sm6(kImpi, ue, kIk, now);
        EXPECT_TRUE(six.has_value());
        step();
        const SaSet t = *reg.view(kImpi, ue)->temporary;
        EXPECT_TRUE(reg.on_sm7(kImpi, {ue, t.port_uc(), t.port_ps, true}, m.security_client, six->first).has_value());
        EXPECT_TRUE(reg.on_sm12(kImpi, ue, 600s, now).has_value());
        step();
        return Refusal{200, ""};
    };
    for (int i = 0; i < 3; ++i) EXPECT_EQ(attempt(addrs[i], 6000).status, 200) << "address " << i;
    EXPECT_EQ(inbound_in_engines(), 6u);
    const Refusal fourth = attempt(addrs[3], 6000);
    EXPECT_EQ(fourth.status, 403);
    EXPECT_NE(fourth.reason.find("too many SAs"), std::string::npos) << fourth.reason;
    // A re-registration from a registered address would need two more as well.
    EXPECT_EQ(attempt(addrs[0], 6002).status, 403);
    EXPECT_EQ(inbound_in_engines(), 6u);
    EXPECT_EQ(outbound_in_engines(), 6u);
    // Another IMPI at the fourth address is not affected.
    Sm1 other = sm1(6000);
    other.impi = "other@ims.example";
    other.from.ue = addrs[3];
    EXPECT_TRUE(reg.on_sm1(other, now).has_value());
}

TEST_F(RegistrarTest, RetiringSasCountAgainstTheImpiUntilTheyAreGone) {
    RegistrarConfig c;
    c.max_sas_per_direction = 2;
    Registrar tight(*sas, c, kPcscf4, kPcscf6);
    auto sm1_tight = [&](uint16_t port_c) {
        Sm1 m = sm1(port_c);
        return tight.on_sm1(m, now);
    };
    ASSERT_TRUE(sm1_tight(6000).has_value());
    ASSERT_TRUE(tight.on_sm6(kImpi, kUe, kIk, now).has_value());
    step();
    tight.abort(kImpi, kUe, now);
    EXPECT_FALSE(sm1_tight(6002).has_value()) << "the retiring set still holds two per direction";
    for (int i = 1; i <= 2; ++i) {
        tight.tick(now + i * c.delete_grace);
        step();
    }
    EXPECT_TRUE(sm1_tight(6002).has_value());
}

TEST_F(RegistrarTest, ReservedSpisOfTheUeAreRefused) {
    for (auto [spi_c, spi_s] : {std::pair<uint32_t, uint32_t>{255, 0x2220000}, {0x1110000, 1}}) {
        Sm1 m = sm1(6000);
        m.security_client = *sip::parse_security_list("ipsec-3gpp;alg=hmac-sha-1-96;spi-c=" + std::to_string(spi_c) +
                                                      ";spi-s=" + std::to_string(spi_s) + ";port-c=6000;port-s=9901");
        const auto r = reg.on_sm1(m, now);
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().status, 403);
        EXPECT_NE(r.error().reason.find("reserved"), std::string::npos) << r.error().reason;
    }
    EXPECT_EQ(reg.ues(), 0u);
}

// RFC 3329 2.3.1: what a 494 lists: every allowed pair, by ealg first, then by alg; the
// AEAD pairs written as Annex H has them (alg=null;ealg=aes-gcm, alg=aes-gmac;ealg=null).
TEST_F(RegistrarTest, MechanismsFollowOurPriorityWithoutSpisOrPorts) {
    EXPECT_EQ(sip::format_mechanisms(reg.mechanisms()), test::kDefaultMechanisms);
}

}  // namespace
}  // namespace pcscf::secagree
