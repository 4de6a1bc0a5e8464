// The operator's alg/ealg policy (--allowed-algorithms, --preferred-algorithms and the
// older --alg-priority): how each option is read, how pairs rank, and every error.
#include <gtest/gtest.h>

#include "control/secagree/algorithm_policy.hpp"

namespace pcscf::secagree {
namespace {

using esp::Alg;
using esp::Ealg;
constexpr auto kNone = std::nullopt;

AlgorithmPolicy policy(std::optional<std::string> allowed, std::optional<std::string> preferred,
                       std::optional<std::string> priority = kNone) {
    auto p = parse_algorithm_policy({std::move(allowed), std::move(preferred), std::move(priority)});
    EXPECT_TRUE(p.has_value()) << p.error().message;
    return p ? *p : AlgorithmPolicy{};
}

std::string refusal(std::optional<std::string> allowed, std::optional<std::string> preferred,
                    std::optional<std::string> priority = kNone) {
    auto p = parse_algorithm_policy({std::move(allowed), std::move(preferred), std::move(priority)});
    if (p) return "(accepted)";
    EXPECT_EQ(p.error().code, ctl::Errc::invalid);
    return p.error().message;
}

std::string listed(const AlgorithmPolicy& p) {
    std::string out;
    for (AlgPair x : p.pairs())
        out += (out.empty() ? "" : " ") + std::string(esp::name(x.ealg)) + "/" + std::string(esp::name(x.alg));
    return out;
}

TEST(AlgorithmPolicy, DefaultsAllowEveryPairAeadFirst) {
    const AlgorithmPolicy p = policy(kNone, kNone);
    EXPECT_EQ(p, AlgorithmPolicy{}) << "the options' defaults are the struct's";
    EXPECT_EQ(listed(p),
              "aes-gcm/null aes-cbc/hmac-sha-1-96 aes-cbc/hmac-md5-96 des-ede3-cbc/hmac-sha-1-96 "
              "des-ede3-cbc/hmac-md5-96 null/hmac-sha-1-96 null/aes-gmac null/hmac-md5-96")
        << "aes-gcm has one pair (alg=null); aes-gmac goes with null alone; HMAC-SHA-1 ranks above GMAC";
    EXPECT_EQ(integrity_order(p), "hmac-sha-1-96,aes-gmac,hmac-md5-96");
    EXPECT_EQ(encryption_order(p), "aes-gcm,aes-cbc,des-ede3-cbc,null");
    EXPECT_EQ(p.rank({Alg::null, Ealg::aes_gcm}), 0u);
    EXPECT_EQ(p.rank({Alg::aes_gmac, Ealg::null}), 6u);
}

// A pair ranks by its ealg first, then by its alg, however the two families are interleaved
// in --preferred-algorithms.
TEST(AlgorithmPolicy, PairsRankByEalgThenAlg) {
    const AlgorithmPolicy p = policy(kNone, "hmac-md5-96,null,aes-gmac,hmac-sha-1-96,aes-cbc");
    EXPECT_EQ(listed(p),
              "null/hmac-md5-96 null/aes-gmac null/hmac-sha-1-96 aes-cbc/hmac-md5-96 aes-cbc/hmac-sha-1-96 "
              "aes-gcm/null des-ede3-cbc/hmac-md5-96 des-ede3-cbc/hmac-sha-1-96")
        << "aes-gcm and des-ede3-cbc, allowed but not preferred, come after the preferred ones";
    EXPECT_EQ(p.rank({Alg::hmac_md5_96, Ealg::null}), 0u);
    EXPECT_EQ(p.rank({Alg::aes_gmac, Ealg::null}), 1u);
    EXPECT_EQ(p.rank({Alg::hmac_sha1_96, Ealg::null}), 2u);
    EXPECT_LT(*p.rank({Alg::hmac_sha1_96, Ealg::null}), *p.rank({Alg::hmac_md5_96, Ealg::aes_cbc}))
        << "a better ealg beats a better alg";
    EXPECT_EQ(policy(kNone, "aes-gcm,aes-cbc,hmac-sha-1-96,des-ede3-cbc,aes-gmac,null,hmac-md5-96"), AlgorithmPolicy{})
        << "the same as the default, written interleaved";
}

// Only the pairs of Annex H (esp::transform) exist, whatever the names allowed.
TEST(AlgorithmPolicy, PairsAnnexHDoesNotAllowNeverRank) {
    const AlgorithmPolicy p = policy(kNone, kNone);
    for (AlgPair bad : {AlgPair{Alg::null, Ealg::null}, AlgPair{Alg::null, Ealg::aes_cbc},
                        AlgPair{Alg::aes_gmac, Ealg::aes_cbc}, AlgPair{Alg::aes_gmac, Ealg::aes_gcm},
                        AlgPair{Alg::hmac_sha1_96, Ealg::aes_gcm}, AlgPair{Alg::hmac_md5_96, Ealg::aes_gcm}})
        EXPECT_FALSE(p.rank(bad)) << esp::name(bad.alg) << "/" << esp::name(bad.ealg);
}

TEST(AlgorithmPolicy, GcmAndGmacAreAllowedByTheirNames) {
    EXPECT_EQ(listed(policy("aes-gcm", kNone)), "aes-gcm/null") << "GCM alone needs no integrity algorithm";
    EXPECT_EQ(listed(policy("aes-gmac,null", kNone)), "null/aes-gmac") << "GMAC with ealg=null, nothing else";
    EXPECT_EQ(listed(policy("hmac-sha-1-96,aes-cbc,aes-gcm", kNone)), "aes-gcm/null aes-cbc/hmac-sha-1-96");
    const AlgorithmPolicy no_gcm = policy("hmac-sha-1-96,aes-gmac,aes-cbc,null", kNone);
    EXPECT_FALSE(no_gcm.rank({Alg::null, Ealg::aes_gcm}));
    EXPECT_TRUE(no_gcm.rank({Alg::aes_gmac, Ealg::null}));
    const AlgorithmPolicy no_gmac = policy("hmac-sha-1-96,aes-gcm,null", kNone);
    EXPECT_FALSE(no_gmac.rank({Alg::aes_gmac, Ealg::null}));
    EXPECT_EQ(listed(no_gmac), "aes-gcm/null null/hmac-sha-1-96");
}

// "null" is the ealg: integrity without confidentiality. It allows no alg=null pair of its
// own and does not take the place of an integrity algorithm.
TEST(AlgorithmPolicy, NullNamesTheEncryptionAlgorithmOnly) {
    const AlgorithmPolicy p = policy("hmac-md5-96,null", kNone);
    EXPECT_EQ(listed(p), "null/hmac-md5-96");
    EXPECT_EQ(integrity_order(p), "hmac-md5-96") << "null is not an integrity algorithm";
    EXPECT_EQ(encryption_order(p), "null");
    EXPECT_FALSE(p.rank({Alg::null, Ealg::null}));
    EXPECT_EQ(listed(policy(kNone, "null")).substr(0, 18), "null/hmac-sha-1-96")
        << "null preferred: integrity only first";
    EXPECT_TRUE(refusal(kNone, kNone, "null").starts_with("--alg-priority: 'null' is not an integrity algorithm"));
}

TEST(AlgorithmPolicy, OnlyAllowedPairsRank) {
    const AlgorithmPolicy p = policy("null,hmac-sha-1-96,aes-cbc", kNone);
    EXPECT_EQ(listed(p), "aes-cbc/hmac-sha-1-96 null/hmac-sha-1-96") << "the default preference, where allowed";
    EXPECT_FALSE(p.rank({Alg::hmac_md5_96, Ealg::null}));
    EXPECT_FALSE(p.rank({Alg::hmac_sha1_96, Ealg::des_ede3_cbc}));
    EXPECT_FALSE(p.rank({Alg::null, Ealg::aes_gcm}));
    // With a preference naming none of one family, that family keeps the allowed list's order.
    EXPECT_EQ(listed(policy("null,aes-cbc,hmac-md5-96,hmac-sha-1-96", "")),
              "null/hmac-md5-96 null/hmac-sha-1-96 aes-cbc/hmac-md5-96 aes-cbc/hmac-sha-1-96");
    EXPECT_EQ(listed(policy("hmac-sha-1-96 , null", "null")), "null/hmac-sha-1-96") << "blanks around names";
}

// hmac-sha-256-128 is not in Annex H: allowed only when the operator names it, and then
// first among the HMACs by default, with every ealg an HMAC takes.
TEST(AlgorithmPolicy, HmacSha256OnlyWhenAllowedAndThenFirstAmongTheHmacs) {
    EXPECT_FALSE(policy(kNone, kNone).rank({Alg::hmac_sha256_128, Ealg::null}));
    const AlgorithmPolicy p = policy("hmac-sha-1-96,hmac-sha-256-128,null,aes-cbc,des-ede3-cbc", kNone);
    EXPECT_EQ(listed(p),
              "aes-cbc/hmac-sha-256-128 aes-cbc/hmac-sha-1-96 des-ede3-cbc/hmac-sha-256-128 des-ede3-cbc/hmac-sha-1-96 "
              "null/hmac-sha-256-128 null/hmac-sha-1-96");
    EXPECT_EQ(integrity_order(p), "hmac-sha-256-128,hmac-sha-1-96");
    EXPECT_EQ(listed(policy("hmac-sha-1-96,hmac-sha-256-128,null", "hmac-sha-1-96")),
              "null/hmac-sha-1-96 null/hmac-sha-256-128");
    EXPECT_EQ(listed(policy(kNone, kNone, "hmac-sha-256-128")).find("aes-gmac"), std::string::npos)
        << "--alg-priority allows it alone";
}

TEST(AlgorithmPolicy, MistakesAreStartupErrorsNamingTheOption) {
    const std::tuple<std::optional<std::string>, std::optional<std::string>, std::optional<std::string>, std::string>
        cases[] = {
            {"hmac-sha-1-96,aes-ccm", kNone, kNone,
             "--allowed-algorithms: 'aes-ccm' is not an algorithm of TS 33.203 Annex H"},
            {kNone, "hmac-sha-384-192", kNone, "--preferred-algorithms: 'hmac-sha-384-192' is not an algorithm"},
            {kNone, "hmac-sha-256-128", kNone,
             "--preferred-algorithms: 'hmac-sha-256-128' is not allowed (--allowed-algorithms leaves it out)"},
            {"null,null,hmac-md5-96", kNone, kNone, "--allowed-algorithms: 'null' is named twice"},
            {kNone, "aes-cbc,,null", kNone, "--preferred-algorithms: an empty name"},
            {"aes-cbc,null", "", kNone,
             "--allowed-algorithms: 'aes-cbc' forms no pair TS 33.203 Annex H allows with the others allowed (it "
             "goes with hmac-sha-256-128, hmac-sha-1-96 or hmac-md5-96)"},
            {"hmac-md5-96", "", kNone, "--allowed-algorithms: 'hmac-md5-96' forms no pair"},
            {"hmac-sha-1-96,aes-gcm", kNone, kNone,
             "--allowed-algorithms: 'hmac-sha-1-96' forms no pair TS 33.203 Annex H allows with the others allowed "
             "(it goes with null, aes-cbc or des-ede3-cbc)"},
            {"aes-gmac,aes-cbc,hmac-md5-96", kNone, kNone,
             "--allowed-algorithms: 'aes-gmac' forms no pair TS 33.203 Annex H allows with the others allowed (it "
             "goes with null (RFC 4543))"},
            {"aes-gcm,null", kNone, kNone, "--allowed-algorithms: 'null' forms no pair"},
            {"", "", kNone, "--allowed-algorithms names no algorithm"},
            {"hmac-sha-1-96,null", "null,aes-cbc", kNone,
             "--preferred-algorithms: 'aes-cbc' is not allowed (--allowed-algorithms leaves it out)"},
            {"hmac-sha-1-96,null", "hmac-md5-96", kNone, "--preferred-algorithms: 'hmac-md5-96' is not allowed"},
            {"hmac-sha-1-96,null", "aes-gcm", kNone, "--preferred-algorithms: 'aes-gcm' is not allowed"},
            {"aes-gcm", kNone, "aes-gmac", "--alg-priority: 'aes-gmac' forms no pair"},
        };
    for (const auto& [allowed, preferred, priority, why] : cases) {
        const std::string got = refusal(allowed, preferred, priority);
        EXPECT_TRUE(got.starts_with(why)) << "allowed=" << allowed.value_or("(default)")
                                          << " preferred=" << preferred.value_or("(default)") << "\n -> " << got;
    }
}

// --alg-priority as before: the integrity algorithms in order, the others not allowed;
// the encryption family still comes from the new options.
TEST(AlgorithmPolicy, AlgPriorityStillOrdersAndLimitsTheIntegrityAlgorithms) {
    const AlgorithmPolicy md5 = policy(kNone, kNone, "hmac-md5-96");
    EXPECT_EQ(integrity_order(md5), "hmac-md5-96");
    EXPECT_EQ(encryption_order(md5), "aes-gcm,aes-cbc,des-ede3-cbc,null");
    EXPECT_FALSE(md5.rank({Alg::aes_gmac, Ealg::null})) << "aes-gmac is an integrity algorithm it leaves out";
    EXPECT_TRUE(md5.rank({Alg::null, Ealg::aes_gcm})) << "aes-gcm is an encryption algorithm, still allowed";
    EXPECT_EQ(integrity_order(policy(kNone, kNone, "hmac-md5-96,hmac-sha-1-96")), "hmac-md5-96,hmac-sha-1-96");
    EXPECT_EQ(integrity_order(policy(kNone, kNone, "hmac-sha-1-96,hmac-md5-96")), "hmac-sha-1-96,hmac-md5-96");
    EXPECT_EQ(integrity_order(policy(kNone, kNone, "aes-gmac,hmac-sha-1-96")), "aes-gmac,hmac-sha-1-96");
    const AlgorithmPolicy with = policy("null,aes-cbc", "null", "hmac-sha-1-96");
    EXPECT_EQ(listed(with), "null/hmac-sha-1-96 aes-cbc/hmac-sha-1-96");

    EXPECT_TRUE(refusal(kNone, kNone, "hmac-sha-256")
                    .starts_with("--alg-priority: 'hmac-sha-256' is not an integrity algorithm (hmac-sha-256-128, "
                                 "hmac-sha-1-96, hmac-md5-96, aes-gmac)"));
    EXPECT_TRUE(
        refusal(kNone, kNone, "aes-cbc").starts_with("--alg-priority: 'aes-cbc' is not an integrity algorithm"));
    EXPECT_TRUE(refusal(kNone, kNone, "").starts_with("--alg-priority needs at least one algorithm"));
    EXPECT_TRUE(refusal("hmac-md5-96,null", kNone, "hmac-sha-1-96")
                    .starts_with("--allowed-algorithms: 'hmac-md5-96': with --alg-priority"));
    EXPECT_TRUE(refusal(kNone, "hmac-sha-1-96,null", "hmac-sha-1-96")
                    .starts_with("--preferred-algorithms: 'hmac-sha-1-96': with --alg-priority"));
    EXPECT_TRUE(refusal(kNone, "des-ede3-cbc", "hmac-md5-96").starts_with("(accepted)"));
}

}  // namespace
}  // namespace pcscf::secagree
