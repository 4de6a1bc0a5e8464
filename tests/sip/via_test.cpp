// Via: sent-protocol, sent-by (IPv6 included), branch / received / rport, lists.

#include <gtest/gtest.h>

#include "sip/via.hpp"
#include "test_util.hpp"

namespace pcscf::sip {
namespace {

TEST(Via, SeedIpv6TcpHop) {
    auto v = parse_via("SIP/2.0/TCP [2001::1:d1ae:bb37:d9c9:81d0]:5060;branch=z9hG4bK370690ecb-643c9869");
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(v->transport, Transport::tcp);
    EXPECT_EQ(v->host.text, "[2001::1:d1ae:bb37:d9c9:81d0]");
    EXPECT_EQ(v->host.kind, HostKind::ipv6);
    EXPECT_EQ(v->port, 5060);
    EXPECT_EQ(v->branch, "z9hG4bK370690ecb-643c9869");
    EXPECT_FALSE(v->has_rport);
}

TEST(Via, ParametersAndTransports) {
    auto v = parse_via("SIP/2.0/udp 192.0.2.1;rport;received=[2001:db8::9];maddr=224.2.0.1;ttl=16;x=\"y\"");
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(v->transport, Transport::udp);
    EXPECT_EQ(v->host.kind, HostKind::ipv4);
    EXPECT_FALSE(v->port);
    EXPECT_TRUE(v->has_rport);
    EXPECT_FALSE(v->rport);
    EXPECT_EQ(v->received, "[2001:db8::9]");
    EXPECT_EQ(v->params.size(), 5u);

    auto r = parse_via("SIP/2.0/UDP h.example.com:5080;received=2001:db8::9;rport=38003;branch=z9hG4bKx");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->rport, 38003);
    EXPECT_EQ(r->received, "2001:db8::9");

    const std::pair<std::string_view, Transport> transports[] = {
        {"TCP", Transport::tcp}, {"tls", Transport::tls}, {"SCTP", Transport::sctp},
        {"WS", Transport::ws},   {"wss", Transport::wss}, {"UNKNOWN", Transport::other}};
    for (const auto& [name, t] : transports) {
        const std::string text = "SIP/2.0/" + std::string(name) + " h";
        auto x = parse_via(text);
        ASSERT_TRUE(x) << name;
        EXPECT_EQ(x->transport, t);
        EXPECT_EQ(x->transport_name, name);
    }
}

TEST(Via, WhiteSpaceAndFoldingEverywhereTheGrammarAllows) {
    auto v = parse_via("SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8  ");
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(v->host.text, "spindle.example.com");
    EXPECT_EQ(v->branch, "z9hG4bK9ikj8");
    auto folded = parse_via("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw");
    ASSERT_TRUE(folded) << folded.error().message;
    EXPECT_EQ(folded->host.text, "192.0.2.2");
}

TEST(Via, Lists) {
    auto list =
        parse_via_list("SIP/2.0/UDP a.example.com;branch=z9hG4bK1 ,\r\n SIP/2.0/TCP [::1]:5061;branch=z9hG4bK2");
    ASSERT_TRUE(list) << list.error().message;
    ASSERT_EQ(list->size(), 2u);
    EXPECT_EQ((*list)[1].port, 5061);
    EXPECT_EQ((*list)[1].host.address(), "::1");
}

TEST(Via, MalformedVias) {
    const std::pair<std::string_view, std::string_view> bad[] = {
        {"", "does not start with SIP/2.0/<transport>"},
        {"SIP/2.0", "has no transport"},
        {"SIP/2.0/", "has no transport"},
        {"SIP/2.0/UDP", "needs white space before sent-by"},
        {"SIP/2.0/UDP ", "needs white space before sent-by"},
        {"SIP/2.0/UDP ;branch=x", "Via sent-by: expected a host"},
        {"SIP/3.0/UDP h", "is not SIP/2.0"},
        {"HTTP/2.0/UDP h", "is not SIP/2.0"},
        {"SIP/2.0/UDP h:0", "Via port is 0"},
        {"SIP/2.0/UDP h:70000", "Via port '70000' exceeds 65535"},
        {"SIP/2.0/UDP h:", "Via port is empty"},
        {"SIP/2.0/UDP [2001::1", "IPv6 reference without ']'"},
        {"SIP/2.0/UDP [fe80::zz]", "invalid IPv6 address"},
        {"SIP/2.0/UDP 192.0.2.15;;", "expected a parameter name"},
        {"SIP/2.0/UDP h;branch=a;branch=b", "duplicate parameter 'branch'"},
        {"SIP/2.0/UDP h;branch", "Via branch must be a token"},
        {"SIP/2.0/UDP h;branch=\"x\"", "Via branch must be a token"},
        {"SIP/2.0/UDP h;received=host.example.com", "received='host.example.com' is not an IP address"},
        {"SIP/2.0/UDP h;received", "is not an IP address"},
        {"SIP/2.0/UDP h;rport=0", "Via rport is 0"},
        {"SIP/2.0/UDP h;rport=99999", "exceeds 65535"},
        {"SIP/2.0/UDP h;ttl=256", "Via ttl '256' exceeds 255"},
        {"SIP/2.0/UDP h extra", "unexpected 'extra' after sent-by"},
        {"SIP/2.0/UDP h;x=1 y", "unexpected 'y' after sent-by"},
    };
    for (const auto& [input, part] : bad) {
        EXPECT_TRUE(test::fails_with(parse_via(input), part)) << input;
    }
    // in a list, the error names the element
    EXPECT_TRUE(test::fails_with(parse_via_list("SIP/2.0/UDP a, SIP/2.0/UDP b:0"), "Via 2: Via port is 0"));
    // RFC 4475 3.1.2.1: extraneous separators
    auto junk = parse_via_list("SIP/2.0/UDP 192.0.2.15;;,;,,");
    ASSERT_FALSE(junk);
    EXPECT_NE(junk.error().message.find("empty element"), std::string::npos);
}

}  // namespace
}  // namespace pcscf::sip
