// The captured IMS registration of seed 004 (steps 1-8), rebuilt as wire-format messages in
// fixtures/seed004/: it parses, carries the exact sec-agree values, and round-trips.

#include <gtest/gtest.h>

#include "sip/accessors.hpp"
#include "sip/writer.hpp"
#include "test_util.hpp"

namespace pcscf::sip {
namespace {

const char* const steps[] = {
    "step1_register.sip",        "step2_401_unauthorized.sip", "step3_register_protected.sip",
    "step4_200_ok_register.sip", "step5_subscribe.sip",        "step6_200_ok_subscribe.sip",
    "step7_notify.sip",          "step8_200_ok_notify.sip",
};

struct Step {
    std::string text;
    Message message;
};

Step load(int n) {
    Step s{test::fixture(std::string("seed004/") + steps[n - 1]), {}};
    // the capture mixes TCP (steps 1-4) and UDP (5-8); the stream rules are the stricter
    auto m = parse_message(s.text, n <= 4 ? Framing::stream : Framing::datagram);
    EXPECT_TRUE(m) << steps[n - 1] << ": " << m.error().message;
    if (m) s.message = *m;
    return s;
}

std::vector<SecurityMechanism> mechanisms(const Message& m, HeaderKind kind) {
    auto r = security_mechanisms(m, kind);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : std::vector<SecurityMechanism>{};
}

TEST(Seed004, EveryStepParsesAndValidates) {
    const std::pair<std::string_view, int> starts[] = {{"REGISTER", 0},  {"", 401}, {"REGISTER", 0}, {"", 200},
                                                       {"SUBSCRIBE", 0}, {"", 200}, {"NOTIFY", 0},   {"", 200}};
    for (int n = 1; n <= 8; ++n) {
        const auto s = load(n);
        EXPECT_EQ(s.message.method(), starts[n - 1].first) << n;
        EXPECT_EQ(s.message.status_code(), starts[n - 1].second) << n;
        auto v = validate(s.message);
        EXPECT_TRUE(v) << steps[n - 1] << ": " << v.error().message;
    }
    const auto notify = load(7);
    EXPECT_EQ(notify.message.body().size(), 740u);  // the captured Content-Length
    EXPECT_TRUE(notify.message.body().starts_with("<?xml"));
    EXPECT_TRUE(notify.message.body().ends_with("</reginfo>"));
}

TEST(Seed004, Step1SecurityClientOffersMd5AndSha1) {
    const auto s = load(1);
    const auto client = mechanisms(s.message, HeaderKind::security_client);
    ASSERT_EQ(client.size(), 2u);
    const IntegrityAlg algs[] = {IntegrityAlg::hmac_md5_96, IntegrityAlg::hmac_sha_1_96};
    for (std::size_t i = 0; i < 2; ++i) {
        ASSERT_TRUE(client[i].ipsec);
        const auto& p = *client[i].ipsec;
        EXPECT_EQ(p.alg, algs[i]);
        EXPECT_EQ(p.ealg, EncryptionAlg::null);
        EXPECT_EQ(p.spi_c, 565817u);
        EXPECT_EQ(p.spi_s, 565818u);
        EXPECT_EQ(p.port_c, 38003);
        EXPECT_EQ(p.port_s, 39003);
    }
    EXPECT_TRUE(has_option_tag(s.message, HeaderKind::require, "sec-agree"));
    EXPECT_TRUE(has_option_tag(s.message, HeaderKind::proxy_require, "sec-agree"));
    auto via = top_via(s.message);
    ASSERT_TRUE(via);
    EXPECT_EQ(via->host.address(), "2001::1:d1ae:bb37:d9c9:81d0");
    EXPECT_EQ(via->transport, Transport::tcp);
    auto cred = auth_values(s.message, HeaderKind::authorization);
    ASSERT_TRUE(cred) << cred.error().message;
    EXPECT_EQ((*cred)[0].username(), "001010123456789@ims.sharetechnote.com");
    EXPECT_EQ((*cred)[0].nonce(), "");
    auto contact = contacts(s.message);
    ASSERT_TRUE(contact) << contact.error().message;
    EXPECT_EQ(contact->contacts.front().uri.port, 39003);
}

TEST(Seed004, Step2SecurityServer) {
    const auto s = load(2);
    const auto server = mechanisms(s.message, HeaderKind::security_server);
    ASSERT_EQ(server.size(), 1u);
    ASSERT_TRUE(server[0].ipsec);
    const auto& p = *server[0].ipsec;
    EXPECT_EQ(p.alg, IntegrityAlg::hmac_md5_96);
    EXPECT_EQ(p.spi_c, 3458785863u);
    EXPECT_EQ(p.spi_s, 2821032177u);
    EXPECT_EQ(p.port_c, 50717);
    EXPECT_EQ(p.port_s, 50718);
    EXPECT_EQ(server[0].q, 100);
    auto challenge = auth_values(s.message, HeaderKind::www_authenticate);
    ASSERT_TRUE(challenge) << challenge.error().message;
    EXPECT_EQ((*challenge)[0].nonce(), "26ohPzgYyy3VFVa4VnXhKgx8Ta1aXYAA27sDDHxNLVo=");
    EXPECT_EQ((*challenge)[0].algorithm(), "AKAv1-MD5");
    // what the P-CSCF would have written gives the same mechanism
    EXPECT_EQ(format_mechanism(server[0]),
              "ipsec-3gpp;alg=hmac-md5-96;ealg=null;prot=esp;mod=trans;spi-c=3458785863;spi-s=2821032177;"
              "port-c=50717;port-s=50718;q=0.1");
}

TEST(Seed004, Step3VerifyEqualsStep2ServerAndClientEqualsStep1) {
    const auto sm1 = load(1);
    const auto sm6 = load(2);
    const auto sm7 = load(3);
    const auto verify = mechanisms(sm7.message, HeaderKind::security_verify);
    const auto server = mechanisms(sm6.message, HeaderKind::security_server);
    ASSERT_FALSE(verify.empty());
    EXPECT_TRUE(same_mechanisms(verify, server));
    EXPECT_EQ(verify, server);
    EXPECT_TRUE(same_mechanisms(mechanisms(sm7.message, HeaderKind::security_client),
                                mechanisms(sm1.message, HeaderKind::security_client)));
    // and a verify that differs in one SPI does not pass
    auto tampered = verify;
    tampered[0].ipsec->spi_s += 1;
    EXPECT_FALSE(same_mechanisms(tampered, server));

    auto cred = auth_values(sm7.message, HeaderKind::authorization);
    ASSERT_TRUE(cred) << cred.error().message;
    EXPECT_EQ((*cred)[0].response(), "e089b68060162b5c6a328e5dd2d43133");
    EXPECT_EQ((*cred)[0].nc(), "00000001");
    // SM7 arrives from port_uc 38003 with the UE's protected server port in Via (7.1 rule 2)
    EXPECT_EQ(top_via(sm7.message)->port, 39003);
    // step 5 carries the same Security-Verify on a SUBSCRIBE over UDP
    EXPECT_TRUE(same_mechanisms(mechanisms(load(5).message, HeaderKind::security_verify), server));
}

TEST(Seed004, Step4Registration) {
    const auto s = load(4);
    auto paths = name_addrs(s.message, HeaderKind::path);
    ASSERT_TRUE(paths) << paths.error().message;
    EXPECT_EQ(paths->front().uri.host.text, "[2001:0:0:1::2]");
    auto assoc = name_addrs(s.message, HeaderKind::p_associated_uri);
    ASSERT_TRUE(assoc);
    EXPECT_EQ(assoc->front().uri.user, "001010123456789");
    EXPECT_EQ(find_param(contacts(s.message)->contacts.front().params, "expires")->value, "600000");
}

TEST(Seed004, RoundTripGivesEqualResults) {
    for (int n = 1; n <= 8; ++n) {
        const auto s = load(n);
        const auto written = MessageWriter(s.message).write();
        EXPECT_EQ(written, s.text) << steps[n - 1];
        auto again = parse_message(written, Framing::stream);
        ASSERT_TRUE(again) << again.error().message;
        ASSERT_EQ(again->headers().size(), s.message.headers().size());
        for (std::size_t i = 0; i < again->headers().size(); ++i) {
            EXPECT_EQ(again->headers()[i].kind, s.message.headers()[i].kind);
            EXPECT_EQ(again->headers()[i].value, s.message.headers()[i].value);
        }
        for (const auto kind : {HeaderKind::security_client, HeaderKind::security_server, HeaderKind::security_verify})
            EXPECT_EQ(mechanisms(*again, kind), mechanisms(s.message, kind));
        EXPECT_EQ(vias(*again)->front().branch, vias(s.message)->front().branch);
        EXPECT_EQ(cseq(*again).value(), cseq(s.message).value());
        EXPECT_EQ(again->body(), s.message.body());
    }
}

// The header values exactly as the capture shows them (its display breaks lines after each
// ';' and ','; the wire carries them on one line).
TEST(Seed004, FixturesCarryTheCapturedSecurityHeaders) {
    const std::string client =
        "ipsec-3gpp;alg=hmac-md5-96;prot=esp;mod=trans;ealg=null;spi-c=0000565817;spi-s=0000565818;"
        "port-c=38003;port-s=39003,ipsec-3gpp;alg=hmac-sha-1-96;prot=esp;mod=trans;ealg=null;"
        "spi-c=0000565817;spi-s=0000565818;port-c=38003;port-s=39003";
    const std::string server =
        "ipsec-3gpp;alg=hmac-md5-96;ealg=null;prot=esp;mod=trans;spi-c=3458785863;spi-s=2821032177;"
        "port-c=50717;port-s=50718;q=0.1";
    const std::string verify =
        "ipsec-3gpp;q=0.1;alg=hmac-md5-96;prot=esp;mod=trans;ealg=null;spi-c=3458785863;"
        "spi-s=2821032177;port-c=50717;port-s=50718";
    const auto value = [](int step, HeaderKind kind) {
        const auto s = load(step);
        EXPECT_EQ(s.message.count(kind), 1u) << step;
        const auto* h = s.message.first(kind);
        return h ? std::string(h->value) : std::string();
    };
    EXPECT_EQ(value(1, HeaderKind::security_client), client);
    EXPECT_EQ(value(2, HeaderKind::security_server), server);
    EXPECT_EQ(value(3, HeaderKind::security_client), client);
    EXPECT_EQ(value(3, HeaderKind::security_verify), verify);
    EXPECT_EQ(value(5, HeaderKind::security_verify), verify);
    EXPECT_EQ(value(2, HeaderKind::www_authenticate),
              "Digest realm=\"ims.mnc01.mcc001.3gppnetwork.org\","
              "nonce=\"26ohPzgYyy3VFVa4VnXhKgx8Ta1aXYAA27sDDHxNLVo=\",qop=\"auth\","
              "opaque=\"4669e9192b2042d499606fe3e0fa839a\",algorithm=AKAv1-MD5");
}

// What the sec-agree terminator does with each message of the registration, in the API.
TEST(Seed004, SecAgreeTerminatorFlow) {
    const std::string pcscf_via = "SIP/2.0/UDP [2001:0:0:1::2]:5060;branch=z9hG4bKpcscf1";

    // SM1: read the offer and the identities, relay to the core without Security-* and with Path
    const auto sm1 = load(1);
    std::vector<Ipsec3gpp> usable;
    for (const auto& offer : mechanisms(sm1.message, HeaderKind::security_client))
        if (offer.ipsec) usable.push_back(*offer.ipsec);
    ASSERT_EQ(usable.size(), 2u);
    EXPECT_EQ(usable[1].alg, IntegrityAlg::hmac_sha_1_96);
    EXPECT_EQ(auth_values(sm1.message, HeaderKind::authorization)->front().username(),
              "001010123456789@ims.sharetechnote.com");                                            // IMPI
    EXPECT_EQ(to(sm1.message)->uri.text, "sip:001010123456789@ims.mnc01.mcc001.3gppnetwork.org");  // IMPU
    EXPECT_EQ(top_via(sm1.message)->port, 5060);

    MessageWriter relay(sm1.message);
    relay.remove_headers(HeaderKind::security_client);
    ASSERT_TRUE(relay.remove_option_tag(HeaderKind::require, "sec-agree"));
    ASSERT_TRUE(relay.remove_option_tag(HeaderKind::proxy_require, "sec-agree"));
    ASSERT_TRUE(relay.add_header(HeaderKind::path, "<sip:term@[2001:0:0:1::2];lr>", Position::top));
    ASSERT_TRUE(relay.prepend_via(pcscf_via));
    const auto to_core = test::parsed(relay.write(), Framing::stream);
    EXPECT_TRUE(validate(to_core));
    EXPECT_EQ(to_core.count(HeaderKind::security_client), 0u);
    EXPECT_FALSE(has_option_tag(to_core, HeaderKind::require, "sec-agree"));
    EXPECT_EQ(vias(to_core)->size(), 2u);
    EXPECT_EQ(name_addrs(to_core, HeaderKind::path)->size(), 1u);

    // SM6 as the core sends it: our Via on top, ik and ck in the challenge, no Security-Server
    const auto sm6_ue = load(2);
    MessageWriter core(sm6_ue.message);
    core.remove_headers(HeaderKind::security_server);
    ASSERT_TRUE(core.prepend_via(pcscf_via));
    ASSERT_TRUE(core.set_param(HeaderKind::www_authenticate, "ik", "\"00112233445566778899aabbccddeeff\""));
    ASSERT_TRUE(core.set_param(HeaderKind::www_authenticate, "ck", "\"ffeeddccbbaa99887766554433221100\""));
    const auto sm6 = test::parsed(core.write(), Framing::stream);

    // take the keys out, drop our Via, add Security-Server: what the UE received in the capture
    const auto challenge = auth_values(sm6, HeaderKind::www_authenticate);
    ASSERT_TRUE(challenge) << challenge.error().message;
    ASSERT_TRUE(challenge->front().ik && challenge->front().ck);
    EXPECT_EQ(challenge->front().ik->front(), 0x00);
    EXPECT_EQ(challenge->front().ck->front(), 0xff);
    EXPECT_EQ(challenge->front().nonce(), "26ohPzgYyy3VFVa4VnXhKgx8Ta1aXYAA27sDDHxNLVo=");
    const auto server = mechanisms(sm6_ue.message, HeaderKind::security_server);
    MessageWriter to_ue(sm6);
    ASSERT_TRUE(to_ue.remove_params(HeaderKind::www_authenticate, {"ik", "ck"}));
    ASSERT_TRUE(to_ue.remove_top_via());
    ASSERT_TRUE(to_ue.add_header(HeaderKind::security_server, format_mechanisms(server)));
    const auto sent = test::parsed(to_ue.write(), Framing::stream);
    EXPECT_FALSE(auth_values(sent, HeaderKind::www_authenticate)->front().ik);
    EXPECT_EQ(auth_values(sent, HeaderKind::www_authenticate)->front().get("opaque"),
              "4669e9192b2042d499606fe3e0fa839a");
    EXPECT_EQ(top_via(sent)->branch, "z9hG4bK370690ecb-643c9869");
    EXPECT_EQ(sent.count(HeaderKind::via), 1u);
    EXPECT_TRUE(same_mechanisms(mechanisms(sent, HeaderKind::security_server), server));

    // SM7: Security-Verify must equal what we sent, Security-Client what SM1 offered
    const auto sm7 = load(3);
    EXPECT_TRUE(same_mechanisms(mechanisms(sm7.message, HeaderKind::security_verify),
                                mechanisms(sent, HeaderKind::security_server)));
    EXPECT_TRUE(same_mechanisms(mechanisms(sm7.message, HeaderKind::security_client),
                                mechanisms(sm1.message, HeaderKind::security_client)));
    MessageWriter forward(sm7.message);
    forward.remove_headers(HeaderKind::security_client);
    forward.remove_headers(HeaderKind::security_verify);
    ASSERT_TRUE(forward.set_param(HeaderKind::authorization, "integrity-protected", "\"yes\""));
    ASSERT_TRUE(forward.prepend_via(pcscf_via));
    const auto sm8 = test::parsed(forward.write(), Framing::stream);
    const auto cred = auth_values(sm8, HeaderKind::authorization);
    ASSERT_TRUE(cred) << cred.error().message;
    EXPECT_EQ(cred->front().integrity_protected(), "yes");
    EXPECT_EQ(cred->front().response(), "e089b68060162b5c6a328e5dd2d43133");

    // SM12: the core's 200 OK goes back to the UE without our Via, byte for byte as captured
    const auto ok = load(4);
    MessageWriter core_ok(ok.message);
    ASSERT_TRUE(core_ok.prepend_via(pcscf_via));
    const auto sm12 = test::parsed(core_ok.write(), Framing::stream);
    MessageWriter back(sm12);
    ASSERT_TRUE(back.remove_top_via());
    EXPECT_EQ(back.write(), ok.text);
}

}  // namespace
}  // namespace pcscf::sip
