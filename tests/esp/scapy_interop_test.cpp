// Interop with scapy's IPsec module (vectors/scapy_esp.txt, made by make_vectors.py):
// our inbound accepts scapy's ESP, NULL-encrypted or AES-CBC / 3DES-CBC, and yields
// exactly scapy's inner packet; our outbound produces exactly the bytes scapy produces
// (NULL encryption: with a cipher the IVs differ, cbc_outbound_test checks those); a
// flipped bit anywhere in the ESP part (IV and ciphertext included) is refused with the
// reason that bit deserves.
#include <gtest/gtest.h>

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

std::vector<size_t> indices(const std::string& dir) {
    std::vector<size_t> out;
    for (size_t i = 0; i < vectors().size(); ++i)
        if (vectors()[i].at("dir") == dir) out.push_back(i);
    return out;
}

std::string test_name(const ::testing::TestParamInfo<size_t>& info) {
    std::string n = vectors()[info.param].at("name");
    for (char& c : n)
        if (!isalnum(static_cast<unsigned char>(c))) c = '_';
    return n;
}

SaSpec spec_of(const Vector& v) {
    SaSpec s;
    s.dir = v.at("dir") == "in" ? Direction::inbound : Direction::outbound;
    s.alg = *parse_alg(v.at("alg"));
    s.key = from_hex(v.at("key"));
    s.spi = uint32_t(std::stoul(v.at("spi")));
    s.ue = *IpAddr::parse(v.at("ue"));
    s.pcscf = *IpAddr::parse(v.at("pcscf"));
    s.ue_port = uint16_t(std::stoul(v.at("ue_port")));
    s.pcscf_port = uint16_t(std::stoul(v.at("pcscf_port")));
    if (v.contains("ealg")) {
        s.ealg = *parse_ealg(v.at("ealg"));
        s.cipher_key = from_hex(v.at("ckey"));
    }
    return s;
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
