// CSeq, Call-ID, bounded integers, q-values, option tags and ports.

#include <gtest/gtest.h>

#include "sip/scalar.hpp"
#include "test_util.hpp"

namespace pcscf::sip {
namespace {

TEST(Scalar, CSeq) {
    EXPECT_EQ(parse_cseq("1 REGISTER").value(), (CSeq{1, "REGISTER"}));
    EXPECT_EQ(parse_cseq(" 0009\r\n  INVITE ").value(), (CSeq{9, "INVITE"}));
    EXPECT_EQ(parse_cseq("2147483647 X").value().number, 2147483647u);
    const std::pair<std::string_view, std::string_view> bad[] = {
        {"", "does not start with a sequence number"},
        {"REGISTER", "does not start with a sequence number"},
        {"-1 REGISTER", "does not start with a sequence number"},
        {"1REGISTER", "needs white space"},
        {"1", "needs white space"},
        {"1 ", "needs white space"},  // trailing white space is not part of the value
        {"2147483648 INVITE", "CSeq number '2147483648' exceeds 2147483647"},
        {"36893488147419103232 REGISTER", "exceeds"},
        {"1 REGISTER extra", "unexpected text after the method"},
        {"1 REG@ISTER", "unexpected text after the method"},
        {"1 @", "has no method"},
    };
    for (const auto& [input, part] : bad) EXPECT_TRUE(test::fails_with(parse_cseq(input), part)) << input;
}

TEST(Scalar, CallId) {
    EXPECT_EQ(parse_call_id(" 37067dd33-6b8b4567@2001::1:d1ae:bb37:d9c9:81d0 ").value(),
              "37067dd33-6b8b4567@2001::1:d1ae:bb37:d9c9:81d0");
    EXPECT_TRUE(parse_call_id("word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"));
    EXPECT_TRUE(test::fails_with(parse_call_id(""), "Call-ID is empty"));
    for (const std::string_view bad : {"a b", "a@", "@b", "a@b@c", "a;b", "a,b"})
        EXPECT_TRUE(test::fails_with(parse_call_id(bad), "is not word")) << bad;
}

TEST(Scalar, BoundedIntegers) {
    EXPECT_EQ(parse_expires("600000").value(), 600000u);
    EXPECT_EQ(parse_expires("4294967295").value(), 4294967295u);
    EXPECT_TRUE(test::fails_with(parse_expires("4294967296"), "expires value '4294967296' exceeds 4294967295"));
    EXPECT_TRUE(test::fails_with(parse_expires("10000000000000"), "exceeds"));
    EXPECT_TRUE(test::fails_with(parse_expires("1 hour"), "is not a decimal number"));
    EXPECT_TRUE(test::fails_with(parse_expires(""), "is empty"));

    EXPECT_EQ(parse_max_forwards("0068").value(), 68u);
    EXPECT_EQ(parse_max_forwards("0").value(), 0u);
    EXPECT_EQ(parse_max_forwards("255").value(), 255u);
    EXPECT_TRUE(test::fails_with(parse_max_forwards("256"), "Max-Forwards '256' exceeds 255"));
    EXPECT_TRUE(test::fails_with(parse_max_forwards("300"), "exceeds 255"));
    EXPECT_TRUE(test::fails_with(parse_max_forwards("-1"), "is negative"));

    EXPECT_EQ(parse_content_length(" 740 ", 65535).value(), 740u);
    EXPECT_TRUE(test::fails_with(parse_content_length("65536", 65535), "exceeds 65535"));
    EXPECT_EQ(parse_content_length("65536", 65535).error().kind, ErrorKind::too_large);
    EXPECT_EQ(parse_content_length("-999", 65535).error().kind, ErrorKind::malformed);
    EXPECT_TRUE(test::fails_with(parse_content_length("-999", 65535), "Content-Length '-999' is negative"));
    EXPECT_TRUE(test::fails_with(parse_content_length("1e3", 65535), "is not a decimal number"));

    EXPECT_EQ(parse_port("5060", "p").value(), 5060);
    EXPECT_EQ(parse_port("65535", "p").value(), 65535);
    EXPECT_TRUE(test::fails_with(parse_port("0", "port-c"), "port-c is 0"));
    EXPECT_TRUE(test::fails_with(parse_port("70000", "port-c"), "port-c '70000' exceeds 65535"));
    EXPECT_TRUE(test::fails_with(parse_port("", "port-c"), "port-c is empty"));
}

TEST(Scalar, QValue) {
    const std::pair<std::string_view, std::uint16_t> good[] = {
        {"0", 0},       {"0.", 0},   {"0.1", 100},  {"0.33", 330},   {"0.001", 1},
        {"0.999", 999}, {"1", 1000}, {"1.0", 1000}, {"1.000", 1000}, {" 0.5 ", 500}};
    for (const auto& [input, value] : good) EXPECT_EQ(parse_qvalue(input).value(), value) << input;
    for (const std::string_view bad : {"2", "1.001", "1.1", "0.1234", "-0.1", ".5", "0,5", "", "0.x", "01"})
        EXPECT_TRUE(test::fails_with(parse_qvalue(bad), "is not between 0 and 1")) << bad;
}

TEST(Scalar, OptionTags) {
    EXPECT_EQ(parse_option_tags("path,eventlist,sec-agree,gruu,outbound").value(),
              (std::vector<std::string_view>{"path", "eventlist", "sec-agree", "gruu", "outbound"}));
    EXPECT_EQ(parse_option_tags(" sec-agree ,\r\n 100rel").value(),
              (std::vector<std::string_view>{"sec-agree", "100rel"}));
    EXPECT_TRUE(parse_option_tags("").value().empty());
    EXPECT_TRUE(test::fails_with(parse_option_tags("a,,b"), "empty element"));
    EXPECT_TRUE(test::fails_with(parse_option_tags("sec agree"), "option tag 'sec agree' is not a token"));
    EXPECT_TRUE(test::fails_with(parse_option_tags("a;b"), "is not a token"));
    std::string many;
    for (int i = 0; i < 65; ++i) many += "t" + std::to_string(i) + ",";
    many.pop_back();
    EXPECT_TRUE(test::fails_with(parse_option_tags(many), "more than 64 elements"));
}

}  // namespace
}  // namespace pcscf::sip
