// WWW-Authenticate / Authorization values: Digest with the AKA and 3GPP parameters.

#include <gtest/gtest.h>

#include "sip/auth.hpp"
#include "test_util.hpp"

namespace pcscf::sip {
namespace {

TEST(Auth, SeedChallenge) {
    auto a = parse_auth(
        "Digest realm=\"ims.mnc01.mcc001.3gppnetwork.org\",nonce=\"26ohPzgYyy3VFVa4VnXhKgx8Ta1aXYAA27sDDHxNLVo=\","
        "qop=\"auth\",opaque=\"4669e9192b2042d499606fe3e0fa839a\",algorithm=AKAv1-MD5");
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_TRUE(a->is_digest());
    EXPECT_EQ(a->realm(), "ims.mnc01.mcc001.3gppnetwork.org");
    EXPECT_EQ(a->nonce(), "26ohPzgYyy3VFVa4VnXhKgx8Ta1aXYAA27sDDHxNLVo=");
    EXPECT_EQ(a->qop(), "auth");
    EXPECT_EQ(a->opaque(), "4669e9192b2042d499606fe3e0fa839a");
    EXPECT_EQ(a->algorithm(), "AKAv1-MD5");
    EXPECT_FALSE(a->ik);
    EXPECT_FALSE(a->username());
}

TEST(Auth, SeedCredentialsWithEmptyQuotedValues) {
    auto a = parse_auth(
        "Digest username=\"001010123456789@ims.sharetechnote.com\",realm=\"ims.sharetechnote.com\","
        "nonce=\"\",uri=\"sip:ims.sharetechnote.com\",response=\"\",algorithm=AKAv1-MD5");
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_EQ(a->username(), "001010123456789@ims.sharetechnote.com");
    EXPECT_EQ(a->nonce(), "");
    EXPECT_EQ(a->response(), "");
    EXPECT_EQ(a->uri(), "sip:ims.sharetechnote.com");

    auto full = parse_auth(
        "Digest username=\"u@r\", realm=\"r\", nonce=\"n\", uri=\"sip:r\",\r\n "
        "response=\"e089b68060162b5c6a328e5dd2d43133\","
        " algorithm=AKAv1-MD5, cnonce=\"NGNhMTgzMw==\", opaque=\"o\", qop=auth, nc=00000001,"
        " integrity-protected=\"yes\"");
    ASSERT_TRUE(full) << full.error().message;
    EXPECT_EQ(full->cnonce(), "NGNhMTgzMw==");
    EXPECT_EQ(full->nc(), "00000001");
    EXPECT_EQ(full->qop(), "auth");
    EXPECT_EQ(full->integrity_protected(), "yes");
    EXPECT_EQ(full->get("RESPONSE"), "e089b68060162b5c6a328e5dd2d43133");
}

TEST(Auth, IkAndCkAreDecoded) {
    auto a = parse_auth(
        "Digest realm=\"r\", nonce=\"n\", algorithm=AKAv1-MD5,"
        " ik=\"00112233445566778899aabbccddeeff\", ck=\"FFEEDDCCBBAA99887766554433221100\"");
    ASSERT_TRUE(a) << a.error().message;
    ASSERT_TRUE(a->ik);
    ASSERT_TRUE(a->ck);
    EXPECT_EQ((*a->ik)[0], 0x00);
    EXPECT_EQ((*a->ik)[15], 0xff);
    EXPECT_EQ((*a->ck)[0], 0xff);
    EXPECT_EQ((*a->ck)[1], 0xee);
    EXPECT_EQ((*a->ck)[15], 0x00);
}

TEST(Auth, OtherSchemesAreKeptGenerically) {
    auto a = parse_auth("NoOneKnowsThisScheme opaque-data=here");
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_FALSE(a->is_digest());
    EXPECT_EQ(a->scheme, "NoOneKnowsThisScheme");
    EXPECT_EQ(a->get("opaque-data"), "here");
}

TEST(Auth, MalformedValues) {
    const std::pair<std::string_view, std::string_view> bad[] = {
        {"", "no authentication scheme"},
        {"Digest", "has no parameters"},
        {"Digest ", "has no parameters"},
        {"=x", "no authentication scheme"},
        {"Digest realm", "parameter 'realm' has no '=' value"},
        {"Digest realm=", "parameter 'realm' has no value"},
        {"Digest realm=\"r", "unterminated quoted string"},
        {"Digest realm=\"r\" nonce=\"n\"", "parameter 'realm': unexpected 'nonce=\"n\"'"},
        {"Digest realm=\"a\", REALM=\"b\"", "duplicate parameter 'REALM'"},
        {"Digest realm=\"r\",, nonce=\"n\"", "empty element"},
        {"Digest ik=\"0011\"", "parameter 'ik' must be 32 hex digits (16 bytes), has 4 characters"},
        {"Digest ck=\"00112233445566778899aabbccddeefg\"", "parameter 'ck' is not hexadecimal"},
        {"Digest ik=\"00112233445566778899aabbccddeeff00\"", "must be 32 hex digits"},
        {"Digest nc=1", "nc '1' is not 8 hex digits"},
        {"Digest nc=0000000g", "is not 8 hex digits"},
        {"Digest realm=a b", "unexpected 'b'"},
        {"Digest =\"x\"", "expected a parameter name"},
    };
    for (const auto& [input, part] : bad) {
        EXPECT_TRUE(test::fails_with(parse_auth(input), part)) << input;
    }
    std::string many = "Digest ";
    for (int i = 0; i < 65; ++i) many += "p" + std::to_string(i) + "=1,";
    many.pop_back();
    auto r = parse_auth(many);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::too_large);
}

}  // namespace
}  // namespace pcscf::sip
