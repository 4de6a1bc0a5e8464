// Security-Client / -Server / -Verify (RFC 3329, TS 33.203 Annex H): parsing, semantic
// equality, formatting and every malformed case.

#include <gtest/gtest.h>

#include "sip/security.hpp"
#include "test_util.hpp"

namespace pcscf::sip {
namespace {

constexpr std::string_view seed_client =
    "ipsec-3gpp;alg=hmac-md5-96;prot=esp;mod=trans;ealg=null;spi-c=0000565817;spi-s=0000565818;"
    "port-c=38003;port-s=39003,ipsec-3gpp;alg=hmac-sha-1-96;prot=esp;mod=trans;ealg=null;"
    "spi-c=0000565817;spi-s=0000565818;port-c=38003;port-s=39003";

SecurityMechanism one(std::string_view text) {
    auto m = parse_security_mechanism(text);
    EXPECT_TRUE(m) << text << ": " << m.error().message;
    return m ? *m : SecurityMechanism{};
}

TEST(Security, SeedClientOffersTwoAlgorithms) {
    auto list = parse_security_list(seed_client);
    ASSERT_TRUE(list) << list.error().message;
    ASSERT_EQ(list->size(), 2u);
    const Ipsec3gpp md5{IntegrityAlg::hmac_md5_96, EncryptionAlg::null, 565817, 565818, 38003, 39003};
    const Ipsec3gpp sha{IntegrityAlg::hmac_sha_1_96, EncryptionAlg::null, 565817, 565818, 38003, 39003};
    EXPECT_EQ((*list)[0].name, "ipsec-3gpp");
    EXPECT_EQ((*list)[0].ipsec, md5);
    EXPECT_EQ((*list)[1].ipsec, sha);
    EXPECT_FALSE((*list)[0].q);
    EXPECT_TRUE((*list)[0].params.empty());
}

TEST(Security, ServerWithQAndLargeSpis) {
    auto m =
        one("ipsec-3gpp;alg=hmac-md5-96;ealg=null;prot=esp;mod=trans;spi-c=3458785863;"
            "spi-s=2821032177;port-c=50717;port-s=50718;q=0.1");
    ASSERT_TRUE(m.ipsec);
    EXPECT_EQ(m.ipsec->spi_c, 3458785863u);
    EXPECT_EQ(m.ipsec->spi_s, 2821032177u);
    EXPECT_EQ(m.ipsec->port_c, 50717);
    EXPECT_EQ(m.ipsec->port_s, 50718);
    EXPECT_EQ(m.q, 100);
    EXPECT_EQ(one("ipsec-3gpp;alg=hmac-md5-96;spi-c=4294967295;spi-s=1;port-c=1;port-s=65535").ipsec->spi_c,
              4294967295u);
}

// The AEAD pairs of Annex H (RFC 4106, RFC 4543) parse and print like the others. Pairs
// Annex H does not allow (alg=null;ealg=aes-cbc) still parse: choosing is the policy's.
TEST(Security, AesGcmAndAesGmac) {
    const std::string tail = ";prot=esp;mod=trans;spi-c=1;spi-s=2;port-c=3;port-s=4";
    const auto gcm = one("ipsec-3gpp;alg=null;ealg=aes-gcm" + tail);
    ASSERT_TRUE(gcm.ipsec) << gcm.unsupported;
    EXPECT_EQ(gcm.ipsec->alg, IntegrityAlg::null);
    EXPECT_EQ(gcm.ipsec->ealg, EncryptionAlg::aes_gcm);
    EXPECT_EQ(format_mechanism(gcm), "ipsec-3gpp;alg=null;ealg=aes-gcm" + tail);
    const auto gmac = one("ipsec-3gpp;alg=AES-GMAC;ealg=null" + tail);
    ASSERT_TRUE(gmac.ipsec) << gmac.unsupported;
    EXPECT_EQ(gmac.ipsec->alg, IntegrityAlg::aes_gmac);
    EXPECT_EQ(gmac.ipsec->ealg, EncryptionAlg::null);
    EXPECT_EQ(format_mechanism(gmac), "ipsec-3gpp;alg=aes-gmac;ealg=null" + tail);
    EXPECT_EQ(one("ipsec-3gpp;alg=aes-gmac" + tail), gmac) << "no ealg is ealg=null";
    EXPECT_EQ(to_string(IntegrityAlg::aes_gmac), "aes-gmac");
    EXPECT_EQ(to_string(IntegrityAlg::null), "null");
    EXPECT_EQ(to_string(EncryptionAlg::aes_gcm), "aes-gcm");
    const auto odd = one("ipsec-3gpp;alg=null;ealg=aes-cbc" + tail);
    ASSERT_TRUE(odd.ipsec);
    EXPECT_EQ(odd.ipsec->alg, IntegrityAlg::null);
    EXPECT_EQ(odd.ipsec->ealg, EncryptionAlg::aes_cbc);
}

TEST(Security, DefaultsWhitespaceAndCase) {
    auto m = one(" IPSEC-3GPP ; ALG = HMAC-SHA-1-96 ;\r\n spi-c=1;Spi-S=2;PORT-C=3;port-s=4 ");
    ASSERT_TRUE(m.ipsec);
    EXPECT_EQ(m.ipsec->alg, IntegrityAlg::hmac_sha_1_96);
    EXPECT_EQ(m.ipsec->ealg, EncryptionAlg::null);  // missing ealg means null
    EXPECT_EQ(one("ipsec-3gpp;alg=hmac-md5-96;ealg=aes-cbc;spi-c=1;spi-s=2;port-c=3;port-s=4").ipsec->ealg,
              EncryptionAlg::aes_cbc);
    EXPECT_EQ(one("ipsec-3gpp;alg=hmac-md5-96;ealg=des-ede3-cbc;spi-c=1;spi-s=2;port-c=3;port-s=4").ipsec->ealg,
              EncryptionAlg::des_ede3_cbc);
}

TEST(Security, OtherMechanismsKeepTheirParameters) {
    auto list = parse_security_list("digest;d-alg=md5;d-qop=auth;q=0.2, tls;q=0.1, ipsec-ike");
    ASSERT_TRUE(list) << list.error().message;
    ASSERT_EQ(list->size(), 3u);
    EXPECT_EQ((*list)[0].name, "digest");
    EXPECT_FALSE((*list)[0].ipsec);
    EXPECT_EQ((*list)[0].q, 200);
    ASSERT_EQ((*list)[0].params.size(), 2u);
    EXPECT_EQ((*list)[0].params[0].name, "d-alg");
    EXPECT_EQ((*list)[0].params[0].value, "md5");
    EXPECT_TRUE((*list)[2].params.empty());
    auto verify = one("digest;d-ver=\"0123456789abcdef0123456789abcdef\"");
    EXPECT_TRUE(verify.params[0].quoted);
}

TEST(Security, EqualityIsSemantic) {
    const auto server =
        one("ipsec-3gpp;alg=hmac-md5-96;ealg=null;prot=esp;mod=trans;spi-c=3458785863;"
            "spi-s=2821032177;port-c=50717;port-s=50718;q=0.1");
    // seed 004 Security-Verify: other order, ealg after mod, q first
    const auto verify =
        one("ipsec-3gpp;q=0.1;alg=hmac-md5-96;prot=esp;mod=trans;ealg=null;spi-c=3458785863;"
            "spi-s=2821032177;port-c=50717;port-s=50718");
    EXPECT_EQ(server, verify);
    EXPECT_EQ(server, one("IPSEC-3gpp;Q=0.100;ALG=HMAC-MD5-96;spi-c=03458785863;spi-s=2821032177;"
                          "port-c=050717;port-s=50718"));  // case, leading zeros, defaults
    EXPECT_NE(server, one("ipsec-3gpp;alg=hmac-md5-96;spi-c=3458785863;spi-s=2821032177;port-c=50717;port-s=50718"));
    EXPECT_NE(server,
              one("ipsec-3gpp;alg=hmac-md5-96;spi-c=3458785864;spi-s=2821032177;port-c=50717;port-s=50718;q=0.1"));
    EXPECT_NE(server,
              one("ipsec-3gpp;alg=hmac-sha-1-96;spi-c=3458785863;spi-s=2821032177;port-c=50717;port-s=50718;q=0.1"));
    EXPECT_NE(server, one("ipsec-3gpp;alg=hmac-md5-96;ealg=aes-cbc;spi-c=3458785863;spi-s=2821032177;port-c=50717;port-"
                          "s=50718;q=0.1"));
    EXPECT_NE(server,
              one("ipsec-3gpp;alg=hmac-md5-96;spi-c=3458785863;spi-s=2821032177;port-c=50717;port-s=50719;q=0.1"));
    EXPECT_NE(server,
              one("ipsec-3gpp;alg=hmac-md5-96;spi-c=3458785863;spi-s=2821032177;port-c=50717;port-s=50718;q=0.1;x=1"));

    EXPECT_EQ(one("digest;d-alg=MD5;b=\"X\";a"), one("DIGEST;a;B=\"X\";d-alg=md5"));
    EXPECT_NE(one("digest;b=\"X\""), one("digest;b=\"x\""));  // quoted values are exact
    EXPECT_NE(one("digest;b=x"), one("digest;b=\"x\""));
    EXPECT_NE(one("digest;a"), one("digest;a=1"));
    EXPECT_NE(one("digest"), one("tls"));
}

TEST(Security, SameMechanismsInAnyOrder) {
    auto a = parse_security_list(seed_client).value();
    auto b = a;
    std::swap(b[0], b[1]);
    EXPECT_TRUE(same_mechanisms(a, b));
    EXPECT_NE(a, b);  // the vector comparison keeps order
    b.pop_back();
    EXPECT_FALSE(same_mechanisms(a, b));
    b.push_back(a[1]);
    EXPECT_FALSE(same_mechanisms(a, b));  // {sha, sha} vs {md5, sha}
    EXPECT_TRUE(same_mechanisms(std::vector<SecurityMechanism>{}, std::vector<SecurityMechanism>{}));
}

TEST(Security, FormatIsCanonicalAndParsesBack) {
    auto m =
        one("ipsec-3gpp;q=0.1;spi-s=2821032177;port-s=50718;alg=hmac-md5-96;prot=esp;mod=trans;"
            "spi-c=3458785863;port-c=50717");
    const auto text = format_mechanism(m);
    EXPECT_EQ(text,
              "ipsec-3gpp;alg=hmac-md5-96;ealg=null;prot=esp;mod=trans;spi-c=3458785863;"
              "spi-s=2821032177;port-c=50717;port-s=50718;q=0.1");
    EXPECT_EQ(one(text), m);

    SecurityMechanism built;
    built.name = "ipsec-3gpp";
    built.ipsec = Ipsec3gpp{IntegrityAlg::hmac_sha_1_96, EncryptionAlg::aes_cbc, 1, 4294967295u, 1, 65535};
    EXPECT_EQ(format_mechanism(built),
              "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=trans;"
              "spi-c=1;spi-s=4294967295;port-c=1;port-s=65535");
    for (const std::uint16_t q : {0, 1, 10, 100, 330, 999, 1000}) {
        built.q = q;
        EXPECT_EQ(one(format_mechanism(built)).q, q) << format_mechanism(built);
    }
    built.q = 1000;
    EXPECT_TRUE(format_mechanism(built).ends_with(";q=1"));
    built.q = 50;
    EXPECT_TRUE(format_mechanism(built).ends_with(";q=0.05"));

    auto list = parse_security_list("digest;d-alg=md5;d-ver=\"ab\";q=0.5, tls").value();
    EXPECT_EQ(format_mechanisms(list), "digest;d-alg=md5;d-ver=\"ab\";q=0.5, tls");
    EXPECT_TRUE(same_mechanisms(parse_security_list(format_mechanisms(list)).value(), list));
    EXPECT_EQ(to_string(IntegrityAlg::hmac_sha_1_96), "hmac-sha-1-96");
    EXPECT_EQ(to_string(EncryptionAlg::des_ede3_cbc), "des-ede3-cbc");
}

TEST(Security, MalformedMechanisms) {
    const std::string_view tail = ";spi-c=1;spi-s=2;port-c=3;port-s=4";
    const auto md5 = [&](std::string_view extra) { return "ipsec-3gpp;alg=hmac-md5-96" + std::string(extra); };
    const std::string cases[][2] = {
        {md5(";spi-c=4294967296;spi-s=2;port-c=3;port-s=4"), "ipsec-3gpp spi-c '4294967296' exceeds 4294967295"},
        {md5(";spi-c=1;spi-s=99999999999;port-c=3;port-s=4"), "spi-s '99999999999' exceeds"},
        {md5(";spi-c=0;spi-s=2;port-c=3;port-s=4"), "spi-c is 0, a reserved SPI"},
        {md5(";spi-c=-1;spi-s=2;port-c=3;port-s=4"), "is negative"},
        {md5(";spi-c=0x10;spi-s=2;port-c=3;port-s=4"), "is not a decimal number"},
        {md5(";spi-c=1;spi-s=2;port-c=0;port-s=4"), "ipsec-3gpp port-c is 0"},
        {md5(";spi-c=1;spi-s=2;port-c=3;port-s=70000"), "ipsec-3gpp port-s '70000' exceeds 65535"},
        {md5(std::string(tail) + ";q=2"), "q-value '2' is not between 0 and 1"},
        {md5(std::string(tail) + ";q=0.1234"), "is not between 0 and 1"},
        {md5(std::string(tail) + ";q"), "q-value '' is not between"},
        {"ipsec-3gpp" + std::string(tail), "ipsec-3gpp mechanism has no alg"},
        {md5(";spi-s=2;port-c=3;port-s=4"), "has no spi-c"},
        {md5(";spi-c=1;port-c=3;port-s=4"), "has no spi-s"},
        {md5(";spi-c=1;spi-s=2;port-s=4"), "has no port-c"},
        {md5(";spi-c=1;spi-s=2;port-c=3"), "has no port-s"},
        {md5(std::string(tail) + ";alg=hmac-sha-1-96"), "duplicate parameter 'alg'"},
        {md5(std::string(tail) + ";spi-c=1"), "duplicate parameter 'spi-c'"},
        {md5(std::string(tail) + ";ealg"), "ipsec-3gpp parameter 'ealg' has no value"},
        {md5(std::string(tail) + ";ealg=\"\""), "has no value"},
        {md5(";;spi-c=1"), "expected a parameter name after ';'"},
        {md5(std::string(tail) + " junk"), "unexpected 'junk'"},
        {";alg=hmac-md5-96", "has no name"},
        {"", "has no name"},
    };
    for (const auto& [input, part] : cases) {
        auto r = parse_security_mechanism(input);
        ASSERT_TRUE(test::fails_with(r, part)) << input;
        EXPECT_EQ(r.error().kind, ErrorKind::malformed) << input;
    }
}

// TS 33.203 Annex H / M: mod=UDP-enc-tun for a UE behind a NAT, compared without case and
// written back as Annex H spells it; trans stays the default.
TEST(Security, UdpEncapsulatedTunnelModeIsParsedAndFormatted) {
    const std::string tail = ";spi-c=1111;spi-s=2222;port-c=3333;port-s=4444";
    auto nat = one("ipsec-3gpp;alg=hmac-sha-1-96;prot=esp;mod=udp-ENC-tun" + tail);
    ASSERT_TRUE(nat.ipsec);
    EXPECT_EQ(nat.ipsec->mod, Mode::udp_enc_tun);
    EXPECT_TRUE(nat.params.empty());
    EXPECT_EQ(format_mechanism(nat),
              "ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;prot=esp;mod=UDP-enc-tun;spi-c=1111;spi-s=2222;port-c=3333;"
              "port-s=4444");
    EXPECT_EQ(one(format_mechanism(nat)), nat);
    auto plain = one("ipsec-3gpp;alg=hmac-sha-1-96" + tail);
    EXPECT_EQ(plain.ipsec->mod, Mode::trans) << "no mod: trans";
    EXPECT_EQ(one("ipsec-3gpp;alg=hmac-sha-1-96;mod=TRANS" + tail), plain);
    EXPECT_NE(nat, plain) << "the mode is part of the mechanism (Security-Verify must echo it)";
    EXPECT_NE(format_mechanism(plain).find(";mod=trans;"), std::string::npos);
    EXPECT_EQ(to_string(Mode::udp_enc_tun), "UDP-enc-tun");
}

// hmac-sha-256-128 (RFC 4868), an operator's extension to Annex H, reads and writes as the
// other HMACs do.
TEST(Security, HmacSha256IsAnIntegrityAlgorithm) {
    const std::string tail = ";spi-c=1111;spi-s=2222;port-c=3333;port-s=4444";
    auto m = one("ipsec-3gpp;alg=HMAC-SHA-256-128;ealg=aes-cbc" + tail);
    ASSERT_TRUE(m.ipsec) << m.unsupported;
    EXPECT_EQ(m.ipsec->alg, IntegrityAlg::hmac_sha_256_128);
    EXPECT_EQ(m.ipsec->ealg, EncryptionAlg::aes_cbc);
    EXPECT_EQ(format_mechanism(m),
              "ipsec-3gpp;alg=hmac-sha-256-128;ealg=aes-cbc;prot=esp;mod=trans;spi-c=1111;spi-s=2222;port-c=3333;"
              "port-s=4444");
    EXPECT_EQ(to_string(IntegrityAlg::hmac_sha_256_128), "hmac-sha-256-128");
}

TEST(Security, UnsupportedValuesAreMarkedNotUsable) {
    const std::string tail = ";spi-c=1;spi-s=2;port-c=3;port-s=4";
    const std::pair<std::string, std::string_view> cases[] = {
        {"ipsec-3gpp;alg=hmac-sha-384-192" + tail,
         "unknown alg 'hmac-sha-384-192' (expected hmac-md5-96, hmac-sha-1-96, hmac-sha-256-128, aes-gmac or null)"},
        {"ipsec-3gpp;alg=hmac-md5-96;ealg=aes-ccm" + tail,
         "unknown ealg 'aes-ccm' (expected null, des-ede3-cbc, aes-cbc or aes-gcm)"},
        {"ipsec-3gpp;alg=hmac-md5-96;prot=ah" + tail, "prot 'ah' is not supported (only esp)"},
        {"ipsec-3gpp;alg=hmac-md5-96;mod=tun" + tail, "mod 'tun' is not supported (only trans and UDP-enc-tun)"},
        {"ipsec-3gpp;alg=x;ealg=y;mod=tun" + tail, "unknown alg 'x'"},  // the first reason
    };
    for (const auto& [input, part] : cases) {
        auto r = parse_security_mechanism(input);
        ASSERT_TRUE(r) << input << ": " << r.error().message;
        EXPECT_FALSE(r->ipsec) << input;
        EXPECT_NE(r->unsupported.find(part), std::string::npos) << r->unsupported;
        // kept as written (q aside): it formats back to an equal mechanism
        ASSERT_GE(r->params.size(), 5u);
        EXPECT_EQ(r->params.front().name, "alg");
        EXPECT_EQ(r->params.back().name, "port-s");
        EXPECT_EQ(one(format_mechanism(*r)), *r);
    }
    // a UE offering what we cannot use besides what we can: the list is read whole
    auto list = parse_security_list("ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-ctr" + tail +
                                    ", ipsec-3gpp;alg=hmac-sha-1-96;ealg=null" + tail + ", tls;q=0.1");
    ASSERT_TRUE(list) << list.error().message;
    ASSERT_EQ(list->size(), 3u);
    EXPECT_FALSE((*list)[0].ipsec);
    ASSERT_TRUE((*list)[1].ipsec);
    EXPECT_TRUE((*list)[1].unsupported.empty());
    EXPECT_FALSE((*list)[2].ipsec);
    EXPECT_TRUE((*list)[2].unsupported.empty());  // another mechanism, not an unusable ipsec-3gpp
    // dropping the unusable offer is noticed by the SM7 comparison
    auto stripped = *list;
    stripped.erase(stripped.begin());
    EXPECT_FALSE(same_mechanisms(stripped, *list));
    // an unsupported value does not excuse a malformed one
    auto bad = parse_security_mechanism("ipsec-3gpp;alg=hmac-sha-256-128;spi-c=0;spi-s=2;port-c=3;port-s=4");
    EXPECT_TRUE(test::fails_with(bad, "spi-c is 0"));
    EXPECT_FALSE(parse_security_mechanism("ipsec-3gpp;alg=hmac-sha-256-128;spi-c=1;spi-s=2;port-c=3"));
}

TEST(Security, ListErrorsNameTheMechanism) {
    auto r = parse_security_list(std::string(seed_client) + ",ipsec-3gpp;alg=md5");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "mechanism 3: ipsec-3gpp mechanism has no spi-c");
    EXPECT_EQ(r.error().kind, ErrorKind::malformed);
    // one element: no number
    EXPECT_EQ(parse_security_list("ipsec-3gpp;alg=md5").error().message, "ipsec-3gpp mechanism has no spi-c");

    auto empty = parse_security_list("ipsec-3gpp;alg=hmac-md5-96;spi-c=1;spi-s=2;port-c=3;port-s=4,,digest");
    EXPECT_TRUE(test::fails_with(empty, "empty element"));
    EXPECT_FALSE(parse_security_list(""));

    std::string many;
    for (int i = 0; i < 17; ++i) many += "digest,";
    many.pop_back();
    auto too_many = parse_security_list(many);
    ASSERT_FALSE(too_many);
    EXPECT_EQ(too_many.error().kind, ErrorKind::too_large);
}

}  // namespace
}  // namespace pcscf::sip
