// The P-CSCF's edits on the real registration of seed 004 (tests/sip/fixtures/seed004):
// what goes to the core and what goes back to the UE, read back with the SIP parser.
#include <gtest/gtest.h>

#include "control/secagree/sip_edits.hpp"
#include "tests/sip/test_util.hpp"

namespace pcscf::secagree {
namespace {

using sip::HeaderKind;

const net::IpAddr kUe = *net::IpAddr::parse("2001::1:d1ae:bb37:d9c9:81d0");
const Hop kMe{"UDP", *net::IpAddr::parse("2001:0:0:1::2"), 5060};
const net::IpAddr kCore = *net::IpAddr::parse("192.0.2.10");  // our address towards the core

struct Parsed {
    std::string bytes;
    sip::Message m;
};
Parsed parse(std::string bytes) {
    Parsed p{std::move(bytes), {}};
    auto m = sip::parse_message(p.bytes, sip::Framing::datagram);
    EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().message);
    if (m) p.m = *m;
    return p;
}
Parsed fixture(const char* name) { return parse(sip::test::fixture(std::string("seed004/") + name)); }
// Re-parses output bytes (the Message must point into its own buffer).
std::unique_ptr<Parsed> reparse(const sip::Result<std::string>& out) {
    EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().message);
    auto p = std::make_unique<Parsed>();
    p->bytes = out.value_or("");
    auto m = sip::parse_message(p->bytes, sip::Framing::datagram);
    EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().message);
    if (m) {
        p->m = *m;
        EXPECT_TRUE(sip::validate(p->m).has_value());
    }
    return p;
}

TEST(SipEdits, Sm1GoesToTheCoreWithoutSecAgreeAndWithPathAndOurVia) {
    const auto sm1 = fixture("step1_register.sip");
    const Arrival from{kUe, 5060, 5060, false};
    ASSERT_TRUE(check_via_sent_by(*sip::top_via(sm1.m), from).has_value());
    const auto out = reparse(register_to_core(sm1.m, *sip::top_via(sm1.m), from, kMe, "z9hG4bKpcscf1", false));
    const sip::Message& m = out->m;
    EXPECT_EQ(m.count(HeaderKind::security_client), 0u);
    EXPECT_FALSE(sip::has_option_tag(m, HeaderKind::require, "sec-agree"));
    EXPECT_FALSE(sip::has_option_tag(m, HeaderKind::proxy_require, "sec-agree"));
    EXPECT_TRUE(sip::has_option_tag(m, HeaderKind::supported, "sec-agree")) << "Supported is the UE's own";
    const auto auth = sip::auth_values(m, HeaderKind::authorization);
    ASSERT_TRUE(auth.has_value());
    EXPECT_EQ(auth->front().username(), "001010123456789@ims.sharetechnote.com");
    EXPECT_EQ(auth->front().integrity_protected(), "no");
    const auto hops = sip::vias(m);
    ASSERT_TRUE(hops.has_value());
    ASSERT_EQ(hops->size(), 2u);
    EXPECT_EQ((*hops)[0].branch, "z9hG4bKpcscf1");
    EXPECT_EQ((*hops)[0].host.text, std::string_view("[2001:0:0:1::2]"));
    EXPECT_EQ((*hops)[1].branch, "z9hG4bK370690ecb-643c9869");
    EXPECT_EQ((*hops)[1].received, "2001::1:d1ae:bb37:d9c9:81d0");
    const auto path = sip::name_addrs(m, HeaderKind::path);
    ASSERT_TRUE(path.has_value());
    ASSERT_EQ(path->size(), 1u);
    EXPECT_EQ(*net::IpAddr::parse(path->front().uri.host.address()), kMe.addr);
    EXPECT_EQ(sip::find_param(path->front().uri.params, "transport"), nullptr);
    EXPECT_EQ(m.body(), sm1.m.body());

    // Towards a core over TCP, the Path says so: the core's requests come back on TCP.
    const auto tcp =
        reparse(register_to_core(sm1.m, *sip::top_via(sm1.m), from, {"TCP", kMe.addr, 5060}, "z9hG4bKpcscf2", false));
    EXPECT_EQ(sip::top_via(tcp->m)->transport_name, "TCP");
    const auto tcp_path = sip::name_addrs(tcp->m, HeaderKind::path);
    ASSERT_TRUE(tcp_path.has_value() && tcp_path->size() == 1u);
    const auto* transport = sip::find_param(tcp_path->front().uri.params, "transport");
    ASSERT_NE(transport, nullptr);
    EXPECT_EQ(transport->value, "tcp");
}

TEST(SipEdits, Sm7IsMarkedIntegrityProtectedAndLosesSecurityVerify) {
    const auto sm7 = fixture("step3_register_protected.sip");
    const Arrival from{kUe, 38003, 50718, true};
    const auto out = reparse(register_to_core(sm7.m, *sip::top_via(sm7.m), from, kMe, "z9hG4bKpcscf2", true));
    EXPECT_EQ(out->m.count(HeaderKind::security_verify), 0u);
    EXPECT_EQ(out->m.count(HeaderKind::security_client), 0u);
    EXPECT_EQ(sip::auth_values(out->m, HeaderKind::authorization)->front().integrity_protected(), "yes");
}

TEST(SipEdits, ChallengeLosesTheKeysAndCarriesOurSecurityServer) {
    // The core's 401 as the P-CSCF receives it: our Via on top, ik and ck in the challenge.
    std::string text = sip::test::fixture("seed004/step2_401_unauthorized.sip");
    text.insert(text.find("Via:"), "Via: SIP/2.0/UDP [2001:0:0:1::2]:5060;branch=z9hG4bKpcscf1\r\n");
    const std::string ik = "ik=\"00112233445566778899aabbccddeeff\",ck=\"ffeeddccbbaa99887766554433221100\",";
    text.insert(text.find("algorithm=AKAv1-MD5"), ik);
    // The capture is the 401 as the UE got it: the Security-Server is what we are to add.
    const auto ss = text.find("Security-Server:");
    text.erase(ss, text.find("\r\n", ss) + 2 - ss);
    const auto from_core = parse(text);
    const auto challenge = sip::auth_values(from_core.m, HeaderKind::www_authenticate);
    ASSERT_TRUE(challenge.has_value());
    ASSERT_TRUE(challenge->front().ik.has_value());

    auto server = sip::parse_security_list(
        "ipsec-3gpp;alg=hmac-md5-96;ealg=null;prot=esp;mod=trans;spi-c=3458785863;spi-s=2821032177;port-c=50717;port-s="
        "50718");
    ASSERT_TRUE(server.has_value());
    const auto out = reparse(challenge_to_ue(from_core.m, *server));
    const auto c = sip::auth_values(out->m, HeaderKind::www_authenticate);
    ASSERT_TRUE(c.has_value());
    EXPECT_FALSE(c->front().ik.has_value());
    EXPECT_FALSE(c->front().ck.has_value());
    EXPECT_EQ(c->front().nonce(), "26ohPzgYyy3VFVa4VnXhKgx8Ta1aXYAA27sDDHxNLVo=");
    EXPECT_EQ(out->bytes.find("00112233445566778899aabbccddeeff"), std::string::npos) << "IK leaked to the UE";
    const auto sent = sip::security_mechanisms(out->m, HeaderKind::security_server);
    ASSERT_TRUE(sent.has_value());
    EXPECT_TRUE(sip::same_mechanisms(*sent, *server));
    const auto hops = sip::vias(out->m);
    ASSERT_EQ(hops->size(), 1u);
    EXPECT_EQ(hops->front().branch, "z9hG4bK370690ecb-643c9869");
}

TEST(SipEdits, ViaSentByMustBeThePacketsSourceAddress) {
    const auto sm1 = fixture("step1_register.sip");
    EXPECT_FALSE(
        check_via_sent_by(*sip::top_via(sm1.m), {*net::IpAddr::parse("2001::99"), 5060, 5060, false}).has_value());
    // The seed's UE names port 5060 in Via and sends from 42368 (TCP); over UDP a UE names
    // port_us and sends from port_uc. The port is not the packet's, and that is allowed.
    EXPECT_TRUE(check_via_sent_by(*sip::top_via(sm1.m), {kUe, 42368, 5060, false}).has_value());
}

TEST(SipEdits, RelayedRequestCarriesOurViaAndOneHopLess) {
    const auto subscribe = fixture("step5_subscribe.sip");
    const net::IpAddr access[] = {kMe.addr};
    const auto out = reparse(relay_request(subscribe.m, kMe, "z9hG4bKpcscf3", {.ours = {access, kCore}}));
    EXPECT_EQ(sip::top_via(out->m)->branch, "z9hG4bKpcscf3");
    EXPECT_EQ(sip::max_forwards(out->m)->value(), sip::max_forwards(subscribe.m)->value() - 1);
    // The UE routed it to us: that Route is consumed.
    const auto before = sip::name_addrs(subscribe.m, HeaderKind::route);
    const auto after = sip::name_addrs(out->m, HeaderKind::route);
    ASSERT_TRUE(before.has_value() && after.has_value());
    EXPECT_EQ(after->size() + 1, before->size());
}

// RFC 5658 double record-routing: an initial INVITE gets both our faces on top of
// Record-Route, the one towards where it goes on top, and the Route entries naming us
// (either face) are consumed; an in-dialog request gets no Record-Route.
TEST(SipEdits, ADialogsRouteSetRunsThroughBothOurFaces) {
    const net::IpAddr access[] = {*net::IpAddr::parse("10.0.0.1"), kMe.addr};
    const Ours ours{access, kCore};
    const Faces faces{{"UDP", access[1], 5101}, {"UDP", kCore, 5060}};
    const auto request = [](const std::string& method, const std::string& to_tag, const std::string& route) {
        return parse(method +
                     " sip:bob@ims.example SIP/2.0\r\nVia: SIP/2.0/UDP [2001::1:d1ae:bb37:d9c9:81d0]:6101;"
                     "branch=z9hG4bKue1\r\nMax-Forwards: 70\r\nRoute: " +
                     route + "\r\nFrom: <sip:alice@ims.example>;tag=a\r\nTo: <sip:bob@ims.example>" + to_tag +
                     "\r\nCall-ID: c1\r\nCSeq: 1 " + method + "\r\nContent-Length: 0\r\n\r\n");
    };
    const auto values = [](const sip::Message& m, HeaderKind k) {
        std::vector<std::string> v;
        if (auto l = sip::name_addrs(m, k))
            for (const auto& n : *l) v.emplace_back(n.text);
        return v;
    };

    const auto invite = request("INVITE", "", "<sip:[2001:0:0:1::2]:5101;lr>, <sip:orig@scscf.ims.example;lr>");
    ASSERT_TRUE(starts_dialog(invite.m));
    const auto up = reparse(
        relay_request(invite.m, faces.core, "z9hG4bKp1", {.from_ue = true, .ours = ours, .record_route = faces}));
    EXPECT_EQ(values(up->m, HeaderKind::route), std::vector<std::string>{"<sip:orig@scscf.ims.example;lr>"});
    EXPECT_EQ(values(up->m, HeaderKind::record_route),
              (std::vector<std::string>{"<sip:192.0.2.10:5060;lr>", "<sip:[2001:0:0:1::2]:5101;lr>"}));

    Faces over_tcp = faces;  // changed field by field: g++ 12 -O3 misreads a braced temporary here
    over_tcp.access.transport = "TCP";
    over_tcp.access.addr = access[1];
    over_tcp.access.port = 5101;
    const auto down = reparse(relay_request(request("INVITE", "", "<sip:192.0.2.10:5060;lr>").m, faces.access,
                                            "z9hG4bKp2", {.ours = ours, .record_route = over_tcp}));
    EXPECT_TRUE(values(down->m, HeaderKind::route).empty());
    EXPECT_EQ(values(down->m, HeaderKind::record_route),
              (std::vector<std::string>{"<sip:[2001:0:0:1::2]:5101;transport=tcp;lr>", "<sip:192.0.2.10:5060;lr>"}));

    const auto bye =
        request("BYE", ";tag=b", "<sip:[2001:0:0:1::2]:5101;lr>, <sip:192.0.2.10:5060;lr>, <sip:scscf.ims.example;lr>");
    EXPECT_FALSE(starts_dialog(bye.m));
    const auto in_dialog = reparse(relay_request(bye.m, faces.core, "z9hG4bKp3", {.from_ue = true, .ours = ours}));
    EXPECT_EQ(values(in_dialog->m, HeaderKind::route), std::vector<std::string>{"<sip:scscf.ims.example;lr>"});
    EXPECT_TRUE(values(in_dialog->m, HeaderKind::record_route).empty());
}

// TS 24.229 5.2.6.3: a registered UE's initial request leaves with the identity we assert
// (its P-Preferred-Identity gone) and routed by its Service-Route (RFC 3608), whatever
// Route it put after ours.
TEST(SipEdits, AUesRequestIsAssertedAndFollowsItsServiceRoute) {
    const auto message = parse(
        "MESSAGE sip:bob@ims.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.7:6101;branch=z9hG4bKue2\r\n"
        "Max-Forwards: 70\r\nRoute: <sip:10.0.0.1:5101;lr>, <sip:elsewhere.example;lr>\r\n"
        "P-Preferred-Identity: <tel:+15551234>\r\nP-Asserted-Identity: <sip:boss@ims.example>\r\n"
        "From: <sip:alice@ims.example>;tag=a\r\nTo: <sip:bob@ims.example>\r\nCall-ID: m1\r\n"
        "CSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n");
    ASSERT_TRUE(initial(message.m));
    const net::IpAddr access[] = {*net::IpAddr::parse("10.0.0.1")};
    const std::string service_route[] = {"<sip:orig@scscf.ims.example;lr>", "<sip:as.ims.example;lr>"};
    RelayEdits edits{.from_ue = true, .ours = {access, kCore}};
    edits.asserted = "<tel:+15551234>";
    edits.service_route = service_route;
    const auto out = reparse(relay_request(message.m, {"UDP", kCore, 5060}, "z9hG4bKp4", edits));
    EXPECT_EQ(out->m.count(HeaderKind::p_preferred_identity), 0u);
    const auto asserted = sip::name_addrs(out->m, HeaderKind::p_asserted_identity);
    ASSERT_TRUE(asserted.has_value() && asserted->size() == 1u);
    EXPECT_EQ(asserted->front().uri.text, "tel:+15551234");
    const auto route = sip::name_addrs(out->m, HeaderKind::route);
    ASSERT_TRUE(route.has_value() && route->size() == 2u);
    EXPECT_EQ(route->at(0).text, service_route[0]);
    EXPECT_EQ(route->at(1).text, service_route[1]);
}

}  // namespace
}  // namespace pcscf::secagree
