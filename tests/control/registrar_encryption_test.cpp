// Sec-agree with encryption (TS 33.203 7.2, Annex H / I): which of the UE's offers the
// registrar takes by the operator's policy, what Security-Server lists, and the records
// the workers get: the right ealg and CK_ESP, checked against esp_keys and against an
// expectation computed here from the text of Annex I.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <iterator>

#include "control/secagree/registrar.hpp"
#include "control/secagree/registration_state.hpp"
#include "sa_contract/esp_keys.hpp"
#include "sa_contract/hmac_key.hpp"
#include "sa_contract/imb_manager.hpp"
#include "tests/control/sa_rig.hpp"

namespace pcscf::secagree {
namespace {

using namespace std::chrono_literals;
using esp::Alg;
using esp::Ealg;

const net::IpAddr kUe = *net::IpAddr::parse("2001:db8:1::10");
const net::IpAddr kPcscf6 = *net::IpAddr::parse("2001:db8:f::1");
const net::IpAddr kPcscf4 = *net::IpAddr::parse("192.0.2.1");
const std::string kImpi = "user@ims.example";
constexpr std::array<uint8_t, 16> kIk{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
constexpr std::array<uint8_t, 16> kCk{0x3c, 0x41, 0x9e, 0x02, 0xd7, 0x58, 0x6a, 0xb0,
                                      0x91, 0x15, 0xee, 0x27, 0x80, 0x4f, 0xc3, 0x6d};

// One ipsec-3gpp mechanism per "alg/ealg" (ealg "-": none given, which means null), all
// with the same SPIs and ports, in the order given.
std::vector<sip::SecurityMechanism> offers(std::initializer_list<std::string_view> pairs, uint16_t port_c = 6000) {
    std::string text;
    for (std::string_view p : pairs) {
        const size_t slash = p.find('/');
        const std::string_view ealg = p.substr(slash + 1);
        text += (text.empty() ? "" : ", ") + std::string("ipsec-3gpp;alg=") + std::string(p.substr(0, slash)) +
                (ealg == "-" ? "" : ";ealg=" + std::string(ealg)) + ";spi-c=" + std::to_string(0x1110000 + port_c) +
                ";spi-s=2236962;port-c=" + std::to_string(port_c) + ";port-s=9901";
    }
    auto l = sip::parse_security_list(text);
    EXPECT_TRUE(l.has_value()) << text;
    return l ? *l : std::vector<sip::SecurityMechanism>{};
}

// Annex I for des-ede3-cbc, from its text: CK_IM = CK1 || CK2, CK_ESP = CK1 || CK2 || CK1,
// each byte's least significant bit the DES parity bit (odd parity).
std::array<uint8_t, 24> expected_3des(const std::array<uint8_t, 16>& ck) {
    std::array<uint8_t, 24> k{};
    for (size_t i = 0; i < 24; ++i) {
        const uint8_t b = ck[i % 16] & 0xfe;
        k[i] = uint8_t(b | (std::popcount(unsigned(b)) % 2 == 0 ? 1 : 0));
    }
    return k;
}

class RegistrarEncryptionTest : public ::testing::Test, public test::SaRig {
protected:
    RegistrarEncryptionTest() { use(AlgorithmPolicy{}); }
    void use(const AlgorithmPolicy& p) {
        RegistrarConfig c;
        c.algorithms = p;
        reg.emplace(*sas, c, kPcscf4, kPcscf6);
        sas->set_listener([this](const ctl::SaInfo& sa, const esp::SaEvent& e) { reg->on_sa_event(sa, e); });
    }
    std::expected<bool, Refusal> sm1(std::vector<sip::SecurityMechanism> client) {
        Sm1 m;
        m.impi = kImpi;
        m.impu = "sip:" + kImpi;
        m.security_client = std::move(client);
        m.from = {kUe, 5060, 5060, false};
        return reg->on_sm1(m, now);
    }
    // SM1 with these offers, then SM6 with IK and CK: the pair the temporary set got.
    std::optional<AlgPair> chosen(std::vector<sip::SecurityMechanism> client) {
        auto one = sm1(std::move(client));
        EXPECT_TRUE(one.has_value()) << one.error().reason;
        auto six = reg->on_sm6(kImpi, kUe, kIk, now, kCk);
        EXPECT_TRUE(six.has_value()) << six.error().reason;
        if (!six) return std::nullopt;
        step();
        const auto v = reg->view(kImpi, kUe);
        EXPECT_EQ(to_esp(v->temporary->ue_side.alg), v->temporary->alg) << "the offer taken names the pair";
        EXPECT_EQ(to_esp(v->temporary->ue_side.ealg), v->temporary->ealg);
        return v->temporary->pair();
    }

    Clock::time_point now = Clock::time_point{} + 1000s;
    std::optional<Registrar> reg;
};

TEST_F(RegistrarEncryptionTest, TheBestPairByPolicyIsChosenWhateverTheUesOrder) {
    EXPECT_EQ(
        chosen(offers({"hmac-sha-1-96/null", "hmac-md5-96/-", "hmac-md5-96/des-ede3-cbc", "hmac-sha-1-96/aes-cbc"})),
        (AlgPair{Alg::hmac_sha1_96, Ealg::aes_cbc}))
        << "the default policy puts aes-cbc first";
}

TEST_F(RegistrarEncryptionTest, TheEalgOutranksTheAlg) {
    EXPECT_EQ(chosen(offers({"hmac-sha-1-96/null", "hmac-md5-96/des-ede3-cbc"})),
              (AlgPair{Alg::hmac_md5_96, Ealg::des_ede3_cbc}));
}

TEST_F(RegistrarEncryptionTest, TheAlgDecidesBetweenPairsOfOneEalg) {
    EXPECT_EQ(chosen(offers({"hmac-md5-96/aes-cbc", "hmac-sha-1-96/aes-cbc"})),
              (AlgPair{Alg::hmac_sha1_96, Ealg::aes_cbc}));
}

TEST_F(RegistrarEncryptionTest, ThePreferredOrderDecides) {
    use(*parse_algorithm_policy({std::nullopt, "null,aes-cbc,hmac-md5-96", std::nullopt}));
    EXPECT_EQ(chosen(offers({"hmac-sha-1-96/aes-cbc", "hmac-sha-1-96/null", "hmac-md5-96/null"})),
              (AlgPair{Alg::hmac_md5_96, Ealg::null}));
}

TEST_F(RegistrarEncryptionTest, PairsNotAllowedArePassedOver) {
    use(*parse_algorithm_policy({"hmac-sha-1-96,hmac-md5-96,des-ede3-cbc,null", std::nullopt, std::nullopt}));
    EXPECT_EQ(chosen(offers({"hmac-sha-1-96/aes-cbc", "hmac-md5-96/null"})), (AlgPair{Alg::hmac_md5_96, Ealg::null}));
}

// TS 33.203 7.2: Security-Server carries every pair we allow, best first with q going
// down, each with the new set's SPIs and ports; SM7 must echo all of it.
TEST_F(RegistrarEncryptionTest, SecurityServerListsEveryAllowedPairOfTheNewSet) {
    use(*parse_algorithm_policy({"hmac-sha-1-96,hmac-md5-96,aes-cbc,null", std::nullopt, std::nullopt}));
    const auto client = offers({"hmac-md5-96/null", "hmac-md5-96/aes-cbc"});
    ASSERT_TRUE(sm1(client).has_value());
    const auto six = reg->on_sm6(kImpi, kUe, kIk, now, kCk);
    ASSERT_TRUE(six.has_value()) << six.error().reason;
    step();
    const SaSet t = *reg->view(kImpi, kUe)->temporary;
    EXPECT_EQ(t.pair(), (AlgPair{Alg::hmac_md5_96, Ealg::aes_cbc}));
    const std::string sp = ";spi-c=" + std::to_string(t.spi_pc) + ";spi-s=" + std::to_string(t.spi_ps) +
                           ";port-c=" + std::to_string(t.port_pc) + ";port-s=" + std::to_string(t.port_ps);
    EXPECT_EQ(sip::format_mechanisms(six->first),
              "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=trans" + sp + ";q=1, " +
                  "ipsec-3gpp;alg=hmac-md5-96;ealg=aes-cbc;prot=esp;mod=trans" + sp + ";q=0.9, " +
                  "ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;prot=esp;mod=trans" + sp + ";q=0.8, " +
                  "ipsec-3gpp;alg=hmac-md5-96;ealg=null;prot=esp;mod=trans" + sp + ";q=0.7");
    const Arrival over{kUe, t.port_uc(), t.port_ps, true};
    EXPECT_FALSE(reg->on_sm7(kImpi, over, client, std::span(six->first).first(1)).has_value())
        << "Security-Verify must be the whole list";
    EXPECT_TRUE(reg->on_sm7(kImpi, over, client, six->first).has_value());
}

// Annex I, aes-cbc: CK_ESP = CK_IM, in every record of the set.
TEST_F(RegistrarEncryptionTest, AesCbcSasCarryCkAsCkEsp) {
    ASSERT_EQ(chosen(offers({"hmac-sha-1-96/aes-cbc"})), (AlgPair{Alg::hmac_sha1_96, Ealg::aes_cbc}));
    const auto annex_i = esp::ck_esp_aes_cbc(kCk);
    ASSERT_EQ(records.size(), 4u);
    for (const esp::SaRecord& r : records) {
        EXPECT_EQ(r.op, esp::SaOp::add);
        EXPECT_EQ(r.sa.ealg, Ealg::aes_cbc);
        ASSERT_EQ(r.cipher.len, 16u);
        EXPECT_TRUE(std::equal(kCk.begin(), kCk.end(), r.cipher.bytes.begin())) << "CK_ESP == CK";
        EXPECT_TRUE(std::equal(annex_i.begin(), annex_i.end(), r.cipher.bytes.begin()));
    }
    EXPECT_EQ(inbound_in_engines() + outbound_in_engines(), 4u);
}

// Annex I, des-ede3-cbc: CK1 || CK2 || CK1 with odd parity.
TEST_F(RegistrarEncryptionTest, TripleDesSasCarryCk1Ck2Ck1WithOddParity) {
    ASSERT_EQ(chosen(offers({"hmac-md5-96/des-ede3-cbc"})), (AlgPair{Alg::hmac_md5_96, Ealg::des_ede3_cbc}));
    const auto mine = expected_3des(kCk);
    const auto annex_i = esp::derive_ck_esp_3des(kCk);
    ASSERT_TRUE(annex_i.has_value());
    EXPECT_EQ(*annex_i, mine);
    ASSERT_EQ(records.size(), 4u);
    for (const esp::SaRecord& r : records) {
        EXPECT_EQ(r.sa.ealg, Ealg::des_ede3_cbc);
        EXPECT_EQ(r.sa.alg, Alg::hmac_md5_96);
        ASSERT_EQ(r.cipher.len, 24u);
        EXPECT_TRUE(std::equal(mine.begin(), mine.end(), r.cipher.bytes.begin()));
        for (size_t i = 0; i < 24; ++i) EXPECT_EQ(std::popcount(unsigned(r.cipher.bytes[i])) % 2, 1) << i;
    }
    EXPECT_EQ(sas->find(reg->view(kImpi, kUe)->temporary->ids[SaSet::in_ps])->cipher.span().size(), 24u);
}

TEST_F(RegistrarEncryptionTest, IntegrityOnlyNeedsNoCk) {
    ASSERT_TRUE(sm1(offers({"hmac-sha-1-96/null"})).has_value());
    EXPECT_FALSE(reg->needs_ck(kImpi, kUe));
    ASSERT_TRUE(reg->on_sm6(kImpi, kUe, kIk, now).has_value());
    step();
    ASSERT_EQ(records.size(), 4u);
    for (const esp::SaRecord& r : records) {
        EXPECT_EQ(r.sa.ealg, Ealg::null);
        EXPECT_EQ(r.cipher.len, 0u);
    }
}

// hmac-sha-256-128, once the operator allows it: chosen first among the HMACs, its
// records carry the SHA-256 states of IK || 128 zero bits (RFC 4868's 256-bit key), and
// with ealg=null no CK is needed.
TEST_F(RegistrarEncryptionTest, HmacSha256WhenAllowedCarriesTheStatesOfIkAndNeedsNoCk) {
    AlgorithmOptions o;
    o.allowed = "hmac-sha-256-128,hmac-sha-1-96,aes-cbc,null";
    use(*parse_algorithm_policy(o));
    ASSERT_TRUE(sm1(offers({"hmac-sha-1-96/-", "hmac-sha-256-128/-"})).has_value());
    EXPECT_FALSE(reg->needs_ck(kImpi, kUe));
    ASSERT_TRUE(reg->on_sm6(kImpi, kUe, kIk, now).has_value());
    step();
    auto imb = esp::ImbManager::create();
    ASSERT_TRUE(imb.has_value());
    std::array<uint8_t, 32> ik_esp{};
    std::copy(kIk.begin(), kIk.end(), ik_esp.begin());
    const auto want = esp::hmac_states(imb->get(), Alg::hmac_sha256_128, ik_esp);
    ASSERT_TRUE(want.has_value());
    ASSERT_EQ(records.size(), 4u);
    for (const esp::SaRecord& r : records) {
        EXPECT_EQ(r.sa.alg, Alg::hmac_sha256_128);
        EXPECT_EQ(r.sa.ealg, Ealg::null);
        EXPECT_EQ(r.key, *want);
        EXPECT_EQ(r.cipher.len, 0u);
    }
    EXPECT_EQ(inbound_in_engines() + outbound_in_engines(), 4u);
}

TEST_F(RegistrarEncryptionTest, HmacSha256IsNotChosenByTheDefaultPolicy) {
    ASSERT_EQ(chosen(offers({"hmac-sha-256-128/-", "hmac-md5-96/-"})), (AlgPair{Alg::hmac_md5_96, Ealg::null}));
}

TEST_F(RegistrarEncryptionTest, AnEncryptingPairWithoutCkIsRefusedWith500) {
    ASSERT_TRUE(sm1(offers({"hmac-sha-1-96/aes-cbc"})).has_value());
    EXPECT_TRUE(reg->needs_ck(kImpi, kUe));
    const auto six = reg->on_sm6(kImpi, kUe, kIk, now);
    ASSERT_FALSE(six.has_value());
    EXPECT_EQ(six.error().status, 500);
    EXPECT_NE(six.error().reason.find("no cipher key (ck) for alg=hmac-sha-1-96, ealg=aes-cbc"), std::string::npos)
        << six.error().reason;
    step();
    EXPECT_EQ(sas->size(), 0u);
    EXPECT_TRUE(records.empty());
}

// RFC 2451 2.3: a CK whose halves make a weak 3DES key refuses this registration, leaving
// nothing behind and naming no key bytes; Retry-After 1: the next REGISTER brings a new
// challenge, so a new CK.
TEST_F(RegistrarEncryptionTest, AWeak3DesKeyRefusesTheRegistrationCleanly) {
    for (const std::array<uint8_t, 16>& weak :
         {std::array<uint8_t, 16>{0x3c, 0x41, 0x9e, 0x02, 0xd7, 0x58, 0x6a, 0xb0, 0x3d, 0x40, 0x9f, 0x03, 0xd6, 0x59,
                                  0x6b, 0xb1},  // CK2 == CK1 but for the parity bits
          std::array<uint8_t, 16>{1, 1, 1, 1, 1, 1, 1, 1, 0x91, 0x15, 0xee, 0x27, 0x80, 0x4f, 0xc3,
                                  0x6d}}) {  // CK1 a DES weak key
        ASSERT_TRUE(sm1(offers({"hmac-sha-1-96/des-ede3-cbc"})).has_value());
        const auto six = reg->on_sm6(kImpi, kUe, kIk, now, weak);
        ASSERT_FALSE(six.has_value());
        EXPECT_EQ(six.error().status, 500);
        EXPECT_EQ(six.error().retry_after, 1u);
        EXPECT_NE(six.error().reason.find("des-ede3-cbc"), std::string::npos) << six.error().reason;
        EXPECT_EQ(six.error().reason.find("3c"), std::string::npos) << "no key bytes in the reason";
        step();
        EXPECT_EQ(sas->size(), 0u);
        EXPECT_TRUE(records.empty());
        reg->abort(kImpi, kUe, now);  // as the proxy does once the 500 is sent
        EXPECT_EQ(reg->ues(), 0u);
    }
    EXPECT_EQ(chosen(offers({"hmac-sha-1-96/des-ede3-cbc"})), (AlgPair{Alg::hmac_sha1_96, Ealg::des_ede3_cbc}))
        << "the next challenge's CK does";
}

// The AEAD pairs (Annex H, RFC 4106 / 4543): SaRecord::cipher is the AES key || salt of
// Annex I (esp::cipher_key), no HMAC key; the Security-Server names them as Annex H does.
class AeadTest : public RegistrarEncryptionTest {
protected:
    // SM1 offering `pair`, SM6 with IK and CK: the records the workers got.
    void negotiate(std::string_view pair) {
        ASSERT_TRUE(sm1(offers({"hmac-md5-96/null", pair})).has_value());
        EXPECT_TRUE(reg->needs_ck(kImpi, kUe)) << "the AEAD salts come from CK and IK";
        auto six = reg->on_sm6(kImpi, kUe, kIk, now, kCk);
        ASSERT_TRUE(six.has_value()) << six.error().reason;
        server = sip::format_mechanisms(six->first);
        step();
    }
    void expect_records(Alg alg, Ealg ealg, const esp::AeadKey& want) {
        std::vector<esp::SaRecord> adds;  // what a worker refusing the pair would add: removals
        std::copy_if(records.begin(), records.end(), std::back_inserter(adds),
                     [](const esp::SaRecord& r) { return r.op == esp::SaOp::add; });
        ASSERT_EQ(adds.size(), 4u);
        for (const esp::SaRecord& r : adds) {
            EXPECT_EQ(r.sa.alg, alg);
            EXPECT_EQ(r.sa.ealg, ealg);
            EXPECT_EQ(r.key, esp::HmacKey{}) << "no HMAC state for an AEAD";
            ASSERT_EQ(r.cipher.len, esp::kAeadKeyLen);
            EXPECT_TRUE(std::equal(want.key.begin(), want.key.end(), r.cipher.bytes.begin()));
            EXPECT_TRUE(std::equal(want.salt.begin(), want.salt.end(), r.cipher.bytes.begin() + 16));
        }
    }
    esp::ImbManager imb = std::move(*esp::ImbManager::create());
    std::string server;
};

TEST_F(AeadTest, AesGcmCarriesCkAndItsSaltAndComesFirst) {
    negotiate("null/aes-gcm");
    const auto want = esp::derive_gcm_key_salt(imb.get(), kCk, kIk);
    ASSERT_TRUE(want.has_value());
    EXPECT_TRUE(std::equal(kCk.begin(), kCk.end(), want->key.begin())) << "GCM's key is CK_IM";
    expect_records(Alg::null, Ealg::aes_gcm, *want);
    EXPECT_TRUE(server.starts_with("ipsec-3gpp;alg=null;ealg=aes-gcm;prot=esp;mod=trans;")) << server;
    EXPECT_NE(server.find("ipsec-3gpp;alg=aes-gmac;ealg=null;prot=esp;mod=trans;"), std::string::npos) << server;
}

TEST_F(AeadTest, AesGmacCarriesIkAndItsSalt) {
    negotiate("aes-gmac/null");
    const auto want = esp::derive_gmac_key_salt(imb.get(), kCk, kIk);
    ASSERT_TRUE(want.has_value());
    EXPECT_TRUE(std::equal(kIk.begin(), kIk.end(), want->key.begin())) << "GMAC's key is IK_IM";
    expect_records(Alg::aes_gmac, Ealg::null, *want);
}

TEST_F(AeadTest, WithoutCkTheyAreRefusedWith500) {
    for (std::string_view pair : {"null/aes-gcm", "aes-gmac/-"}) {
        ASSERT_TRUE(sm1(offers({pair})).has_value()) << pair;
        EXPECT_TRUE(reg->needs_ck(kImpi, kUe)) << pair;
        const auto six = reg->on_sm6(kImpi, kUe, kIk, now);
        ASSERT_FALSE(six.has_value()) << pair;
        EXPECT_EQ(six.error().status, 500);
        EXPECT_NE(six.error().reason.find("no cipher key (ck)"), std::string::npos) << six.error().reason;
        step();
        EXPECT_TRUE(records.empty());
        reg->abort(kImpi, kUe, now);
    }
}

// Offers of pairs Annex H does not allow are not pairs we can use: alone, they get the 494.
TEST_F(AeadTest, PairsAnnexHDoesNotAllowAreNeverChosen) {
    const auto r = sm1(offers({"null/aes-cbc", "aes-gmac/aes-cbc", "null/-", "hmac-sha-1-96/aes-gcm"}));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().status, 494);
    EXPECT_EQ(chosen(offers({"null/aes-cbc", "aes-gmac/aes-gcm", "hmac-md5-96/null"})),
              (AlgPair{Alg::hmac_md5_96, Ealg::null}))
        << "beside a usable offer they are passed over";
}

// A restarted P-CSCF reads the set's pair back from its registration record.
TEST(RegistrationRecord, KeepsTheSetsEalg) {
    StoredRegistration r;
    r.impi = kImpi;
    r.ue = kUe;
    SaSet s;
    s.alg = Alg::hmac_md5_96;
    s.ealg = Ealg::des_ede3_cbc;
    s.ue_side = offers({"hmac-md5-96/des-ede3-cbc"})[0].ipsec.value();
    s.ids = {1, 2, 3, 4};
    r.current = s;
    const auto back = decode_registration(encode(r));
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(back->current->pair(), (AlgPair{Alg::hmac_md5_96, Ealg::des_ede3_cbc}));
    for (std::string_view pair : {"null/aes-gcm", "aes-gmac/null"}) {
        s.ue_side = offers({pair})[0].ipsec.value();
        s.alg = to_esp(s.ue_side.alg);
        s.ealg = to_esp(s.ue_side.ealg);
        r.current = s;
        const auto aead = decode_registration(encode(r));
        ASSERT_TRUE(aead.has_value()) << aead.error().message;
        EXPECT_EQ(aead->current->pair(), s.pair()) << pair;
    }
    s.ue_side = offers({"null/aes-cbc"})[0].ipsec.value();  // no pair of Annex H: a damaged record
    s.alg = esp::Alg::null;
    s.ealg = esp::Ealg::aes_cbc;
    r.current = s;
    EXPECT_FALSE(decode_registration(encode(r)).has_value());
}

}  // namespace
}  // namespace pcscf::secagree
