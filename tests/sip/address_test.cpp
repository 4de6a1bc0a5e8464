// URIs, name-addr / addr-spec, address lists and Contact.

#include <gtest/gtest.h>

#include "sip/name_addr.hpp"
#include "sip/uri.hpp"
#include "test_util.hpp"

namespace pcscf::sip {
namespace {

TEST(Uri, SipUriParts) {
    auto u = parse_uri("sip:alice:secret@[2001:db8::1]:5070;transport=tcp;lr?subject=x&to=y");
    ASSERT_TRUE(u) << u.error().message;
    EXPECT_EQ(u->scheme, UriScheme::sip);
    EXPECT_EQ(u->user, "alice");
    EXPECT_EQ(u->password, "secret");
    EXPECT_EQ(u->host.text, "[2001:db8::1]");
    EXPECT_EQ(u->host.kind, HostKind::ipv6);
    EXPECT_EQ(u->host.address(), "2001:db8::1");
    EXPECT_EQ(u->port, 5070);
    ASSERT_EQ(u->params.size(), 2u);
    EXPECT_EQ(find_param(u->params, "TRANSPORT")->value, "tcp");
    EXPECT_FALSE(find_param(u->params, "lr")->has_value);
    EXPECT_EQ(u->headers, "subject=x&to=y");

    auto plain = parse_uri("SIPS:ims.mnc01.mcc001.3gppnetwork.org");
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->scheme, UriScheme::sips);
    EXPECT_EQ(plain->user, "");
    EXPECT_EQ(plain->host.kind, HostKind::name);
    EXPECT_FALSE(plain->port);

    auto v4 = parse_uri("sip:001010123456789@192.0.2.1");
    ASSERT_TRUE(v4);
    EXPECT_EQ(v4->host.kind, HostKind::ipv4);
    EXPECT_EQ(v4->user, "001010123456789");
}

TEST(Uri, TelAndOtherSchemes) {
    auto tel = parse_uri("tel:+1-201-555-0123;phone-context=ims.example.com");
    ASSERT_TRUE(tel) << tel.error().message;
    EXPECT_EQ(tel->scheme, UriScheme::tel);
    EXPECT_EQ(tel->user, "+1-201-555-0123");
    EXPECT_EQ(find_param(tel->params, "phone-context")->value, "ims.example.com");

    auto other = parse_uri("urn:gsma:imei:35910506-000422-0");
    ASSERT_TRUE(other);
    EXPECT_EQ(other->scheme, UriScheme::other);
    EXPECT_EQ(other->scheme_name, "urn");
    EXPECT_EQ(other->opaque, "gsma:imei:35910506-000422-0");
    EXPECT_TRUE(parse_uri("soap.beep://192.0.2.103:3002"));
}

TEST(Uri, UnusualButValidCharacters) {
    // RFC 4475 3.1.1.2 / 3.1.1.3 / 3.1.1.9: user-unreserved characters, escapes, ';' in user
    EXPECT_TRUE(parse_uri(
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com"));
    EXPECT_TRUE(parse_uri("sip:sips%3Auser%40example.com@example.net"));
    EXPECT_TRUE(parse_uri("sip:null-%00-null@example.com"));
    auto semi = parse_uri("sip:user;par=u%40example.net@example.com");
    ASSERT_TRUE(semi);
    EXPECT_EQ(semi->user, "user;par=u%40example.net");
    EXPECT_TRUE(parse_uri("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31"));
    EXPECT_TRUE(parse_uri("sip:host.example.com."));  // fully qualified, trailing dot
}

TEST(Uri, MalformedUris) {
    const std::pair<std::string_view, std::string_view> bad[] = {
        {"", "has no valid scheme"},
        {"alice@example.com", "has no valid scheme"},
        {"<sip:a@b>", "has no valid scheme"},
        {" sip:a@b", "has no valid scheme"},
        {"1sip:a@b", "has no valid scheme"},
        {"sip:", "expected a host"},
        {"sip:@example.com", "has an empty user part"},
        {"sip:a@", "expected a host"},
        {"sip:a@b:0", "URI port is 0"},
        {"sip:a@b:70000", "URI port '70000' exceeds 65535"},
        {"sip:a@b:", "URI port is empty"},
        {"sip:a@[2001::1", "IPv6 reference without ']'"},
        {"sip:a@[2001::g]", "invalid IPv6 address '[2001::g]'"},
        {"sip:a@[192.0.2.1]", "invalid IPv6 address"},
        {"sip:a@999.0.2.1", "neither a name nor an IPv4 address"},
        {"sip:a@1.2.3", "neither a name nor an IPv4 address"},
        {"sip:a@-host.example.com", "invalid host name"},
        {"sip:a@host..example.com", "invalid host name"},
        {"sip:a@b;;lr", "has an empty parameter name"},
        {"sip:a@b;lr;lr", "has parameter 'lr' twice"},
        {"sip:a@b;transport=", "has '=' but no value"},
        {"sip:a@b?", "empty header part"},
        {"sip:a%4@b", "URI user: invalid %-escape '%4'"},
        {"sip:a%zz@b", "invalid %-escape"},
        {"sip:a b@c", "URI user part has invalid character ' '"},
        {"sip:a@b c", "unexpected ' c'"},
        {"sip:a@b>", "unexpected '>'"},
        {"sip:a\"@b", "invalid character '\"'"},
        {"tel:", "has no number"},
        {"tel:+1 555", "unexpected ' 555'"},
        {"http:", "is empty after its scheme"},
        {"http://a b", "contains ' '"},
        {"http://a<b", "contains '<'"},
    };
    for (const auto& [input, part] : bad) {
        EXPECT_TRUE(test::fails_with(parse_uri(input), part)) << input;
    }
}

TEST(Uri, TooManyParameters) {
    std::string uri = "sip:a@b";
    for (int i = 0; i < 65; ++i) uri += ";p" + std::to_string(i);
    auto r = parse_uri(uri);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::too_large);
}

TEST(NameAddr, Forms) {
    auto quoted = parse_name_addr(R"("Alice \"A\"" <sip:alice@example.com;lr>;tag=abc;expires=600000)");
    ASSERT_TRUE(quoted) << quoted.error().message;
    EXPECT_EQ(quoted->display_name, R"(Alice \"A\")");
    EXPECT_TRUE(quoted->display_quoted);
    EXPECT_TRUE(quoted->angle_brackets);
    EXPECT_EQ(quoted->uri.user, "alice");
    EXPECT_EQ(quoted->uri.params.size(), 1u);  // lr is a URI parameter here
    EXPECT_EQ(quoted->tag(), "abc");
    EXPECT_EQ(find_param(quoted->params, "expires")->value, "600000");

    auto tokens = parse_name_addr("A. G. Bell<sip:agb@example.com>");
    ASSERT_TRUE(tokens) << tokens.error().message;
    EXPECT_EQ(tokens->display_name, "A. G. Bell");

    auto spec = parse_name_addr(" sip:bob@example.com ;   tag    = 1918181833n ");
    ASSERT_TRUE(spec) << spec.error().message;
    EXPECT_FALSE(spec->angle_brackets);
    EXPECT_TRUE(spec->uri.params.empty());  // addr-spec: ;params belong to the header
    EXPECT_EQ(spec->tag(), "1918181833n");

    auto seed = parse_name_addr(
        "<sip:001010123456789@[2001::1:d1ae:bb37:d9c9:81d0]:39003>;+g.3gpp.smsip;"
        "+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel\";video;expires=600000;"
        "+sip.instance=\"<urn:gsma:imei:35910506-000422-0>\";reg-id=1");
    ASSERT_TRUE(seed) << seed.error().message;
    EXPECT_EQ(seed->params.size(), 6u);
    EXPECT_EQ(find_param(seed->params, "+sip.instance")->value, "<urn:gsma:imei:35910506-000422-0>");
    EXPECT_EQ(seed->uri.port, 39003);

    EXPECT_TRUE(parse_name_addr("isbn:2983792873"));
    EXPECT_TRUE(parse_name_addr("<http://www.example.com>;tag=3234233"));
}

TEST(NameAddr, MalformedAddresses) {
    const std::pair<std::string_view, std::string_view> bad[] = {
        {"", "empty address"},
        {"\"Mr. J. User <sip:j.user@example.com>", "unterminated quoted string"},
        {"Bell, Alexander <sip:a.g.bell@example.com>", "display name has invalid character ','"},
        {"\"Watson\" < sip:t.watson@example.org >", "has no valid scheme"},
        {"<sip:a@b", "'<' without '>'"},
        {"\"x\" y <sip:a@b>", "expected '<' after the display name"},
        {"sip:user@example.com?Route=%3Csip:sip.example.com%3E", "must be enclosed in <>"},
        {"<sip:a@b>;;", "expected a parameter name"},
        {"<sip:a@b>;tag=1;tag=2", "duplicate parameter 'tag'"},
        {"<sip:a@b>;tag=", "has '=' but no value"},
        {"<sip:a@b> junk", "unexpected 'junk'"},
        {"<sip:a@b>;p=\"open", "unterminated quoted string"},
        {"sip:a@b junk", "unexpected 'junk'"},
    };
    for (const auto& [input, part] : bad) {
        EXPECT_TRUE(test::fails_with(parse_name_addr(input), part)) << input;
    }
}

TEST(NameAddr, ListsAndAngleRequirement) {
    auto routes =
        parse_name_addr_list("<sip:[2001:0:0:1::2]:5060;lr>, <sip:scscf.example.com;lr>", AddrForm::name_addr_only);
    ASSERT_TRUE(routes) << routes.error().message;
    ASSERT_EQ(routes->size(), 2u);
    EXPECT_EQ((*routes)[0].uri.host.kind, HostKind::ipv6);
    EXPECT_EQ((*routes)[1].uri.host.text, "scscf.example.com");

    auto bare = parse_name_addr_list("sip:pcscf.example.com;lr", AddrForm::name_addr_only);
    ASSERT_FALSE(bare);
    EXPECT_NE(bare.error().message.find("must be enclosed in <>"), std::string::npos);
    EXPECT_FALSE(parse_name_addr_list("<sip:a@b>,", AddrForm::any));
}

TEST(Contact, StarAndParameterBounds) {
    auto star = parse_contact_list(" * ");
    ASSERT_TRUE(star);
    EXPECT_TRUE(star->star);
    EXPECT_TRUE(star->contacts.empty());

    auto two = parse_contact_list("<sip:a@h1>;expires=3600;q=0.7, \"B\" <sip:b@h2>");
    ASSERT_TRUE(two) << two.error().message;
    EXPECT_EQ(two->contacts.size(), 2u);

    const std::pair<std::string_view, std::string_view> bad[] = {
        {"<sip:a@h>;expires=280297596632815", "Contact parameter expires: expires value"},
        {"<sip:a@h>;expires=soon", "is not a decimal number"},
        {"<sip:a@h>;q=2", "Contact parameter q: q-value '2'"},
        {"*, <sip:a@h>", "has no valid scheme"},
    };
    for (const auto& [input, part] : bad) {
        EXPECT_TRUE(test::fails_with(parse_contact_list(input), part)) << input;
    }
}

}  // namespace
}  // namespace pcscf::sip
