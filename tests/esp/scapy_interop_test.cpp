// Interop with scapy's IPsec module (vectors/scapy_esp.txt, made by make_vectors.py):
// our inbound accepts scapy's ESP, HMAC-MD5-96, HMAC-SHA-1-96 or HMAC-SHA-256-128 (RFC
// 4868) with NULL encryption, AES-CBC or 3DES-CBC, and AES-GCM-128
// (RFC 4106) or AES-GMAC-128 (RFC 4543, esp_gmac.py on python3-cryptography: scapy has
// none), and yields exactly scapy's inner packet; our outbound produces exactly the bytes
// scapy produces (NULL encryption, and the AEADs, whose IV is SPI || sequence number:
// with CBC the IVs are random, cbc_engine_test checks those); a flipped bit anywhere in
// the ESP part (IV, ciphertext and ICV included) is refused with the reason that bit
// deserves.
#include <gtest/gtest.h>

#include <algorithm>

#include "net/ip_header.hpp"
#include "tests/common/hex.hpp"
#include "tests/common/vector_file.hpp"
#include "tests/esp/engine_fixture.hpp"

#ifndef PCSCF_VECTOR_DIR
#error "PCSCF_VECTOR_DIR must name tests/esp/vectors"
#endif

namespace pcscf::test {
namespace {

const std::vector<Vector>& vectors() {
    static const auto v = read_vectors(PCSCF_VECTOR_DIR "/scapy_esp.txt");
    return v;
}

std::vector<size_t> indices(const std::string& dir) { return indices_where(vectors(), "dir", dir); }

std::string test_name(const ::testing::TestParamInfo<size_t>& info) { return test_name_of(vectors()[info.param]); }

SaSpec spec_of(const Vector& v) {
    SaSpec s;
    s.dir = v.at("dir") == "in" ? Direction::inbound : Direction::outbound;
    s.alg = *parse_alg(v.at("alg"));
    if (v.contains("key")) s.key = from_hex(v.at("key"));  // the AEADs have none: cipher only
    s.spi = uint32_t(std::stoul(v.at("spi")));
    s.ue = *IpAddr::parse(v.at("ue"));
    s.pcscf = *IpAddr::parse(v.at("pcscf"));
    s.ue_port = uint16_t(std::stoul(v.at("ue_port")));
    s.pcscf_port = uint16_t(std::stoul(v.at("pcscf_port")));
    if (v.contains("ealg")) {
        s.ealg = *parse_ealg(v.at("ealg"));
        // CK_ESP for CBC; AES key || salt for aes-gcm (alg=null) and aes-gmac (ealg=null)
        s.cipher_key = from_hex(v.at("ckey"));
        EXPECT_EQ(s.cipher_key.size(), cipher_key_len(s.alg, s.ealg)) << v.at("name");
    }
    EXPECT_TRUE(transform(s.alg, s.ealg).has_value()) << v.at("name");
    return s;
}

// Vectors of one direction and pair (no ealg line: ealg=null).
size_t count(const std::string& dir, Alg alg, Ealg ealg) {
    return size_t(std::ranges::count_if(vectors(), [&](const Vector& v) {
        const std::string e = v.contains("ealg") ? v.at("ealg") : "null";
        return v.at("dir") == dir && v.at("alg") == name(alg) && e == name(ealg);
    }));
}

// The file holds what make_vectors.py writes: a regenerated file that lost a family of
// vectors fails here rather than testing less in silence.
TEST(ScapyVectorFile, HoldsEveryPairInBothDirectionsWhereTheIvAllows) {
    // 4 IP layouts x UDP/TCP x 7 sizes per direction for NULL encryption and the AEADs.
    for (Alg a : {Alg::hmac_md5_96, Alg::hmac_sha1_96, Alg::hmac_sha256_128}) {
        EXPECT_EQ(count("in", a, Ealg::null), 56u) << name(a);
        EXPECT_EQ(count("out", a, Ealg::null), 56u) << name(a);
        for (Ealg e : {Ealg::aes_cbc, Ealg::des_ede3_cbc}) {
            EXPECT_EQ(count("in", a, e), 40u) << name(a) << " " << name(e);  // 5 sizes
            EXPECT_EQ(count("out", a, e), 0u);
        }
    }
    for (const auto& [a, e] : {std::pair{Alg::null, Ealg::aes_gcm}, std::pair{Alg::aes_gmac, Ealg::null}}) {
        EXPECT_EQ(count("in", a, e), 56u) << name(a) << " " << name(e);
        EXPECT_EQ(count("out", a, e), 56u) << name(a) << " " << name(e);
    }
    EXPECT_EQ(vectors().size(), 800u);
}

// Offset of the ESP header in a packet scapy made (after IPv4 options / IPv6 extensions).
size_t esp_offset(const std::vector<uint8_t>& pkt) {
    auto info = parse_ip(pkt.data(), uint32_t(pkt.size()));
    EXPECT_TRUE(info.has_value());
    return info ? info->l3_len : 0;
}

class ScapyInbound : public EngineTest, public ::testing::WithParamInterface<size_t> {};
class ScapyOutbound : public EngineTest, public ::testing::WithParamInterface<size_t> {};

TEST_P(ScapyInbound, YieldsScapysInnerPacketOnceOnly) {
    const Vector& v = vectors().at(GetParam());
    const SaSpec s = spec_of(v);
    add(s);
    const auto esp = from_hex(v.at("esp"));
    const Result r = run1(Direction::inbound, esp);
    ASSERT_TRUE(r.ok) << name(r.reason);
    EXPECT_EQ(to_hex(r.bytes), v.at("plain"));
    EXPECT_EQ(engine->find_inbound(s.spi)->packets, 1u);
    const Result again = run1(Direction::inbound, esp);
    EXPECT_FALSE(again.ok);
    EXPECT_EQ(again.reason, DropReason::replay);
}

TEST_P(ScapyOutbound, ProducesScapysBytes) {
    const Vector& v = vectors().at(GetParam());
    add(spec_of(v));
    const Result r = run1(Direction::outbound, from_hex(v.at("plain")));
    ASSERT_TRUE(r.ok) << name(r.reason);
    EXPECT_EQ(to_hex(r.bytes), v.at("esp"));
}

// Flips every bit of the ESP part (header, payload, trailer, ICV) of inbound vectors.
TEST_P(ScapyInbound, EveryFlippedBitIsRefusedForTheRightReason) {
    const Vector& v = vectors().at(GetParam());
    const SaSpec s = spec_of(v);
    add(s);
    const auto esp = from_hex(v.at("esp"));
    const size_t off = esp_offset(esp);
    const uint32_t seq = uint32_t(std::stoul(v.at("seq")));
    std::vector<std::vector<uint8_t>> flipped;
    std::vector<DropReason> expected;
    for (size_t byte = off; byte < esp.size(); ++byte) {
        for (int bit = 0; bit < 8; ++bit) {
            auto p = esp;
            p[byte] ^= uint8_t(1 << bit);
            DropReason want = DropReason::bad_icv;
            if (byte < off + 4) want = DropReason::unknown_spi;
            else if (byte < off + 8 && (seq ^ (0x80000000u >> ((byte - off - 4) * 8 + 7 - bit))) == 0)
                want = DropReason::replay;  // the flip made the sequence number 0
            flipped.push_back(std::move(p));
            expected.push_back(want);
        }
    }
    const auto results = run(Direction::inbound, flipped);
    for (size_t i = 0; i < results.size(); ++i) {
        ASSERT_FALSE(results[i].ok) << "flip " << i << " accepted";
        ASSERT_EQ(name(results[i].reason), name(expected[i])) << "flip " << i;
    }
    EXPECT_EQ(engine->find_inbound(s.spi)->packets, 0u);
    // The window never moved: the genuine packet still verifies afterwards.
    EXPECT_TRUE(run1(Direction::inbound, esp).ok);
}

INSTANTIATE_TEST_SUITE_P(Vectors, ScapyInbound, ::testing::ValuesIn(indices("in")), test_name);
INSTANTIATE_TEST_SUITE_P(Vectors, ScapyOutbound, ::testing::ValuesIn(indices("out")), test_name);

}  // namespace
}  // namespace pcscf::test
