// Typed access to a message's headers: values gathered across lines, single-valued headers
// checked, errors carrying line and header name, and validate().

#include <gtest/gtest.h>

#include "sip/accessors.hpp"
#include "test_util.hpp"

namespace pcscf::sip {
namespace {

using test::crlf;

const Message& parse(std::string text, Framing framing = Framing::datagram) {
    return test::parsed(std::move(text), framing);
}

const std::string base =
    "REGISTER sip:ims.example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1, SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK2\n"
    "v: SIP/2.0/TCP h3.example.com;branch=z9hG4bK3\n"
    "Max-Forwards: 70\n"
    "From: <sip:alice@ims.example.com>;tag=1\n"
    "To: <sip:alice@ims.example.com>\n"
    "Call-ID: abc@host\n"
    "CSeq: 1 REGISTER\n"
    "Expires: 600000\n"
    "Contact: <sip:alice@[2001:db8::1]:39003>;expires=600000\n"
    "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\n"
    "Route: <sip:p3.example.com;lr>\n"
    "Supported: path, sec-agree\n"
    "k: gruu\n"
    "Require: sec-agree\n"
    "Security-Client: ipsec-3gpp;alg=hmac-md5-96;spi-c=1;spi-s=2;port-c=3;port-s=4\n"
    "Security-Client: ipsec-3gpp;alg=hmac-sha-1-96;spi-c=1;spi-s=2;port-c=3;port-s=4\n"
    "Authorization: Digest username=\"u\", realm=\"r\", nonce=\"\", uri=\"sip:r\", response=\"\"\n"
    "Content-Length: 0\n";

std::string with(std::string_view extra_headers, std::string_view drop = "") {
    std::string text = base;
    if (!drop.empty()) {
        const auto at = text.find(std::string(drop) + ":");
        text.erase(at, text.find('\n', at) + 1 - at);
    }
    if (!extra_headers.empty()) text += std::string(extra_headers) + "\n";
    return crlf(text + "\n");
}

TEST(Accessors, ReadTheTypedValues) {
    const auto text = with("");
    const auto m = parse(text);
    auto all = vias(m);
    ASSERT_TRUE(all) << all.error().message;
    ASSERT_EQ(all->size(), 3u);
    EXPECT_EQ((*all)[2].transport, Transport::tcp);
    EXPECT_EQ(top_via(m)->branch, "z9hG4bK1");
    EXPECT_EQ(from(m)->tag(), "1");
    EXPECT_EQ(to(m)->uri.user, "alice");
    EXPECT_EQ(call_id(m).value(), "abc@host");
    EXPECT_EQ(cseq(m)->method, "REGISTER");
    EXPECT_EQ(expires(m).value(), 600000u);
    EXPECT_EQ(max_forwards(m).value(), 70u);
    EXPECT_EQ(contacts(m)->contacts.size(), 1u);
    EXPECT_EQ(name_addrs(m, HeaderKind::route)->size(), 3u);
    EXPECT_EQ(name_addrs(m, HeaderKind::path)->size(), 0u);
    EXPECT_EQ(option_tags(m, HeaderKind::supported)->size(), 3u);  // "Supported" and compact "k"
    EXPECT_TRUE(has_option_tag(m, HeaderKind::require, "SEC-AGREE"));
    EXPECT_FALSE(has_option_tag(m, HeaderKind::proxy_require, "sec-agree"));
    EXPECT_EQ(security_mechanisms(m, HeaderKind::security_client)->size(), 2u);  // two header lines
    EXPECT_TRUE(security_mechanisms(m, HeaderKind::security_verify)->empty());
    auto auth = auth_values(m, HeaderKind::authorization);
    ASSERT_TRUE(auth) << auth.error().message;
    ASSERT_EQ(auth->size(), 1u);
    EXPECT_EQ((*auth)[0].username(), "u");
    EXPECT_TRUE(validate(m)) << validate(m).error().message;
}

TEST(Accessors, AbsentOptionalHeaders) {
    const auto text = with("", "Expires");
    const auto m = parse(text);
    EXPECT_EQ(expires(m).value(), std::nullopt);
    const auto text2 = with("", "Max-Forwards");
    EXPECT_EQ(max_forwards(parse(text2)).value(), std::nullopt);
    const auto text3 = with("", "Contact");
    auto none = contacts(parse(text3));
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->star);
    EXPECT_TRUE(none->contacts.empty());
}

TEST(Accessors, ErrorsSayLineAndHeader) {
    struct Case {
        std::string extra;
        std::string drop;
        std::string message;
    };
    const Case cases[] = {
        {"Via: SIP/2.0/UDP h:0", "", "line 20: header 'Via': Via port is 0"},
        {"", "Via", "line 2: header 'v'"},  // the Via header removed: compact v still there
        {"f: <sip:b@h>;tag=2", "", "line 20: header 'f': 'From' appears 2 times, once allowed"},
        {"", "From", "missing 'From' header"},
        {"", "To", "missing 'To' header"},
        {"", "Call-ID", "missing 'Call-ID' header"},
        {"", "CSeq", "missing 'CSeq' header"},
        {"CSeq: 2 REGISTER", "", "'CSeq' appears 2 times"},
        {"Expires: 1", "", "'Expires' appears 2 times"},
        {"Max-Forwards: 1", "", "'Max-Forwards' appears 2 times"},
        {"Contact: *", "", "line 20: header 'Contact': 'Contact: *' must be the only Contact"},
        {"Route: sip:p4.example.com", "",
         "line 20: header 'Route': address 'sip:p4.example.com' must be enclosed in <>"},
        {"Require: a b", "", "line 20: header 'Require': option tag 'a b' is not a token"},
        {"Security-Client: ipsec-3gpp;alg=x", "",
         "line 20: header 'Security-Client': ipsec-3gpp mechanism has no spi-c"},
        {"Security-Client: digest, ipsec-3gpp;alg=hmac-md5-96;spi-c=0;spi-s=2;port-c=3;port-s=4", "",
         "line 20: header 'Security-Client': mechanism 2: ipsec-3gpp spi-c is 0, a reserved SPI"},
        {"Authorization: Digest", "",
         "line 20: header 'Authorization': authentication scheme 'Digest' has no parameters"},
    };
    for (const auto& c : cases) {
        const auto text = with(c.extra, c.drop);
        const auto m = parse(text);
        if (c.extra.starts_with("Security")) {
            EXPECT_TRUE(test::fails_with(security_mechanisms(m, HeaderKind::security_client), c.message))
                << c.extra << " / without " << c.drop;
            continue;
        }
        if (c.extra.starts_with("Authorization")) {
            EXPECT_TRUE(test::fails_with(auth_values(m, HeaderKind::authorization), c.message))
                << c.extra << " / without " << c.drop;
            continue;
        }
        if (c.drop == "Via") {
            // dropping "Via:" leaves the compact "v:" line, which is now line 2
            EXPECT_EQ(vias(m)->size(), 1u);
            EXPECT_EQ(m.first(HeaderKind::via)->line, 2u);
            continue;
        }
        EXPECT_TRUE(test::fails_with(validate(m), c.message)) << c.extra << " / without " << c.drop;
    }
}

TEST(Accessors, NoViaAtAll) {
    const auto m = parse(crlf("OPTIONS sip:a@b SIP/2.0\nl: 0\n\n"));
    EXPECT_EQ(vias(m).error().message, "missing 'Via' header");
    EXPECT_EQ(top_via(m).error().message, "missing 'Via' header");
    EXPECT_FALSE(name_addrs(m, HeaderKind::contact));  // not a <URI> list kind
}

TEST(Accessors, ValidateChecksRequestSpecifics) {
    // a minimal message with this start line and CSeq
    const auto message = [](std::string_view start, std::string_view cseq) -> const Message& {
        return parse(crlf(std::string(start) +
                          "\nVia: SIP/2.0/UDP h\nFrom: <sip:b@h>;tag=1\nTo: <sip:a@h>;tag=2\n"
                          "Call-ID: x\nCSeq: " +
                          std::string(cseq) + "\n\n"));
    };
    EXPECT_EQ(validate(message("OPTIONS sip:a@example.com SIP/2.0", "1 INVITE")).error().message,
              "CSeq method 'INVITE' differs from the request method 'OPTIONS'");
    EXPECT_TRUE(test::fails_with(validate(message("OPTIONS sip:a@example.com?Route=x SIP/2.0", "1 OPTIONS")),
                                 "carries headers"));
    EXPECT_EQ(validate(message("OPTIONS sip:a@example.com:0 SIP/2.0", "1 OPTIONS")).error().message,
              "Request-URI: URI port is 0, not a usable port");
    EXPECT_TRUE(validate(message("OPTIONS sip:a@example.com SIP/2.0", "1 OPTIONS")));
    // the CSeq method of a response is not compared
    EXPECT_TRUE(validate(message("SIP/2.0 200 OK", "1 INVITE")));
}

}  // namespace
}  // namespace pcscf::sip
