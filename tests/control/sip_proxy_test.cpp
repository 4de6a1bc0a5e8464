// The SIP proxy's sec-agree duties, message by message, against a scripted UE and core
// on loopback (ProxyRig): what reaches the core, what the UE gets back, and which SAs the
// workers hold at each point.
#include <gtest/gtest.h>

#include "control/proxy/tcp_connection.hpp"
#include "sip/sip.hpp"
#include "tests/control/proxy_rig.hpp"

namespace pcscf::test {
namespace {

const std::string kRealm = "ims.example";
const std::string kIk = "00112233445566778899aabbccddeeff";
const std::string kCk = "ffeeddccbbaa99887766554433221100";

std::string header(const std::string& msg, sip::HeaderKind kind) {
    auto m = sip::parse_message(msg, sip::Framing::datagram);
    if (!m) return "(unparsable)";
    const auto* h = m->first(kind);
    return h ? std::string(h->value) : std::string();
}
int status(const std::string& msg) {
    auto m = sip::parse_message(msg, sip::Framing::datagram);
    return m && !m->is_request() ? m->status_code() : 0;
}

// The core's answer to a request it received (RFC 3261 8.2.6), plus `extra` header lines.
std::string answer(const std::string& request, uint16_t code, std::string_view reason,
                   const std::vector<std::pair<std::string, std::string>>& extra = {}) {
    auto req = sip::parse_message(request, sip::Framing::datagram);
    if (!req) return "(no request to answer)";
    auto w = sip::MessageWriter::response_to(*req, code, reason, "core1");
    if (!w) return "(cannot answer: " + w.error().message + ")";
    for (const auto& [name, value] : extra) EXPECT_TRUE(w->add_header(name, value).has_value());
    return w->write();
}
std::string challenge(const std::string& request, bool keys = true) {
    std::string auth = "Digest realm=\"" + kRealm + "\", nonce=\"bm9uY2U=\", algorithm=AKAv1-MD5";
    if (keys) auth += ", ik=\"" + kIk + "\", ck=\"" + kCk + "\"";
    return answer(request, 401, "Unauthorized", {{"WWW-Authenticate", auth}});
}
std::string ok_with_contact(const std::string& request, std::vector<std::pair<std::string, std::string>> extra = {}) {
    auto req = sip::parse_message(request, sip::Framing::datagram);
    extra.emplace_back("Contact", std::string(req->first(sip::HeaderKind::contact)->value));
    return answer(request, 200, "OK", extra);
}

// A UE with its two protected ports (TS 33.203 7.1): requests leave port_uc for port_ps,
// everything from the P-CSCF arrives at port_us. SM1 leaves port_us for 5060.
class Ue {
public:
    Ue(ProxyRig& rig, std::string impi, uint16_t port_uc, uint16_t port_us)
        : rig_(rig),
          impi_(std::move(impi)),
          impu_("sip:" + impi_),
          port_uc_(port_uc),
          port_us_(port_us),
          uc_(proxy::Endpoint{rig.ue_addr, port_uc}),
          us_(proxy::Endpoint{rig.ue_addr, port_us}) {}

    const std::string& impu() const { return impu_; }
    // Which of the P-CSCF's access addresses this UE uses (the rig's first by default).
    void use(const net::IpAddr& pcscf) { pcscf_ = pcscf; }
    // Behind a NAT (TS 24.229 F.1): its Via names `inner`, its own address, and it offers
    // `mod` (TS 33.203 Annex M: UDP-enc-tun).
    void behind_nat(const net::IpAddr& inner, std::string mod) {
        via_ = inner;
        mod_ = std::move(mod);
    }
    proxy::Endpoint sip_port() const { return {pcscf_, ProxyRig::kSipPort}; }
    proxy::Endpoint port_ps() const { return {pcscf_, ProxyRig::kPortPs}; }
    std::string security_client(uint32_t spi_c = 0) const {
        spi_c = spi_c ? spi_c : 0x10000 + port_uc_;
        return "ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;prot=esp;mod=" + mod_ + ";spi-c=" + std::to_string(spi_c) +
               ";spi-s=" + std::to_string(0x20000 + port_us_) + ";port-c=" + std::to_string(port_uc_) +
               ";port-s=" + std::to_string(port_us_);
    }
    std::string request(std::string_view method, const std::vector<std::string>& headers,
                        const std::string& from = {}) {
        ++cseq_;
        std::string m = std::string(method) + " sip:" + (method == "REGISTER" ? kRealm : "bob@" + kRealm) +
                        " SIP/2.0\r\nVia: SIP/2.0/UDP " + via_.value_or(rig_.ue_addr).to_string() + ":" +
                        std::to_string(port_us_) + ";branch=z9hG4bKue" + std::to_string(cseq_) + "p" +
                        std::to_string(port_uc_) + "\r\nMax-Forwards: 70\r\nFrom: <" + (from.empty() ? impu_ : from) +
                        ">;tag=ue\r\nTo: <" + (method == "REGISTER" ? impu_ : "sip:bob@" + kRealm) +
                        ">\r\nCall-ID: " + std::string(method) + "-" + impi_ + "\r\nCSeq: " + std::to_string(cseq_) +
                        " " + std::string(method) + "\r\n";
        for (const auto& h : headers) m += h + "\r\n";
        return m + "Content-Length: 0\r\n\r\n";
    }
    std::string register_request(const std::string& client, const std::string& verify = {}, int expires = 600) {
        std::vector<std::string> h = {"Contact: <sip:ue@" + rig_.ue_addr.to_string() + ":" + std::to_string(port_us_) +
                                          ">;expires=" + std::to_string(expires),
                                      "Authorization: Digest username=\"" + impi_ + "\", realm=\"" + kRealm +
                                          "\", uri=\"sip:" + kRealm + "\", nonce=\"\", response=\"\"",
                                      "Require: sec-agree", "Proxy-Require: sec-agree", "Supported: path"};
        if (!client.empty()) h.push_back("Security-Client: " + client);
        if (!verify.empty()) h.push_back("Security-Verify: " + verify);
        return request("REGISTER", h);
    }
    // SM1 unprotected to 5060.
    void sm1(const std::string& client) { us_.send(register_request(client), sip_port()); }
    // Anything protected: from port_uc to port_ps.
    void send_protected(const std::string& bytes) { uc_.send(bytes, port_ps()); }

    // SM1 .. SM12, `ok_headers` in the core's 200; returns the Security-Server of the 401.
    std::string register_fully(const std::vector<std::pair<std::string, std::string>>& ok_headers = {}) {
        const std::string server = until_sm12(ok_headers, true);
        EXPECT_EQ(status(rig_.expect(us_, "the 200 (SM12)")), 200);
        return server;
    }
    // SM1 .. SM7 and the core's 200 to it (SM11), not yet taken by the proxy. Behind a NAT,
    // with `nat_port`, the datapath saw SM7 come from NAT port 40000.
    std::string until_sm12(const std::vector<std::pair<std::string, std::string>>& ok_headers, bool nat_port) {
        sm1(security_client());
        rig_.core->send(challenge(rig_.expect(*rig_.core, "SM1 at the core")), rig_.core_side());
        const std::string four01 = rig_.expect(us_, "the 401");
        EXPECT_EQ(status(four01), 401) << four01;
        const std::string server = header(four01, sip::HeaderKind::security_server);
        send_protected(register_request(security_client(), server));
        if (mod_ == "UDP-enc-tun" && nat_port) nat_port_seen(40000);
        rig_.core->send(ok_with_contact(rig_.expect(*rig_.core, "SM7 at the core"), ok_headers), rig_.core_side());
        return server;
    }
    void deregister() {
        send_protected(register_request({}, {}, 0));
        rig_.core->send(answer(rig_.expect(*rig_.core, "de-REGISTER at the core"), 200, "OK"), rig_.core_side());
        EXPECT_EQ(status(rig_.expect(us_, "the de-registration's 200")), 200);
    }

    // What the datapath raises as a message from behind a NAT verifies on the inbound SA
    // of the set it used (the temporary one while registering) from NAT port `port`.
    void nat_port_seen(uint16_t port) {
        const auto v = rig_.reg.view(impi_, rig_.ue_addr);
        ASSERT_TRUE(v && (v->temporary || v->current));
        rig_.nat_port_seen((v->temporary ? *v->temporary : *v->current).ids[secagree::SaSet::in_ps], port);
    }

    Peer& us() { return us_; }
    Peer& uc() { return uc_; }

private:
    ProxyRig& rig_;
    std::string impi_, impu_;
    uint16_t port_uc_, port_us_;
    uint32_t cseq_ = 0;
    Peer uc_, us_;
    net::IpAddr pcscf_ = rig_.pcscf;
    std::optional<net::IpAddr> via_;
    std::string mod_ = "trans";
};

class SipProxyTest : public ::testing::Test, public ProxyRig {
protected:
    uint64_t dropped(proxy::ProxyDrop reason) const { return proxy->counters()[reason]; }
    // The core sends `impu` a MESSAGE of transaction z9hG4bK<id>, Call-ID <id>.
    void core_message(const std::string& impu, const std::string& id) {
        core->send("MESSAGE " + impu + " SIP/2.0\r\nVia: SIP/2.0/UDP " + core_addr.to_string() +
                       ":5060;branch=z9hG4bK" + id + "\r\nMax-Forwards: 70\r\nFrom: <sip:carol@" + kRealm +
                       ">;tag=c\r\nTo: <" + impu + ">\r\nCall-ID: " + id +
                       "\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n",
                   core_side());
    }
    // Sends a MESSAGE over the UE's current set and says whether the core got it.
    bool message_reaches_core(Ue& ue, const std::vector<std::string>& headers = {}, std::string* relayed = nullptr) {
        ue.send_protected(ue.request("MESSAGE", headers));
        for (int i = 0; i < 50; ++i) {
            round();
            if (auto m = core->take()) {
                if (relayed) *relayed = *m;
                return true;
            }
        }
        return false;
    }
};

// A UE de-registers and registers again before the de-registration's SAs are gone: the
// new registration's SAs stay, whatever the old ones' deletion does.
TEST_F(SipProxyTest, ARegistrationRightAfterADeregistrationSurvivesItsDeletion) {
    Ue first(*this, "alice@" + kRealm, 6000, 6001);
    first.register_fully();
    first.deregister();
    EXPECT_EQ(reg.ues(), 0u);
    Ue again(*this, "alice@" + kRealm, 6002, 6003);
    again.register_fully();
    advance(1100ms);
    advance(1100ms);
    EXPECT_EQ(reg.ues(), 1u);
    EXPECT_EQ(inbound_in_engines(), 2u);
    EXPECT_EQ(outbound_in_engines(), 2u);
    EXPECT_TRUE(message_reaches_core(again));
}

// Between the de-registration's 200 and the deletion, a REGISTER over the old set is
// refused, and the refusal still has the outbound SA it needs; the inbound SAs go first.
TEST_F(SipProxyTest, ARequestAfterTheDeregistrationIsRefusedOverItsStillInstalledSa) {
    Ue ue(*this, "alice@" + kRealm, 6000, 6001);
    ue.register_fully();
    ue.deregister();
    ue.send_protected(
        ue.register_request("ipsec-3gpp;alg=hmac-sha-1-96;spi-c=70000;spi-s=70001;port-c=6002;port-s=6001"));
    const std::string refusal = expect(ue.uc(), "the refusal, port_ps -> port_uc");
    EXPECT_EQ(status(refusal), 403) << refusal;
    EXPECT_TRUE(silent(*core));
    EXPECT_EQ(outbound_in_engines(), 2u) << "the refusal leaves under the out_uc SA";
    advance(1000ms);
    EXPECT_EQ(inbound_in_engines(), 0u);
    EXPECT_EQ(outbound_in_engines(), 2u);
    advance(1000ms);
    EXPECT_EQ(outbound_in_engines(), 0u);
    EXPECT_EQ(sas->size(), 0u);
}

// A REGISTER and a de-REGISTER back to back: the second waits for the first, so the core
// and the P-CSCF see them in one order.
TEST_F(SipProxyTest, OneRegisterOfAUeAtATime) {
    Ue ue(*this, "alice@" + kRealm, 6000, 6001);
    ue.register_fully();
    ue.send_protected(
        ue.register_request("ipsec-3gpp;alg=hmac-sha-1-96;spi-c=70000;spi-s=70001;port-c=6002;port-s=6001"));
    const std::string relayed = expect(*core, "the re-REGISTER at the core");
    ue.send_protected(ue.register_request({}, {}, 0));
    const std::string busy = expect(ue.uc(), "the answer to the de-REGISTER, the way it came");
    EXPECT_EQ(status(busy), 500) << busy;
    EXPECT_EQ(header(busy, sip::HeaderKind::retry_after), "1");
    EXPECT_TRUE(silent(*core)) << "the de-REGISTER did not reach the core";
    core->send(answer(relayed, 200, "OK", {{"Contact", "<sip:ue@x>;expires=600"}}), core_side());
    EXPECT_EQ(status(expect(ue.us(), "the 200")), 200);
    ue.deregister();  // now it goes through
}

TEST_F(SipProxyTest, IdentitiesTheUeClaimsMustBeRegisteredOverItsSa) {
    Ue alice(*this, "alice@" + kRealm, 6000, 6001);
    Ue bob(*this, "bob@" + kRealm, 6002, 6003);
    alice.register_fully();
    bob.register_fully();
    EXPECT_FALSE(message_reaches_core(alice, {"P-Preferred-Identity: <" + bob.impu() + ">"}));
    EXPECT_EQ(dropped(proxy::ProxyDrop::wrong_sa), 1u);
    alice.send_protected(alice.request("MESSAGE", {}, bob.impu()));
    EXPECT_TRUE(silent(*core)) << "a From of another UE";
    EXPECT_EQ(dropped(proxy::ProxyDrop::wrong_sa), 2u);
    std::string relayed;
    ASSERT_TRUE(message_reaches_core(alice, {"P-Preferred-Identity: <" + alice.impu() + ">"}, &relayed));
    // TS 24.229 5.2.6.3.1: the preferred identity, registered, is asserted in its place.
    EXPECT_EQ(header(relayed, sip::HeaderKind::p_preferred_identity), "") << relayed;
    EXPECT_EQ(header(relayed, sip::HeaderKind::p_asserted_identity), "<" + alice.impu() + ">") << relayed;
}

// RFC 3325: the P-CSCF asserts identities; a UE's own assertion is never passed on.
TEST_F(SipProxyTest, AUesOwnAssertedIdentityIsReplacedByOurs) {
    Ue alice(*this, "alice@" + kRealm, 6000, 6001);
    alice.register_fully();
    std::string relayed;
    ASSERT_TRUE(message_reaches_core(alice, {"P-Asserted-Identity: <sip:boss@" + kRealm + ">"}, &relayed));
    EXPECT_EQ(relayed.find("boss"), std::string::npos) << relayed;
    EXPECT_EQ(header(relayed, sip::HeaderKind::p_asserted_identity), "<" + alice.impu() + ">")
        << "From's identity, registered over the SA, is asserted (TS 24.229 5.2.6.3.1)";
    // In a response to the core's request, too.
    const std::string to_alice = "MESSAGE " + alice.impu() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + core_addr.to_string() +
                                 ":5060;branch=z9hG4bKcore1\r\nMax-Forwards: 70\r\n"
                                 "From: <sip:as@" +
                                 kRealm + ">;tag=c\r\nTo: <" + alice.impu() +
                                 ">\r\nCall-ID: core-1\r\nCSeq: 1 MESSAGE\r\n"
                                 "P-Asserted-Identity: <sip:as@" +
                                 kRealm + ">\r\nContent-Length: 0\r\n\r\n";
    core->send(to_alice, core_side());
    const std::string at_ue = expect(alice.us(), "the core's MESSAGE");
    EXPECT_NE(at_ue.find("P-Asserted-Identity: <sip:as@"), std::string::npos) << "the core's stays";
    alice.send_protected(answer(at_ue, 200, "OK", {{"P-Asserted-Identity", "<sip:boss@" + kRealm + ">"}}));
    const std::string at_core = expect(*core, "the UE's 200");
    EXPECT_EQ(status(at_core), 200);
    EXPECT_EQ(at_core.find("P-Asserted-Identity"), std::string::npos) << at_core;
}

TEST_F(SipProxyTest, ACore401WithoutKeysIsAnsweredWithAnErrorAndNoSa) {
    Ue ue(*this, "alice@" + kRealm, 6000, 6001);
    ue.sm1(ue.security_client());
    core->send(challenge(expect(*core, "SM1"), false), core_side());
    const std::string got = expect(ue.us(), "the answer to SM1");
    EXPECT_EQ(status(got), 500) << got;
    EXPECT_NE(header(got, sip::HeaderKind::warning).find("no integrity key (ik, ck)"), std::string::npos) << got;
    EXPECT_EQ(header(got, sip::HeaderKind::www_authenticate), "") << "no bare challenge";
    EXPECT_EQ(dropped(proxy::ProxyDrop::core_401_without_keys), 1u);
    EXPECT_EQ(proxy->counters().refused, 1u);
    EXPECT_EQ(sas->size(), 0u);
    EXPECT_EQ(reg.ues(), 0u);
}

// TS 33.203 7.2: the UE uses the SAs as soon as it has the 401, so the 401 waits until the
// worker acknowledged them.
TEST_F(SipProxyTest, The401WaitsUntilTheWorkerInstalledItsSas) {
    Ue ue(*this, "alice@" + kRealm, 6000, 6001);
    const std::string sm1 = ue.register_request(ue.security_client());
    ue.us().send(sm1, sip_port());
    core->send(challenge(expect(*core, "SM1")), core_side());
    proxy_alone();  // the proxy runs, the workers do not
    EXPECT_FALSE(ue.us().take().has_value()) << "the 401 overtook its SAs";
    EXPECT_EQ(sas->size(), 4u);
    step();  // the worker installs them
    proxy->poll(0, now);
    const std::string four01 = expect(ue.us(), "the 401");
    EXPECT_EQ(status(four01), 401);
    for (const auto& sa : sas->list(0, 8)) EXPECT_EQ(sa.state, ctl::SaState::active);
    // A retransmitted SM1 (same branch) gets the same 401 again.
    ue.us().send(sm1, sip_port());
    EXPECT_EQ(expect(ue.us(), "the 401 again"), four01);
}

TEST_F(SipProxyTest, A401WhoseSasAreNeverInstalledBecomesA500) {
    Ue ue(*this, "alice@" + kRealm, 6000, 6001);
    ue.sm1(ue.security_client());
    core->send(challenge(expect(*core, "SM1")), core_side());
    for (int i = 0; i < 5; ++i) proxy->poll(1, now);
    now += proxy::ProxyConfig{}.sa_install_timeout;
    proxy->tick(now);
    const std::string got = ue.us().take().value_or("");
    EXPECT_EQ(status(got), 500) << got;
    EXPECT_NE(header(got, sip::HeaderKind::warning).find("did not install"), std::string::npos) << got;
    EXPECT_EQ(dropped(proxy::ProxyDrop::sa_install_timeout), 1u);
    advance(1000ms);  // the workers come back: the set retires
    advance(1000ms);
    EXPECT_EQ(sas->size(), 0u);
    EXPECT_EQ(inbound_in_engines() + outbound_in_engines(), 0u);
}

// A UE at the second access address is served from it: the 401 and the 200 leave from
// it, its SAs are at it, the core's requests reach it from it with a Via naming it, and
// a refusal's Warning names it. A UE at the first address meanwhile keeps the first.
TEST_F(SipProxyTest, EachUeIsServedFromTheAccessAddressItUses) {
    Ue bob(*this, "bob@" + kRealm, 6010, 6011);
    bob.use(pcscf2);
    bob.sm1(bob.security_client());
    core->send(challenge(expect(*core, "SM1 at the core")), core_side());
    const std::string four01 = expect(bob.us(), "the 401");
    EXPECT_EQ(status(four01), 401) << four01;
    EXPECT_EQ(bob.us().last_from, (proxy::Endpoint{pcscf2, kSipPort})) << "the 401 left another address";
    bob.send_protected(bob.register_request(bob.security_client(), header(four01, sip::HeaderKind::security_server)));
    core->send(ok_with_contact(expect(*core, "SM7 at the core")), core_side());
    EXPECT_EQ(status(expect(bob.us(), "the 200")), 200);
    EXPECT_EQ(bob.us().last_from.addr, pcscf2) << "the 200 left another address";
    const auto at = [&](const net::IpAddr& a) {
        return sas->select([&](const ctl::SaInfo& sa) { return sa.cfg.pcscf_addr == a; }).size();
    };
    EXPECT_EQ(at(pcscf2), 4u);
    EXPECT_EQ(at(pcscf), 0u);

    Ue alice(*this, "alice@" + kRealm, 6000, 6001);
    alice.register_fully();
    EXPECT_EQ(alice.us().last_from.addr, pcscf);
    EXPECT_EQ(at(pcscf), 4u);

    core_message(bob.impu(), "core-1");
    const std::string message = expect(bob.us(), "the core's MESSAGE");
    EXPECT_EQ(bob.us().last_from.addr, pcscf2) << "the core's request left another address";
    EXPECT_NE(header(message, sip::HeaderKind::via).find(pcscf2.to_string() + ":" + std::to_string(kPortPs)),
              std::string::npos)
        << message;

    bob.sm1("ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-gcm;spi-c=4096;spi-s=4097;port-c=6010;port-s=6011");
    const std::string refused = expect(bob.us(), "the 494");
    EXPECT_EQ(status(refused), 494) << refused;
    EXPECT_EQ(bob.us().last_from, (proxy::Endpoint{pcscf2, kSipPort}));
    EXPECT_NE(header(refused, sip::HeaderKind::warning).find("399 " + pcscf2.to_string()), std::string::npos)
        << refused;
}

// The core does not answer a registration (RFC 3261 16.7 step 6): the UE gets a 408 after
// core_timeout, again for its retransmission (the core does not see that), and nothing is
// left: no UE, no SA, and the UE can register at once.
TEST_F(SipProxyTest, ARegistrationTheCoreDoesNotAnswerGetsA408AndLeavesNothing) {
    Ue ue(*this, "alice@" + kRealm, 6000, 6001);
    const std::string sm1 = ue.register_request(ue.security_client());
    ue.us().send(sm1, ue.sip_port());
    expect(*core, "SM1 at the core");
    advance(proxy::ProxyConfig{}.core_timeout - 1ms);
    EXPECT_TRUE(silent(ue.us())) << "a 408 before core_timeout";
    advance(1ms);
    const std::string got = expect(ue.us(), "the 408");
    EXPECT_EQ(status(got), 408) << got;
    EXPECT_NE(header(got, sip::HeaderKind::warning).find("the IMS core did not answer"), std::string::npos) << got;
    EXPECT_EQ(proxy->counters().timeout_core, 1u);
    ue.us().send(sm1, ue.sip_port());
    EXPECT_EQ(expect(ue.us(), "the 408 again"), got);
    EXPECT_TRUE(silent(*core)) << "the retransmission reached the core";
    EXPECT_EQ(reg.ues(), 0u);
    EXPECT_EQ(sas->size(), 0u);
    ue.register_fully();
    EXPECT_EQ(reg.ues(), 1u);
}

// A request of the core's the UE does not answer gets the core a 408 (the UE stays
// registered); an INVITE the core answered with a 1xx waits for its callee, no 408.
TEST_F(SipProxyTest, UnansweredRequestsBothWaysGet408s) {
    Ue ue(*this, "alice@" + kRealm, 6000, 6001);
    ue.register_fully();
    EXPECT_EQ(sas->size(), 4u);
    core_message(ue.impu(), "core-9");
    expect(ue.us(), "the core's MESSAGE");
    advance(proxy::ProxyConfig{}.core_timeout);
    const std::string got = expect(*core, "the 408 for the core");
    EXPECT_EQ(status(got), 408) << got;
    EXPECT_EQ(proxy->counters().timeout_ue, 1u);
    EXPECT_EQ(reg.ues(), 1u) << "a UE that did not answer one request stays registered";

    // A protected INVITE the core answers 180: it waits for its callee, no 408, and its
    // 200 still goes back after ringing longer than a transaction's 32 s (Timer C).
    ue.send_protected(ue.request("INVITE", {"Contact: <sip:ue@" + ue_addr.to_string() + ":6001>"}));
    const std::string invite = expect(*core, "the INVITE");
    core->send(answer(invite, 180, "Ringing"), core_side());
    EXPECT_EQ(status(expect(ue.us(), "the 180")), 180);
    advance(proxy::ProxyConfig{}.core_timeout);
    EXPECT_TRUE(silent(ue.us())) << "a ringing INVITE timed out";
    EXPECT_EQ(proxy->counters().timeout_core, 0u);
    advance(30s);
    advance(30s);
    core->send(answer(invite, 200, "OK"), core_side());
    EXPECT_EQ(status(expect(ue.us(), "the 200 after a minute of ringing")), 200);
    EXPECT_EQ(dropped(proxy::ProxyDrop::no_transaction), 0u);
}

// RFC 3608: the Service-Route of the registration's 200 routes the UE's initial requests,
// whatever Route the UE put after ours; an in-dialog request keeps its route set.
TEST_F(SipProxyTest, TheUesRequestsFollowTheServiceRouteOfItsRegistration) {
    Ue alice(*this, "alice@" + kRealm, 6000, 6001);
    alice.register_fully({{"Service-Route", "<sip:orig@scscf." + kRealm + ";lr>"}});
    EXPECT_EQ(reg.view("alice@" + kRealm, ue_addr)->service_route,
              std::vector<std::string>{"<sip:orig@scscf." + kRealm + ";lr>"});
    std::string relayed;
    const std::string ours = "<sip:" + pcscf.to_string() + ":" + std::to_string(kPortPs) + ";lr>";
    ASSERT_TRUE(message_reaches_core(alice, {"Route: " + ours + ", <sip:elsewhere.example;lr>"}, &relayed));
    EXPECT_EQ(header(relayed, sip::HeaderKind::route), "<sip:orig@scscf." + kRealm + ";lr>") << relayed;
    std::string bye = alice.request("BYE", {"Route: " + ours + ", <sip:callee-proxy.example;lr>"});
    const std::string to = "To: <sip:bob@" + kRealm + ">";
    bye.replace(bye.find(to), to.size(), to + ";tag=b");  // in a dialog
    alice.send_protected(bye);
    relayed = expect(*core, "the BYE");
    EXPECT_EQ(header(relayed, sip::HeaderKind::route), "<sip:callee-proxy.example;lr>") << relayed;
    EXPECT_EQ(header(relayed, sip::HeaderKind::p_asserted_identity), "") << "in a dialog nothing is asserted";
}

// The core unreachable (its port refuses: ICMP, RFC 3261 18.4): what was just sent to it
// is answered 503 with Retry-After at once, and so is what comes for it meanwhile, with
// nothing left behind; once Retry-After has passed the next request goes to it again.
TEST_F(SipProxyTest, AnUnreachableCoreGetsTheUeA503AtOnce) {
    core.reset();  // nothing listens at the core's address any more
    Ue ue(*this, "alice@" + kRealm, 6000, 6001);
    ue.sm1(ue.security_client());
    std::string got = expect(ue.us(), "the 503");
    EXPECT_EQ(status(got), 503) << got;
    EXPECT_EQ(header(got, sip::HeaderKind::retry_after), "10") << got;
    EXPECT_NE(header(got, sip::HeaderKind::warning).find("unreachable"), std::string::npos) << got;
    EXPECT_EQ(proxy->counters().core_unreachable, 1u);
    EXPECT_EQ(reg.ues(), 0u);
    EXPECT_EQ(sas->size(), 0u);
    const uint64_t sent = proxy->counters().to_core;

    advance(3s);
    ue.sm1(ue.security_client());
    got = expect(ue.us(), "the second 503");
    EXPECT_EQ(status(got), 503) << got;
    EXPECT_EQ(header(got, sip::HeaderKind::retry_after), "7") << "the time left";
    EXPECT_EQ(proxy->counters().to_core, sent) << "nothing went to the core meanwhile";
    EXPECT_EQ(reg.ues(), 0u);

    core.emplace(proxy::Endpoint{core_addr, 5060});  // back
    advance(7s);
    ue.register_fully();
    EXPECT_EQ(reg.ues(), 1u);
}

// --reg-event (RFC 3680, TS 24.229 5.2.3): after the registration the P-CSCF subscribes to
// the UE's reg event; a NOTIFY saying the registration is active changes nothing, one
// saying the core ended it takes the UE's SAs (after the grace); a NOTIFY for no
// subscription of ours gets a 481.
TEST(SipProxyRegEvent, ARegistrationTheCoreEndsTakesTheSas) {
    proxy::ProxyConfig pc;
    pc.reg_event = true;
    ProxyRig rig({}, pc);
    Ue ue(rig, "alice@" + kRealm, 6000, 6001);
    ue.register_fully();
    const std::string subscribe = rig.expect(*rig.core, "the reg event SUBSCRIBE");
    auto sub = sip::parse_message(subscribe, sip::Framing::datagram);
    ASSERT_TRUE(sub.has_value());
    EXPECT_EQ(sub->method(), "SUBSCRIBE");
    EXPECT_EQ(sub->request_uri(), ue.impu());
    EXPECT_EQ(header(subscribe, sip::HeaderKind::event), "reg");
    EXPECT_EQ(header(subscribe, sip::HeaderKind::expires), "600000");
    const std::string me = "sip:pcscf@" + rig.core_side().to_string();
    EXPECT_EQ(header(subscribe, sip::HeaderKind::p_asserted_identity), "<" + me + ">");
    rig.core->send(answer(subscribe, 200, "OK", {{"Contact", "<sip:scscf@" + rig.core_addr.to_string() + ">"}}),
                   rig.core_side());
    rig.round();
    EXPECT_EQ(rig.proxy->counters().reg_subscribed, 1u);

    const std::string call_id = header(subscribe, sip::HeaderKind::call_id);
    const std::string from_tag(sip::from(*sub)->tag());
    const auto notify = [&](int cseq, const std::string& state, const std::string& sub_state, const std::string& cid) {
        const std::string body =
            "<?xml version=\"1.0\"?>\n<reginfo xmlns=\"urn:ietf:params:xml:ns:reginfo\" "
            "version=\"" +
            std::to_string(cseq) + "\" state=\"full\">\n  <registration aor=\"" + ue.impu() + "\" id=\"a7\" state=\"" +
            state + "\">\n    <contact id=\"76\" state=\"" + state + "\" event=\"" +
            (state == "active" ? "registered" : "deactivated") + "\">\n      <uri>sip:ue@" + rig.ue_addr.to_string() +
            ":6001</uri>\n    </contact>\n  </registration>\n</reginfo>\n";
        rig.core->send(
            "NOTIFY " + me + " SIP/2.0\r\nVia: SIP/2.0/UDP " + rig.core_addr.to_string() + ":5060;branch=z9hG4bKn" +
                std::to_string(cseq) + "\r\nMax-Forwards: 70\r\nFrom: <" + ue.impu() + ">;tag=s1\r\nTo: <" + me +
                ">;tag=" + from_tag + "\r\nCall-ID: " + cid + "\r\nCSeq: " + std::to_string(cseq) +
                " NOTIFY\r\nEvent: reg\r\nSubscription-State: " + sub_state +
                "\r\nContent-Type: application/reginfo+xml\r\nContent-Length: " + std::to_string(body.size()) +
                "\r\n\r\n" + body,
            rig.core_side());
        return rig.expect(*rig.core, "the answer to the NOTIFY");
    };
    EXPECT_EQ(status(notify(1, "active", "active;expires=600000", call_id)), 200);
    EXPECT_EQ(rig.reg.ues(), 1u) << "an active registration stays";
    EXPECT_EQ(rig.sas->size(), 4u);

    EXPECT_EQ(status(notify(2, "terminated", "terminated;reason=deactivated", call_id)), 200);
    EXPECT_EQ(rig.proxy->counters().reg_ended_by_core, 1u);
    EXPECT_EQ(rig.reg.ues(), 0u) << "the core ended the registration";
    rig.advance(1100ms);
    rig.advance(1100ms);
    EXPECT_EQ(rig.sas->size(), 0u) << "its SAs went after the grace";
    EXPECT_EQ(status(notify(3, "terminated", "terminated", call_id)), 481) << "the subscription is over";
}

// RFC 3329 2.3.1: a 494 lists what we accept, every allowed pair best first.
TEST_F(SipProxyTest, A494ListsOurMechanisms) {
    Ue ue(*this, "alice@" + kRealm, 6000, 6001);
    ue.sm1("ipsec-3gpp;alg=hmac-sha-256-128;ealg=aes-cbc;spi-c=4096;spi-s=4097;port-c=6000;port-s=6001");
    const std::string got = expect(ue.us(), "the 494");
    EXPECT_EQ(status(got), 494) << got;
    EXPECT_EQ(header(got, sip::HeaderKind::security_server), test::kDefaultMechanisms);
    EXPECT_NE(header(got, sip::HeaderKind::warning).find("no acceptable ipsec-3gpp offer"), std::string::npos) << got;
    EXPECT_TRUE(silent(*core));
}

// A UE behind a NAT (TS 33.203 Annex M, TS 24.229 Annex F): its Via names its own address,
// not the source. It registers with UDP-enc-tun SAs at the NAT's address, its requests pass
// rule 2 with that Via, and its SAs go at de-registration.
TEST_F(SipProxyTest, AUeBehindANatRegistersWithUdpEncTunSas) {
    Ue ue(*this, "alice@" + kRealm, 6000, 6001);
    const net::IpAddr inner = *net::IpAddr::parse("192.168.1.20");
    ue.behind_nat(inner, "UDP-enc-tun");
    const std::string server = ue.register_fully();
    EXPECT_NE(server.find(";mod=UDP-enc-tun;"), std::string::npos) << server;
    EXPECT_EQ(server.find("mod=trans"), std::string::npos) << server;
    // Four adds, the NAT port not known; SM7 taught it, and the other three took it.
    ASSERT_EQ(records.size(), 7u);
    for (size_t i = 0; i < records.size(); ++i) {
        const esp::SaRecord& r = records[i];
        EXPECT_EQ(r.op, i < 4 ? esp::SaOp::add : esp::SaOp::update) << i;
        EXPECT_EQ(r.sa.mode, esp::Mode::udp_enc_tun);
        EXPECT_EQ(r.sa.ue_addr, ue_addr) << "the source: the NAT's address";
        EXPECT_EQ(r.sa.ue_inner, inner);
        EXPECT_EQ(r.sa.encap_port, i < 4 ? 0 : 40000) << i;
    }
    ue.send_protected(ue.request("MESSAGE", {}));
    const std::string relayed = expect(*core, "the MESSAGE at the core");
    EXPECT_TRUE(relayed.starts_with("MESSAGE ")) << relayed;
    ue.deregister();
    advance(1100ms);
    advance(1100ms);
    EXPECT_EQ(sas->size(), 0u);
    EXPECT_EQ(inbound_in_engines() + outbound_in_engines(), 0u);
}

// TS 33.203 Annex M: what goes to a UE behind a NAT goes to the NAT port SM7 taught the
// datapath. The core's 200 may come back before the outbound SAs have it (over a real
// network, before the control thread has heard of it): it waits for the workers to take
// the port, then goes.
TEST_F(SipProxyTest, The200ToSm7FromBehindANatWaitsForTheNatPortInTheOutboundSas) {
    Ue ue(*this, "alice@" + kRealm, 6000, 6001);
    ue.behind_nat(*net::IpAddr::parse("192.168.1.20"), "UDP-enc-tun");
    ue.until_sm12({}, false);
    EXPECT_TRUE(silent(ue.us())) << "the 200 went before any NAT port was known";
    EXPECT_EQ(proxy->counters().nat_port_waits, 1u);

    ue.nat_port_seen(40000);  // the registrar sends the outbound SAs an update
    proxy_alone();            // the proxy runs, the workers do not
    EXPECT_FALSE(ue.us().take().has_value()) << "the 200 overtook the outbound SAs' update";
    EXPECT_EQ(status(expect(ue.us(), "the 200 once the workers have the port")), 200);
    size_t updated = 0;
    for (const auto& r : records)
        if (r.op == esp::SaOp::update && r.sa.dir == esp::Direction::outbound && r.sa.encap_port == 40000) ++updated;
    EXPECT_EQ(updated, 2u);
    EXPECT_EQ(proxy->counters().nat_port_waits, 1u);
    EXPECT_EQ(proxy->counters().nat_port_waits_expired, 0u);
}

// A NAT rebinding shows as a request from a new NAT port: what the P-CSCF sends next waits
// until the outbound SAs send to that port, in the order it was sent; a UE whose port
// stays put is not held up at all.
TEST_F(SipProxyTest, AfterANatRebindingMessagesWaitForTheNewPortInOrder) {
    Ue ue(*this, "alice@" + kRealm, 6000, 6001);
    ue.behind_nat(*net::IpAddr::parse("192.168.1.20"), "UDP-enc-tun");
    ue.register_fully();
    const uint64_t waited = proxy->counters().nat_port_waits;
    core_message(ue.impu(), "nat-1");
    EXPECT_NE(expect(ue.us(), "a MESSAGE at the learnt port").find("Call-ID: nat-1"), std::string::npos);
    EXPECT_EQ(proxy->counters().nat_port_waits, waited) << "held with the port in place";

    ue.nat_port_seen(41234);  // the rebinding
    core_message(ue.impu(), "nat-2");
    core_message(ue.impu(), "nat-3");
    proxy_alone();
    EXPECT_FALSE(ue.us().take().has_value()) << "a MESSAGE went to the old NAT port";
    EXPECT_NE(expect(ue.us(), "the first after the rebinding").find("Call-ID: nat-2"), std::string::npos);
    EXPECT_NE(expect(ue.us(), "the second").find("Call-ID: nat-3"), std::string::npos);
    EXPECT_EQ(proxy->counters().nat_port_waits, waited + 2);
    const auto v = reg.view(ue.impu().substr(4), ue_addr);
    for (ctl::SaId id : v->current->ids) EXPECT_EQ(sas->find(id)->cfg.encap_port, 41234) << id;
}

// The same over TCP: a UE behind a NAT that sends over a protected connection (from
// port_uc to port_ps) gets the core's answer on that connection once the outbound SAs have
// the port it was last seen from.
TEST_F(SipProxyTest, OverTcpTheAnswerAfterANatRebindingWaitsForTheNewPort) {
    Ue ue(*this, "alice@" + kRealm, 6000, 6001);
    ue.behind_nat(*net::IpAddr::parse("192.168.1.20"), "UDP-enc-tun");
    ue.register_fully();
    auto conn = proxy::TcpConnection::connect({ue_addr, 6000}, port_ps());
    ASSERT_TRUE(conn.has_value()) << conn.error().message;
    proxy::TcpConnection& c = **conn;
    auto take = [&](int rounds, bool workers) -> std::optional<std::string> {
        for (int i = 0; i < rounds; ++i) {
            if (workers) round();
            else proxy_alone(1);
            (void)c.flush();
            (void)c.read();
            if (auto f = c.next(); f && f->kind == sip::FrameKind::message) return std::string(f->bytes);
            std::this_thread::sleep_for(1ms);
        }
        return std::nullopt;
    };
    ASSERT_TRUE(c.send(ue.request("MESSAGE", {})).has_value());
    std::optional<std::string> relayed;
    for (int i = 0; i < 2000 && !relayed; ++i) {  // the connection is sent on as it opens
        (void)c.flush();
        round();
        relayed = core->take();
        if (!relayed) std::this_thread::sleep_for(1ms);
    }
    ASSERT_TRUE(relayed.has_value()) << "the MESSAGE over TCP did not reach the core";
    ue.nat_port_seen(41234);  // it came from a new NAT port
    core->send(answer(*relayed, 200, "OK"), core_side());
    EXPECT_FALSE(take(20, false).has_value()) << "the 200 went before the outbound SAs had the new port";
    const auto got = take(2000, true);
    ASSERT_TRUE(got.has_value()) << "no 200 over TCP";
    EXPECT_EQ(status(*got), 200);
    EXPECT_GE(proxy->counters().nat_port_waits, 1u);
}

// No NAT port ever comes (the event lost, a worker stuck): the 200 waits no longer than
// sa_install_timeout, then goes as it is (the datapath counts its drop), counted here.
TEST_F(SipProxyTest, AMessageWaitsForANatPortNoLongerThanTheSaInstallTimeout) {
    Ue ue(*this, "alice@" + kRealm, 6000, 6001);
    ue.behind_nat(*net::IpAddr::parse("192.168.1.20"), "UDP-enc-tun");
    ue.until_sm12({}, false);
    EXPECT_TRUE(silent(ue.us()));
    advance(proxy::ProxyConfig{}.sa_install_timeout);
    EXPECT_EQ(status(expect(ue.us(), "the 200 after the wait")), 200);
    EXPECT_EQ(proxy->counters().nat_port_waits_expired, 1u);
}

// Behind a NAT without a UDP-enc-tun offer: 494, whose Security-Server lists our pairs with
// mod=UDP-enc-tun and whose Warning says why, to the source port; nothing goes to the core,
// no SA is made.
TEST_F(SipProxyTest, AUeBehindANatOfferingOnlyTransportGetsA494) {
    Ue ue(*this, "alice@" + kRealm, 6000, 6001);
    ue.behind_nat(*net::IpAddr::parse("192.168.1.20"), "trans");
    // From another port than its Via names (the NAT's mapping), without rport: the answer
    // goes to the source port all the same.
    ue.uc().send(ue.register_request(ue.security_client()), ue.sip_port());
    const std::string got = expect(ue.uc(), "the 494");
    EXPECT_TRUE(ue.us().take() == std::nullopt) << "nothing to the Via's port";
    EXPECT_EQ(status(got), 494) << got;
    const std::string listed = header(got, sip::HeaderKind::security_server);
    EXPECT_NE(listed.find("ipsec-3gpp;alg=null;ealg=aes-gcm;prot=esp;mod=UDP-enc-tun;q=1"), std::string::npos)
        << listed;
    EXPECT_NE(header(got, sip::HeaderKind::warning).find("transport-mode ESP cannot cross a NAPT"), std::string::npos)
        << got;
    EXPECT_EQ(proxy->counters().nat_refused, 1u);
    EXPECT_TRUE(silent(*core));
    EXPECT_EQ(sas->size(), 0u);
}

// --nat-traversal off: a REGISTER whose Via is not its source is refused by rule 2, as
// before there was NAT traversal.
TEST(SipProxyNat, OffRefusesAViaOtherThanTheSource) {
    secagree::RegistrarConfig rc;
    rc.nat_traversal = false;
    ProxyRig rig(rc);
    Ue ue(rig, "alice@" + kRealm, 6000, 6001);
    ue.behind_nat(*net::IpAddr::parse("192.168.1.20"), "UDP-enc-tun");
    ue.sm1(ue.security_client());
    const std::string got = rig.expect(ue.us(), "the 403");
    EXPECT_EQ(status(got), 403) << got;
    EXPECT_NE(header(got, sip::HeaderKind::warning).find("Via sent-by is not the packet's source address"),
              std::string::npos)
        << got;
    EXPECT_TRUE(rig.silent(*rig.core));
}

// A handset's offer (TS 33.203 Annex H): encryption next to integrity only. The 401 lists
// every pair we allow, best first, with the new set's SPIs and ports, and no keys; the SAs
// encrypt with CK_ESP = CK (Annex I, aes-cbc); SM7 with that list as Security-Verify passes.
TEST_F(SipProxyTest, AnOfferWithAesCbcGetsSasThatEncryptWithCk) {
    Ue ue(*this, "alice@" + kRealm, 6000, 6001);
    const std::string sa = ";spi-c=" + std::to_string(0x10000 + 6000) + ";spi-s=" + std::to_string(0x20000 + 6001) +
                           ";port-c=6000;port-s=6001";
    const std::string client = "ipsec-3gpp;alg=hmac-md5-96;ealg=null;prot=esp;mod=trans" + sa +
                               ", ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=trans" + sa +
                               ", ipsec-3gpp;alg=hmac-sha-1-96;ealg=des-ede3-cbc;prot=esp;mod=trans" + sa;
    ue.sm1(client);
    core->send(challenge(expect(*core, "SM1 at the core")), core_side());
    const std::string four01 = expect(ue.us(), "the 401");
    ASSERT_EQ(status(four01), 401) << four01;
    EXPECT_EQ(four01.find("ck="), std::string::npos) << "CK stays here";
    const std::string server = header(four01, sip::HeaderKind::security_server);
    const auto listed = sip::parse_security_list(server);
    ASSERT_TRUE(listed.has_value()) << server;
    ASSERT_EQ(listed->size(), 8u) << server;
    EXPECT_EQ((*listed)[0].ipsec->ealg, sip::EncryptionAlg::aes_gcm) << "listed first, though not offered";
    EXPECT_EQ((*listed)[1].ipsec->ealg, sip::EncryptionAlg::aes_cbc);
    EXPECT_EQ((*listed)[1].ipsec->alg, sip::IntegrityAlg::hmac_sha_1_96);
    for (size_t i = 1; i < listed->size(); ++i) {
        EXPECT_LT(*(*listed)[i].q, *(*listed)[i - 1].q) << server;
        EXPECT_EQ((*listed)[i].ipsec->spi_s, (*listed)[0].ipsec->spi_s) << "one set, whatever the pair";
        EXPECT_EQ((*listed)[i].ipsec->port_c, (*listed)[0].ipsec->port_c);
    }
    ASSERT_EQ(records.size(), 4u);
    for (const esp::SaRecord& r : records) {
        EXPECT_EQ(r.sa.ealg, esp::Ealg::aes_cbc);
        EXPECT_EQ(r.sa.alg, esp::Alg::hmac_sha1_96);
        EXPECT_EQ(r.cipher.len, 16u);
        std::string hex;
        for (uint8_t b : r.cipher.span()) hex += "0123456789abcdef"[b >> 4], hex += "0123456789abcdef"[b & 15];
        EXPECT_EQ(hex, kCk) << "aes-cbc: CK_ESP is CK";
    }
    ue.send_protected(ue.register_request(client, server));
    core->send(ok_with_contact(expect(*core, "SM7 at the core")), core_side());
    EXPECT_EQ(status(expect(ue.us(), "the 200 (SM12)")), 200);
    EXPECT_EQ(reg.view("alice@" + kRealm, ue_addr)->current->ealg, esp::Ealg::aes_cbc);
}

// Annex I: an encrypting pair needs CK. A 401 without it is answered 500, as one without
// IK, and no SA is made.
// Every pair but an HMAC with ealg=null needs CK: CK_ESP, or the AES-GCM / AES-GMAC salt.
TEST_F(SipProxyTest, ACore401WithoutCkForAnEncryptingPairIsAnsweredWithAnError) {
    const std::string auth =
        "Digest realm=\"" + kRealm + "\", nonce=\"bm9uY2U=\", algorithm=AKAv1-MD5, ik=\"" + kIk + "\"";
    uint16_t port = 6000;
    uint64_t refused = 0;
    for (const char* pair : {"alg=hmac-sha-1-96;ealg=aes-cbc", "alg=null;ealg=aes-gcm", "alg=aes-gmac;ealg=null"}) {
        Ue ue(*this, "alice@" + kRealm, port, uint16_t(port + 1));
        ue.sm1("ipsec-3gpp;" + std::string(pair) + ";spi-c=70000;spi-s=70001;port-c=" + std::to_string(port) +
               ";port-s=" + std::to_string(port + 1));
        port = uint16_t(port + 2);
        const std::string sm1 = expect(*core, "SM1");
        core->send(answer(sm1, 401, "Unauthorized", {{"WWW-Authenticate", auth}}), core_side());
        const std::string got = expect(ue.us(), "the answer to SM1");
        EXPECT_EQ(status(got), 500) << pair << "\n" << got;
        EXPECT_NE(header(got, sip::HeaderKind::warning).find("no cipher key (ck)"), std::string::npos) << got;
        EXPECT_EQ(dropped(proxy::ProxyDrop::core_401_without_keys), ++refused) << pair;
        EXPECT_EQ(sas->size(), 0u);
        EXPECT_EQ(reg.ues(), 0u);
    }

    // Integrity only needs no CK.
    Ue bob(*this, "bob@" + kRealm, 6100, 6101);
    bob.sm1(bob.security_client());
    core->send(answer(expect(*core, "bob's SM1"), 401, "Unauthorized", {{"WWW-Authenticate", auth}}), core_side());
    EXPECT_EQ(status(expect(bob.us(), "bob's 401")), 401);
}

TEST_F(SipProxyTest, ReservedSpisInTheOfferAreRefused) {
    Ue ue(*this, "alice@" + kRealm, 6000, 6001);
    ue.sm1(ue.security_client(200));
    const std::string got = expect(ue.us(), "the refusal");
    EXPECT_EQ(status(got), 403) << got;
    EXPECT_NE(header(got, sip::HeaderKind::warning).find("reserved"), std::string::npos) << got;
    EXPECT_TRUE(silent(*core));
    EXPECT_EQ(sas->size(), 0u);
}

// ---- overload control (RFC 3261 21.5.4) ----------------------------------------------

proxy::ProxyConfig overload(std::chrono::milliseconds queue, size_t max_transactions = 1'000'000) {
    proxy::ProxyConfig pc;
    pc.overload_queue = queue;
    pc.max_transactions = max_transactions;
    pc.retry_after = 10s;
    return pc;
}

// An SM1 that waited in the socket past overload_queue is answered 503 with a Retry-After
// in [10, 20) s, and nothing of it reaches the core; one read at once goes through.
TEST(SipProxyOverload, ANewRegistrationThatWaitedTooLongIsAnswered503) {
    ProxyRig rig({}, overload(150ms));
    Ue ue(rig, "alice@" + kRealm, 6000, 6001);
    // The kernel starts stamping arrivals a moment after the first socket asks for it
    // (a deferred switch); until then a datagram is stamped when read, as if at once.
    std::this_thread::sleep_for(100ms);
    const std::string busy_request = ue.register_request(ue.security_client());
    ue.us().send(busy_request, rig.sip_port());
    std::this_thread::sleep_for(400ms);  // the control thread is busy elsewhere
    const std::string busy = rig.expect(ue.us(), "the 503");
    EXPECT_EQ(status(busy), 503) << busy;
    const int after = std::atoi(header(busy, sip::HeaderKind::retry_after).c_str());
    EXPECT_GE(after, 10);
    EXPECT_LT(after, 20);
    EXPECT_TRUE(rig.silent(*rig.core)) << "a shed SM1 reached the core";
    EXPECT_EQ(rig.proxy->counters().shed_late, 1u);
    EXPECT_GE(rig.proxy->counters().sm1_queued_us, 400'000u);
    EXPECT_EQ(rig.sas->size(), 0u) << "a shed SM1 made SAs";
    // Its retransmission, read at once, gets the same 503 (RFC 3261 17.2.2): the UE has given
    // that attempt up, and it must not start a registration behind the UE's back.
    ue.us().send(busy_request, rig.sip_port());
    EXPECT_EQ(rig.expect(ue.us(), "the 503 again"), busy);
    EXPECT_TRUE(rig.silent(*rig.core)) << "the retransmission reached the core";
    EXPECT_EQ(rig.proxy->counters().shed_late, 1u);

    ue.sm1(ue.security_client());  // the UE tries again, and this time it is read at once
    const std::string sm1 = rig.expect(*rig.core, "the second SM1 at the core");
    EXPECT_NE(sm1.find("REGISTER"), std::string::npos) << sm1;
    EXPECT_EQ(rig.proxy->counters().shed_late, 1u);
}

// Over TCP no wait is known: an SM1 there is refused 503 while the last UDP one was late
// (for overload_queue after it), and taken again after that.
TEST(SipProxyOverload, OverTcpSm1sAreShedWhileUdpOnesAreLate) {
    ProxyRig rig({}, overload(150ms));
    Ue alice(rig, "alice@" + kRealm, 6000, 6001), bob(rig, "bob@" + kRealm, 6010, 6011);
    std::this_thread::sleep_for(100ms);  // the kernel's arrival stamps switch on (see above)
    alice.sm1(alice.security_client());
    std::this_thread::sleep_for(400ms);
    EXPECT_EQ(status(rig.expect(alice.us(), "the 503 over UDP")), 503);

    auto conn = proxy::TcpConnection::connect({rig.ue_addr, 0}, rig.sip_port());
    ASSERT_TRUE(conn.has_value()) << conn.error().message;
    proxy::TcpConnection& c = **conn;
    auto answer_over_tcp = [&]() -> std::string {
        for (int i = 0; i < 2000; ++i) {
            rig.round();
            (void)c.flush();
            (void)c.read();
            if (auto f = c.next(); f && f->kind == sip::FrameKind::message) return std::string(f->bytes);
            std::this_thread::sleep_for(1ms);
        }
        ADD_FAILURE() << "no answer over TCP";
        return {};
    };
    ASSERT_TRUE(c.send(bob.register_request(bob.security_client())).has_value());
    EXPECT_EQ(status(answer_over_tcp()), 503);
    EXPECT_EQ(rig.proxy->counters().shed_late, 2u);
    EXPECT_TRUE(rig.silent(*rig.core)) << "a shed SM1 reached the core";

    rig.now += 200ms;  // the UDP SM1s' lateness is over
    ASSERT_TRUE(c.send(bob.register_request(bob.security_client())).has_value());
    const std::string sm1 = rig.expect(*rig.core, "bob's SM1 over TCP at the core");
    EXPECT_EQ(sm1.rfind("REGISTER", 0), 0u) << sm1;
    EXPECT_EQ(rig.proxy->counters().shed_late, 2u);
}

// Messages waiting on the protected ports (registered UEs) are read before those at the
// unprotected one (new registrations), whatever order they arrived in.
TEST(SipProxyOverload, RegisteredUesGoFirst) {
    ProxyRig rig;
    Ue alice(rig, "alice@" + kRealm, 6000, 6001), bob(rig, "bob@" + kRealm, 6010, 6011);
    alice.register_fully();
    bob.sm1(bob.security_client());                      // first in
    alice.send_protected(alice.request("MESSAGE", {}));  // second in
    std::this_thread::sleep_for(20ms);                   // both wait for the same poll
    const std::string first = rig.expect(*rig.core, "a request at the core");
    EXPECT_EQ(first.rfind("MESSAGE", 0), 0u) << "the new registration went first:\n" << first;
    EXPECT_EQ(rig.expect(*rig.core, "the SM1 after it").rfind("REGISTER", 0), 0u);
}

// Transactions are bounded: new registrations are refused from 3/4 of the table, any new
// request once it is full; once they expire, registrations go through again.
TEST(SipProxyOverload, TheTransactionTableIsBounded) {
    ProxyRig rig({}, overload(60s, 5));  // SM1s refused from 3, everything from 5
    Ue alice(rig, "alice@" + kRealm, 6000, 6001), bob(rig, "bob@" + kRealm, 6010, 6011);
    alice.register_fully();  // two transactions: SM1, SM7
    alice.send_protected(alice.request("MESSAGE", {}));
    rig.expect(*rig.core, "the MESSAGE at the core");  // a third
    bob.sm1(bob.security_client());
    const std::string refused = rig.expect(bob.us(), "the 503 to the SM1");
    EXPECT_EQ(status(refused), 503) << refused;
    EXPECT_FALSE(header(refused, sip::HeaderKind::retry_after).empty());
    EXPECT_EQ(rig.proxy->counters().shed_full, 1u);  // the 503 is kept: four transactions

    alice.send_protected(alice.request("MESSAGE", {}));  // a registered UE still has room
    rig.expect(*rig.core, "the second MESSAGE at the core");
    alice.send_protected(alice.request("MESSAGE", {}));  // now the table is full
    EXPECT_EQ(status(rig.expect(alice.uc(), "the 503 to the third MESSAGE")), 503);
    EXPECT_EQ(rig.proxy->counters().shed_full, 2u);

    rig.advance(33s);  // RFC 3261 64*T1: the transactions are forgotten
    EXPECT_EQ(rig.proxy->counters().transactions, 0u);
    bob.sm1(bob.security_client());
    rig.expect(*rig.core, "bob's SM1 at the core");
}

// Datagrams the kernel dropped on a full socket buffer are counted: every datagram sent
// is either handled or counted.
TEST(SipProxyOverload, DatagramsLostOnAFullSocketAreCounted) {
    ProxyRig rig;
    Peer flood(proxy::Endpoint{rig.ue_addr, 6100});
    const std::string junk(1000, 'x');
    constexpr int kSent = 30'000;  // 30 MB: more than the 16 MiB buffer holds
    for (int i = 0; i < kSent; ++i) flood.send(junk, rig.sip_port());
    for (int i = 0; i < 1000 && rig.proxy->poll(0, rig.now) > 0; ++i) {
    }
    flood.send(junk, rig.sip_port());  // the kernel reports its count with the next datagram it keeps
    rig.round();
    const auto& c = rig.proxy->counters();
    EXPECT_GT(c[proxy::ProxyDrop::socket_full], 0u);
    EXPECT_EQ(c[proxy::ProxyDrop::socket_full] + c[proxy::ProxyDrop::malformed], uint64_t(kSent) + 1);
}

}  // namespace
}  // namespace pcscf::test
