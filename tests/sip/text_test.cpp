// Lexical helpers: LWS and folding, numbers, quoted strings, list splitting, error quoting.

#include <gtest/gtest.h>

#include "sip/text.hpp"
#include "test_util.hpp"

namespace pcscf::sip::text {
namespace {

TEST(Text, TrimLwsRemovesSpacesTabsAndFolds) {
    EXPECT_EQ(trim_lws("  \t abc \t "), "abc");
    EXPECT_EQ(trim_lws("\r\n  abc\r\n "), "abc");
    EXPECT_EQ(trim_lws("a \r\n b"), "a \r\n b");
    EXPECT_EQ(trim_lws(""), "");
    EXPECT_EQ(trim_lws(" \r\n "), "");
}

TEST(Text, IequalsIgnoresAsciiCaseOnly) {
    EXPECT_TRUE(iequals("Call-ID", "call-id"));
    EXPECT_FALSE(iequals("Call-ID", "Call_ID"));
    EXPECT_FALSE(iequals("a", "ab"));
    EXPECT_FALSE(iequals("@", "`"));  // 0x40 and 0x60 differ only in the case bit, but are not letters
}

TEST(Text, ParseNumberBoundsAndRejects) {
    EXPECT_EQ(parse_number("0000565817", 0xffffffff, "spi").value(), 565817u);
    EXPECT_EQ(parse_number("4294967295", 0xffffffff, "spi").value(), 4294967295u);
    EXPECT_EQ(parse_number("18446744073709551615", ~0ULL, "n").value(), ~0ULL);
    const struct {
        std::string_view input;
        std::uint64_t max;
        std::string_view message;
    } bad[] = {
        {"4294967296", 0xffffffff, "spi '4294967296' exceeds 4294967295"},
        {"36893488147419103232", ~0ULL, "exceeds"},
        {"", 10, "spi is empty"},
        {"-1", 10, "is negative"},
        {"12a", 100, "is not a decimal number"},
        {"+5", 100, "is not a decimal number"},
        {"6", 5, "exceeds 5"},
        {"1", 0, "exceeds 0"},
    };
    for (const auto& b : bad) {
        EXPECT_TRUE(test::fails_with(parse_number(b.input, b.max, "spi"), b.message)) << b.input;
    }
}

TEST(Text, SplitListRespectsQuotesAndAngles) {
    auto r = split_list(R"( a , "x,y" ,<sip:a,b@h>;p , b)", ',', 10, "test");
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->size(), 4u);
    EXPECT_EQ((*r)[0], "a");
    EXPECT_EQ((*r)[1], R"("x,y")");
    EXPECT_EQ((*r)[2], "<sip:a,b@h>;p");
    EXPECT_EQ((*r)[3], "b");

    auto escaped = split_list(R"("a\",b", c)", ',', 10, "test");
    ASSERT_TRUE(escaped);
    EXPECT_EQ(escaped->size(), 2u);
}

TEST(Text, SplitListRejectsEmptyElementsUnbalancedAndTooMany) {
    const struct {
        std::string_view input;
        std::string_view message;
    } bad[] = {
        {"a,,b", "empty element"},
        {"a,", "empty element"},
        {",a", "empty element"},
        {"", "empty element"},
        {"\"abc, d", "unterminated quoted string"},
        {"<sip:a, b", "'<' without '>'"},
        {"a,b,c,d", "more than 3 elements"},
    };
    for (const auto& b : bad) {
        EXPECT_TRUE(test::fails_with(split_list(b.input, ',', 3, "test"), b.message)) << b.input;
    }
    EXPECT_EQ(split_list("a,b,c,d", ',', 3, "t").error().kind, ErrorKind::too_large);
}

TEST(Text, CursorSeparatorsSkipFoldedWhiteSpace) {
    Cursor c("SIP \r\n / 2.0");
    EXPECT_EQ(c.token(), "SIP");
    EXPECT_TRUE(c.eat_sep('/'));
    EXPECT_EQ(c.token(), "2.0");
    EXPECT_TRUE(c.done());

    Cursor d("a ;b");
    EXPECT_EQ(d.token(), "a");
    EXPECT_FALSE(d.eat_sep(','));
    EXPECT_EQ(d.rest(), " ;b");  // left alone when the separator is absent
}

TEST(Text, QuotedStringChecksEscapesAndEnd) {
    Cursor ok(R"("a \"b\" \\ c" rest)");
    auto q = ok.quoted_string();
    ASSERT_TRUE(q);
    EXPECT_EQ(*q, R"(a \"b\" \\ c)");
    EXPECT_EQ(ok.rest(), " rest");

    for (const std::string_view bad :
         {std::string_view("\"abc"), std::string_view("\"abc\\"), std::string_view("\"a\rb\""),
          std::string_view("\"a\x01\"", 4), std::string_view("abc")}) {
        Cursor c(bad);
        EXPECT_FALSE(c.quoted_string()) << bad;
    }
    Cursor nul(std::string_view("\"a\\\0b\"", 6));  // NUL only as a quoted-pair
    EXPECT_TRUE(nul.quoted_string());
}

TEST(Text, QuoteEscapesAndTruncatesUntrustedText) {
    EXPECT_EQ(quote("abc"), "'abc'");
    EXPECT_EQ(quote(std::string_view("a\0\r\n", 4)), "'a\\x00\\x0d\\x0a'");
    EXPECT_EQ(quote(std::string(100, 'x')), "'" + std::string(40, 'x') + "...'");
}

}  // namespace
}  // namespace pcscf::sip::text
