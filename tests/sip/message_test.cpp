// Message parser: start lines, header index, compact forms, folding, body framing and every
// malformed input we could think of (each must give an error naming the problem).

#include <gtest/gtest.h>

#include "sip/message.hpp"
#include "test_util.hpp"

namespace pcscf::sip {
namespace {

using test::crlf;

// CRLF text kept alive for the Message that points into it.
std::string_view kcrlf(std::string_view text) { return test::keep(crlf(text)); }

const std::string register_text = crlf(
    "REGISTER sip:ims.example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1\n"
    "v: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK2\n"
    "Max-Forwards: 70\n"
    "f: <sip:alice@ims.example.com>;tag=1\n"
    "TO: <sip:alice@ims.example.com>\n"
    "i: abc@host\n"
    "CSeq: 1 REGISTER\n"
    "X-Custom: one\n"
    "Security-Client: ipsec-3gpp;alg=hmac-md5-96;spi-c=1;spi-s=2;port-c=3;port-s=4,\n"
    "  ipsec-3gpp;alg=hmac-sha-1-96;spi-c=1;spi-s=2;port-c=3;port-s=4\n"
    "x-custom: two\n"
    "l: 4\n"
    "\n"
    "body");

TEST(Message, ParsesRequestLineAndIndexesHeadersByKind) {
    auto m = parse_message(register_text, Framing::datagram);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_TRUE(m->is_request());
    EXPECT_EQ(m->method(), "REGISTER");
    EXPECT_EQ(m->request_uri(), "sip:ims.example.com");
    EXPECT_EQ(m->version(), "SIP/2.0");
    EXPECT_EQ(m->status_code(), 0);
    EXPECT_EQ(m->headers().size(), 11u);

    EXPECT_EQ(m->count(HeaderKind::via), 2u);  // "Via" and compact "v"
    std::vector<std::string_view> via_values;
    for (const auto& h : m->all(HeaderKind::via)) via_values.push_back(h.value);
    EXPECT_EQ(via_values, (std::vector<std::string_view>{"SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1",
                                                         "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK2"}));
    ASSERT_NE(m->first(HeaderKind::from), nullptr);
    EXPECT_EQ(m->first(HeaderKind::from)->name, "f");
    EXPECT_EQ(m->first(HeaderKind::to)->name, "TO");
    EXPECT_EQ(m->first(HeaderKind::call_id)->value, "abc@host");
    EXPECT_EQ(m->first(HeaderKind::call_id)->line, 7u);
    EXPECT_EQ(m->first(HeaderKind::contact), nullptr);
    EXPECT_TRUE(m->all(HeaderKind::contact).empty());

    // unknown headers are kept by name, found case-insensitively
    EXPECT_EQ(m->count(HeaderKind::other), 2u);
    ASSERT_NE(m->find("x-CUSTOM"), nullptr);
    EXPECT_EQ(m->find("x-CUSTOM")->value, "one");
    EXPECT_EQ(m->find("Call-Id"), m->first(HeaderKind::call_id));
    EXPECT_EQ(m->find("Nope"), nullptr);

    // folded value kept whole; the raw field includes its CRLF
    const auto* sc = m->first(HeaderKind::security_client);
    ASSERT_NE(sc, nullptr);
    EXPECT_NE(sc->value.find(",\r\n  ipsec-3gpp"), std::string_view::npos);
    EXPECT_TRUE(sc->raw.ends_with("port-s=4\r\n"));
    EXPECT_EQ(m->first(HeaderKind::other)->line, 9u);

    EXPECT_EQ(m->content_length(), 4u);
    EXPECT_EQ(m->body(), "body");
    EXPECT_EQ(m->bytes(), register_text);
}

TEST(Message, ParsesStatusLine) {
    auto m = parse_message(kcrlf("SIP/2.0 401 Unauthorized\nContent-Length: 0\n\n"), Framing::stream);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_FALSE(m->is_request());
    EXPECT_EQ(m->status_code(), 401);
    EXPECT_EQ(m->reason(), "Unauthorized");
    EXPECT_EQ(m->method(), "");

    auto empty_reason = parse_message(kcrlf("SIP/2.0 100 \nl: 0\n\n"), Framing::stream);
    ASSERT_TRUE(empty_reason);
    EXPECT_EQ(empty_reason->reason(), "");
    EXPECT_TRUE(parse_message(kcrlf("SIP/2.0 180\nl: 0\n\n"), Framing::stream));
    EXPECT_TRUE(parse_message(kcrlf("sip/2.0 699 Whatever\nl: 0\n\n"), Framing::stream));
}

TEST(Message, CompactFormsMapToTheirKinds) {
    const std::pair<std::string_view, HeaderKind> forms[] = {
        {"v", HeaderKind::via},
        {"f", HeaderKind::from},
        {"t", HeaderKind::to},
        {"i", HeaderKind::call_id},
        {"m", HeaderKind::contact},
        {"l", HeaderKind::content_length},
        {"c", HeaderKind::content_type},
        {"e", HeaderKind::content_encoding},
        {"k", HeaderKind::supported},
        {"s", HeaderKind::subject},
        {"o", HeaderKind::event},
        {"u", HeaderKind::allow_events},
        {"a", HeaderKind::accept_contact},
        {"r", HeaderKind::refer_to},
        {"b", HeaderKind::referred_by},
        {"x", HeaderKind::session_expires},
        {"K", HeaderKind::supported},
        {"q", HeaderKind::other},
        {"1", HeaderKind::other},
        {"security-VERIFY", HeaderKind::security_verify},
        {"p-associated-uri", HeaderKind::p_associated_uri},
        {"WWW-authenticate", HeaderKind::www_authenticate},
        {"Vias", HeaderKind::other},
    };
    for (const auto& [name, kind] : forms) EXPECT_EQ(header_kind(name), kind) << name;
    EXPECT_EQ(header_name(HeaderKind::call_id), "Call-ID");
    EXPECT_EQ(header_name(HeaderKind::www_authenticate), "WWW-Authenticate");
    EXPECT_EQ(header_name(HeaderKind::other), "");
}

TEST(Message, SkipsLeadingCrlfAndAllowsSpaceBeforeColonAndEmptyValues) {
    auto m = parse_message(kcrlf("\n\nOPTIONS sip:a@b SIP/2.0\nSubject  :\nX:\t value \t\nl:0\n\n"), Framing::stream);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m->method(), "OPTIONS");
    EXPECT_EQ(m->first(HeaderKind::subject)->value, "");
    EXPECT_EQ(m->find("X")->value, "value");
    EXPECT_EQ(m->first(HeaderKind::subject)->line, 4u);
}

TEST(Message, BodyFramingDependsOnTransport) {
    // datagram: no Content-Length means the rest; bytes beyond it are ignored (RFC 3261 18.3)
    auto rest = parse_message(kcrlf("MESSAGE sip:a@b SIP/2.0\n\nhello"), Framing::datagram);
    ASSERT_TRUE(rest);
    EXPECT_EQ(rest->body(), "hello");
    EXPECT_FALSE(rest->content_length());
    auto extra = parse_message(kcrlf("MESSAGE sip:a@b SIP/2.0\nl: 2\n\nhello"), Framing::datagram);
    ASSERT_TRUE(extra);
    EXPECT_EQ(extra->body(), "he");
    EXPECT_EQ(extra->bytes().size(), crlf("MESSAGE sip:a@b SIP/2.0\nl: 2\n\nhe").size());

    auto no_length = parse_message(kcrlf("MESSAGE sip:a@b SIP/2.0\n\nhello"), Framing::stream);
    ASSERT_FALSE(no_length);
    EXPECT_NE(no_length.error().message.find("no Content-Length"), std::string::npos);
    auto after = parse_message(kcrlf("MESSAGE sip:a@b SIP/2.0\nl: 2\n\nhello"), Framing::stream);
    ASSERT_FALSE(after);
    EXPECT_NE(after.error().message.find("3 bytes after the body"), std::string::npos);
}

struct Bad {
    std::string name;
    std::string input;
    std::string message;  // expected part of the error
    ErrorKind kind = ErrorKind::malformed;
};

std::string with_line(std::string_view start, std::string_view header) {
    return std::string(start) + "\r\n" + std::string(header) + "\r\nl: 0\r\n\r\n";
}

std::vector<Bad> malformed_messages() {
    const std::string req = "INVITE sip:a@example.com SIP/2.0";
    std::vector<Bad> v = {
        {"empty", "", "empty message"},
        {"only_crlf", "\r\n\r\n", "empty message"},
        {"truncated_start_line", "INVITE sip:a@example.com SIP/2.0", "line 1: message ends inside"},
        {"truncated_in_headers", req + "\r\nVia: SIP/2.0/UDP h\r\n", "no empty line"},
        {"truncated_mid_header", req + "\r\nVia: SIP/2.0/UD", "no empty line"},
        {"truncated_after_cr", req + "\r\nVia: x\r", "no empty line"},
        {"missing_colon", with_line(req, "Via SIP/2.0/UDP h"),
         "line 2: header line 'Via SIP/2.0/UDP h\\x0d\\x0a' has no ':'"},
        {"empty_name", with_line(req, ": value"), "line 2: invalid header name ''"},
        {"space_in_name", with_line(req, "Call ID: x"), "invalid header name 'Call ID'"},
        {"continuation_first", with_line(req, " Via: x"), "line 2: continuation line"},
        {"bare_lf", "INVITE sip:a@b SIP/2.0\nVia: x\n\n", "LF without CR"},
        {"bare_lf_in_header", req + "\r\nVia: x\nl: 0\r\n\r\n", "line 2: LF without CR"},
        {"bare_cr", req + "\r\nVia: x\ry\r\nl: 0\r\n\r\n", "line 2: CR not followed by LF"},
        {"nul_in_start_line", test::bin("INVITE sip:a@b\0 SIP/2.0\r\nl: 0\r\n\r\n"),
         "line 1: control character '\\x00'"},
        {"nul_in_value", with_line(req, test::bin("Subject: a\0b")),
         "line 2: control character '\\x00' in a header field"},
        {"nul_in_name", with_line(req, test::bin("Sub\0ject: ab")), "control character"},
        {"del_in_value", with_line(req, "Subject: a\x7f"), "control character '\\x7f'"},
        {"escape_in_value", with_line(req, "Subject: \x1b[31m"), "control character '\\x1b'"},
        {"no_sp_in_start_line", "INVITE\r\nl: 0\r\n\r\n", "has no SP separated elements"},
        {"no_version", "INVITE sip:a@b\r\nl: 0\r\n\r\n", "has no SIP version"},
        {"double_sp", "INVITE  sip:a@b SIP/2.0\r\nl: 0\r\n\r\n", "empty Request-URI"},
        {"trailing_sp", "INVITE sip:a@b SIP/2.0 \r\nl: 0\r\n\r\n", "extra text after the SIP version"},
        {"tab_in_request_line", "INVITE sip:a@b\tx SIP/2.0\r\nl: 0\r\n\r\n", "contains a tab"},
        {"method_not_token", "INV@ITE sip:a@b SIP/2.0\r\nl: 0\r\n\r\n", "method 'INV@ITE' is not a token"},
        {"uri_in_angles", "INVITE <sip:a@b> SIP/2.0\r\nl: 0\r\n\r\n", "has no valid scheme"},
        {"uri_without_scheme", "INVITE a@b SIP/2.0\r\nl: 0\r\n\r\n", "has no valid scheme"},
        {"version_garbage", "INVITE sip:a@b SIP/two\r\nl: 0\r\n\r\n", "invalid SIP version 'SIP/two'"},
        {"version_http", "INVITE sip:a@b HTTP/1.1\r\nl: 0\r\n\r\n", "invalid SIP version"},
        {"version_7", "INVITE sip:a@b SIP/7.0\r\nl: 0\r\n\r\n", "unsupported SIP version 'SIP/7.0'",
         ErrorKind::unsupported},
        {"response_version_1", "SIP/1.0 200 OK\r\nl: 0\r\n\r\n", "unsupported SIP version", ErrorKind::unsupported},
        {"status_short", "SIP/2.0 20 OK\r\nl: 0\r\n\r\n", "status code '20' is not 100..699"},
        {"status_long", "SIP/2.0 4294967301 big\r\nl: 0\r\n\r\n", "status code '4294967301'"},
        {"status_099", "SIP/2.0 099 x\r\nl: 0\r\n\r\n", "is not 100..699"},
        {"status_700", "SIP/2.0 700 x\r\nl: 0\r\n\r\n", "is not 100..699"},
        {"status_letters", "SIP/2.0 2x0 x\r\nl: 0\r\n\r\n", "is not 100..699"},
        {"cl_not_number", req + "\r\nContent-Length: abc\r\n\r\n",
         "line 2: header 'Content-Length': Content-Length 'abc' is not a decimal number"},
        {"cl_negative", req + "\r\nContent-Length: -1\r\n\r\n", "Content-Length '-1' is negative"},
        {"cl_huge", req + "\r\nl: 99999999999999999999999\r\n\r\n",
         "line 2: header 'l': Content-Length '99999999999999999999999' exceeds 65535", ErrorKind::too_large},
        {"cl_over_max", req + "\r\nl: 65536\r\n\r\n", "exceeds 65535", ErrorKind::too_large},
        {"cl_empty", req + "\r\nContent-Length:\r\n\r\n", "Content-Length is empty"},
        {"cl_list", req + "\r\nContent-Length: 0, 0\r\n\r\n", "is not a decimal number"},
        {"cl_twice", req + "\r\nl: 0\r\nContent-Length: 0\r\n\r\n",
         "line 3: header 'Content-Length': Content-Length appears more than once"},
        {"body_shorter", req + "\r\nContent-Length: 10\r\n\r\nshort",
         "body of 5 bytes is shorter than Content-Length 10"},
    };
    return v;
}

class Malformed : public ::testing::TestWithParam<Bad> {};

TEST_P(Malformed, IsRejectedWithAClearError) {
    const auto& b = GetParam();
    auto m = parse_message(b.input, Framing::datagram);
    ASSERT_TRUE(test::fails_with(m, b.message)) << b.name;
    EXPECT_EQ(m.error().kind, b.kind) << m.error().message;
}

INSTANTIATE_TEST_SUITE_P(Table, Malformed, ::testing::ValuesIn(malformed_messages()),
                         [](const auto& info) { return info.param.name; });

TEST(Message, LimitsAreEnforced) {
    const std::string start = "OPTIONS sip:a@b SIP/2.0\r\n";

    std::string many = start;
    for (int i = 0; i < 10000; ++i) many += "X: y\r\n";
    many += "\r\n";
    auto too_many = parse_message(many, Framing::datagram);
    ASSERT_FALSE(too_many);
    EXPECT_EQ(too_many.error().kind, ErrorKind::too_large);
    EXPECT_NE(too_many.error().message.find("line 258: more than 256 header fields"), std::string::npos)
        << too_many.error().message;

    std::string exactly = start;
    for (int i = 0; i < 256; ++i) exactly += "X: y\r\n";
    EXPECT_TRUE(parse_message(test::keep(exactly + "\r\n"), Framing::datagram));

    const std::string long_line = start + "Subject: " + std::string(9000, 'a') + "\r\n\r\n";
    auto too_long = parse_message(long_line, Framing::datagram);
    ASSERT_FALSE(too_long);
    EXPECT_EQ(too_long.error().kind, ErrorKind::too_large);
    EXPECT_NE(too_long.error().message.find("line 2: header field longer than 8192 bytes"), std::string::npos);

    const std::string long_start = "OPTIONS sip:" + std::string(9000, 'a') + "@b SIP/2.0\r\n\r\n";
    auto start_too_long = parse_message(long_start, Framing::datagram);
    ASSERT_FALSE(start_too_long);
    EXPECT_NE(start_too_long.error().message.find("line 1: line longer than 8192 bytes"), std::string::npos);

    // folding cannot be used to get around the field limit
    std::string folded = start + "Subject: a";
    for (int i = 0; i < 1000; ++i) folded += "\r\n " + std::string(10, 'b');
    auto too_folded = parse_message(test::keep(folded + "\r\n\r\n"), Framing::datagram);
    ASSERT_FALSE(too_folded);
    EXPECT_EQ(too_folded.error().kind, ErrorKind::too_large);

    const std::string big(70000, 'a');
    auto too_big = parse_message(big, Framing::datagram);
    ASSERT_FALSE(too_big);
    EXPECT_EQ(too_big.error().message, "message of 70000 bytes exceeds the maximum of 65535");

    // the bound is exact: a field of max_field bytes (CRLF aside) passes, one more does not
    const Limits narrow{.max_field = 30};
    const std::string field30 = "Subject: " + std::string(21, 'a');
    EXPECT_TRUE(parse_message(test::keep(start + field30 + "\r\n\r\n"), Framing::datagram, narrow));
    auto field31 = parse_message(test::keep(start + field30 + "a\r\n\r\n"), Framing::datagram, narrow);
    EXPECT_TRUE(test::fails_with(field31, "line 2: header field longer than 30 bytes"));
    // a control character after a long run of plain text is still seen
    EXPECT_TRUE(test::fails_with(
        parse_message(test::keep(start + "Subject: " + std::string(5000, 'x') + test::bin("\0") + "\r\n\r\n"),
                      Framing::datagram),
        "line 2: control character '\\x00' in a header field"));

    Limits small{.max_message = 100, .max_headers = 2, .max_field = 30};
    EXPECT_FALSE(parse_message(test::keep(start + "A: 1\r\nB: 2\r\nC: 3\r\n\r\n"), Framing::datagram, small));
    EXPECT_TRUE(parse_message(test::keep(start + "A: 1\r\nB: 2\r\n\r\n"), Framing::datagram, small));
}

TEST(Message, ControlCharactersAreAllowedOnlyAsQuotedPairs) {
    const auto ok = test::bin("OPTIONS sip:a@b SIP/2.0\r\nTo: \"NUL:\\\0 BEL:\\\x07\" <sip:a@b>\r\n\r\n");
    auto m = parse_message(ok, Framing::datagram);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m->first(HeaderKind::to)->value.size(), 25u);

    const auto unquoted = test::bin("OPTIONS sip:a@b SIP/2.0\r\nTo: \\\0 <sip:a@b>\r\n\r\n");
    EXPECT_FALSE(parse_message(unquoted, Framing::datagram));
}

TEST(Message, HeaderFoldingIsTolerated) {
    auto m =
        parse_message(kcrlf("OPTIONS sip:a@b SIP/2.0\nSubject: first\n\t second\n   third\nl: 0\n\n"), Framing::stream);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m->first(HeaderKind::subject)->value, "first\r\n\t second\r\n   third");
    EXPECT_EQ(m->first(HeaderKind::content_length)->line, 5u);
}

}  // namespace
}  // namespace pcscf::sip
