// RFC 4475 torture messages (fixtures/torture/, written for this project after the RFC's
// descriptions): valid ones parse and validate, invalid ones are rejected with an error.

#include <gtest/gtest.h>

#include "sip/accessors.hpp"
#include "sip/writer.hpp"
#include "test_util.hpp"

namespace pcscf::sip {
namespace {

enum class Expect {
    valid,        // parse_message and validate both succeed
    parse_error,  // parse_message refuses it
    invalid,      // parses, but validate refuses it
    lenient,      // RFC 4475 calls it invalid, a proxy may accept it: we do
};

struct Case {
    std::string file;
    Expect expect;
    std::string error;  // part of the expected error message
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.file; }

const Case cases[] = {
    // 3.1.1 valid messages
    {"wsinv.sip", Expect::valid, ""},
    {"intmeth.sip", Expect::valid, ""},
    {"esc01.sip", Expect::valid, ""},
    {"escnull.sip", Expect::valid, ""},
    {"esc02.sip", Expect::valid, ""},
    {"lwsdisp.sip", Expect::valid, ""},
    {"longreq.sip", Expect::valid, ""},
    {"dblreq.sip", Expect::valid, ""},
    {"semiuri.sip", Expect::valid, ""},
    {"transports.sip", Expect::valid, ""},
    {"mpart01.sip", Expect::valid, ""},
    {"unreason.sip", Expect::valid, ""},
    {"noreason.sip", Expect::valid, ""},
    // 3.1.2 invalid messages
    {"badinv01.sip", Expect::invalid, "header 'Via': Via: empty element"},
    {"clerr.sip", Expect::parse_error, "shorter than Content-Length 9999"},
    {"ncl.sip", Expect::parse_error, "Content-Length '-999' is negative"},
    {"scalar02.sip", Expect::invalid, "CSeq number '36893488147419103232' exceeds 2147483647"},
    {"scalarlg.sip", Expect::invalid, "CSeq number '36893488147419103232' exceeds"},
    {"quotbal.sip", Expect::invalid, "header 'To': display name: unterminated quoted string"},
    {"ltgtruri.sip", Expect::parse_error, "Request-URI '<sip:user@example.com>' has no valid scheme"},
    {"lwsruri.sip", Expect::parse_error, "extra text after the SIP version"},
    {"lwsstart.sip", Expect::parse_error, "empty Request-URI"},
    {"trws.sip", Expect::parse_error, "extra text after the SIP version"},
    {"escruri.sip", Expect::invalid, "carries headers"},
    {"baddate.sip", Expect::lenient, ""},  // Date is not interpreted by a P-CSCF
    {"regbadct.sip", Expect::invalid, "must be enclosed in <>"},
    {"badaspec.sip", Expect::invalid, "header 'To': URI ' sip:t.watson@example.org ' has no valid scheme"},
    {"baddn.sip", Expect::invalid, "header 'From': display name has invalid character ','"},
    {"badvers.sip", Expect::parse_error, "unsupported SIP version 'SIP/7.0'"},
    {"mismatch01.sip", Expect::invalid, "CSeq method 'INVITE' differs from the request method 'OPTIONS'"},
    {"mismatch02.sip", Expect::invalid, "differs from the request method 'NEWMETHOD'"},
    {"bigcode.sip", Expect::parse_error, "status code '4294967301' is not 100..699"},
    // 3.2 / 3.3 transaction and application semantics: syntactically fine
    {"badbranch.sip", Expect::valid, ""},
    {"insuf.sip", Expect::invalid, "missing 'From' header"},
    {"unkscm.sip", Expect::valid, ""},
    {"novelsc.sip", Expect::valid, ""},
    {"unksm2.sip", Expect::valid, ""},
    {"bext01.sip", Expect::valid, ""},
    {"invut.sip", Expect::valid, ""},
    {"regaut01.sip", Expect::valid, ""},
    {"multi01.sip", Expect::invalid, "line 12: header 'From': 'From' appears 2 times, once allowed"},
    {"mcl01.sip", Expect::parse_error, "Content-Length appears more than once"},
    {"bcast.sip", Expect::valid, ""},
    {"zeromf.sip", Expect::valid, ""},
    {"cparam01.sip", Expect::valid, ""},
    {"cparam02.sip", Expect::valid, ""},
    {"regescrt.sip", Expect::valid, ""},
    // 3.4 backward compatibility
    {"inv2543.sip", Expect::valid, ""},
};

class Torture : public ::testing::TestWithParam<Case> {};

TEST_P(Torture, BehavesAsRfc4475Expects) {
    const auto& c = GetParam();
    const auto text = test::fixture("torture/" + c.file);
    ASSERT_FALSE(text.empty()) << c.file;
    auto m = parse_message(text, Framing::datagram);
    if (c.expect == Expect::parse_error) {
        EXPECT_TRUE(test::fails_with(m, c.error)) << c.file;
        return;
    }
    ASSERT_TRUE(m) << c.file << ": " << m.error().message;
    auto v = validate(*m);
    if (c.expect == Expect::invalid) {
        EXPECT_TRUE(test::fails_with(v, c.error)) << c.file;
        return;
    }
    EXPECT_TRUE(v) << c.file << ": " << v.error().message;
    // what we accept we can also write out and read back
    const auto written = MessageWriter(*m).write();
    auto again = parse_message(written, Framing::stream);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_TRUE(validate(*again));
}

INSTANTIATE_TEST_SUITE_P(Rfc4475, Torture, ::testing::ValuesIn(cases), [](const auto& info) {
    auto name = info.param.file.substr(0, info.param.file.find('.'));
    return name;
});

TEST(Torture, EveryFixtureFileHasAnExpectation) {
    std::size_t files = 0;
    for (const auto& path : test::all_fixtures()) {
        if (path.parent_path().filename() != "torture") continue;
        ++files;
        const auto name = path.filename().string();
        EXPECT_TRUE(std::any_of(std::begin(cases), std::end(cases), [&](const Case& c) { return c.file == name; }))
            << name;
    }
    EXPECT_EQ(files, std::size(cases));
}

TEST(Torture, DetailsOfTheTrickyValidOnes) {
    auto load = [](std::string_view file) {
        static std::vector<std::string> keep;  // messages point into their text
        keep.push_back(test::fixture("torture/" + std::string(file)));
        return parse_message(keep.back(), Framing::datagram).value();
    };
    const auto wsinv = load("wsinv.sip");
    EXPECT_EQ(max_forwards(wsinv).value(), 68u);
    EXPECT_EQ(cseq(wsinv)->number, 9u);
    EXPECT_EQ(from(wsinv)->display_name, R"(Alice \\\")");
    EXPECT_EQ(from(wsinv)->tag(), "98asjd8");
    EXPECT_EQ(to(wsinv)->tag(), "1918181833n");
    auto hops = vias(wsinv);
    ASSERT_TRUE(hops);
    ASSERT_EQ(hops->size(), 3u);
    EXPECT_EQ((*hops)[1].transport, Transport::tcp);
    EXPECT_EQ((*hops)[2].branch, "z9hG4bK30239");
    EXPECT_EQ(contacts(wsinv)->contacts.front().display_name, R"(Quoted string \"\")");
    EXPECT_EQ(wsinv.find("UnknownHeaderWithUnusualValue")->value, ";;,,;;,;");

    const auto dbl = load("dblreq.sip");
    EXPECT_EQ(dbl.method(), "REGISTER");
    EXPECT_TRUE(dbl.body().empty());

    const auto mpart = load("mpart01.sip");
    EXPECT_EQ(mpart.body().size(), mpart.content_length());
    EXPECT_TRUE(top_via(mpart)->has_rport);

    const auto unknown = load("regaut01.sip");
    auto creds = auth_values(unknown, HeaderKind::authorization);
    ASSERT_TRUE(creds);
    EXPECT_FALSE((*creds)[0].is_digest());

    const auto intmeth = load("intmeth.sip");
    EXPECT_EQ(intmeth.method(), "!interesting-Method0123456789_*+`.%indeed'~");
    EXPECT_EQ(to(intmeth)->display_name.size(), 20u);  // with the escaped BEL, NUL and DEL

    const auto zero = load("zeromf.sip");
    EXPECT_FALSE(MessageWriter(zero).decrement_max_forwards());
}

}  // namespace
}  // namespace pcscf::sip
