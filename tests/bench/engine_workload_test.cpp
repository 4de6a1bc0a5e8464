// The engine benchmark's UDP-enc-tun workload (bench/engine_workload.hpp): every packet it
// builds passes the engine in both directions, pass after pass, shaped as a UE behind a
// NAT sends and receives it; its transport twin passes too, with each HMAC, and the
// single-buffer reference (OpenSSL) computes the ICVs its packets carry; the AES-CBC
// reference does the same work through IPsec-MB's bursts as through its chained jobs.
#include "bench/engine_workload.hpp"

#include <gtest/gtest.h>
#include <rte_byteorder.h>

#include <cstring>
#include <string>
#include <tuple>

#include "bench/single_buffer_hmac.hpp"
#include "net/ip_addr.hpp"

namespace pcscf::bench {
namespace {

using namespace pcscf::esp;

constexpr size_t kBurst = 32;

uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
net::IpAddr v4_at(const uint8_t* p) { return net::IpAddr::v4(p); }

// Runs every burst of `dir`'s ring and returns how many packets passed; the first drop's
// reason in `why`.
size_t pass(EngineWorkload& w, Direction dir, std::string& why) {
    auto& ring = dir == Direction::inbound ? w.inbound() : w.outbound();
    rte_mbuf* burst[kBurst];
    net::DropReason reasons[kBurst];
    size_t passed = 0;
    for (size_t pos = 0; pos + kBurst <= ring.size(); pos += kBurst) {
        const uint16_t good = w.process(dir, {&ring[pos], kBurst}, burst, reasons);
        passed += good;
        if (good != kBurst && why.empty()) why = std::string(name(reasons[good]));
    }
    return passed;
}

class NattWorkload : public ::testing::TestWithParam<std::tuple<Alg, uint32_t>> {};

TEST_P(NattWorkload, EveryPacketPassesBothWaysPassAfterPass) {
    const auto [alg, size] = GetParam();
    EngineWorkload w(alg, size, 1, 256, false, Ealg::null, Mode::udp_enc_tun);
    EXPECT_EQ(w.ip_size(), size + 28) << "the same payload as transport, in UDP and an inner header";
    const SaRecord in = w.inbound_record(0), out = w.outbound_record(0);
    ASSERT_EQ(in.sa.mode, Mode::udp_enc_tun);
    ASSERT_NE(in.sa.encap_port, 0);
    // As built: from the UE's public address and NAT port, in UDP to 4500.
    for (const Template& t : w.inbound()) {
        const uint8_t* p = t.hdr.data();
        ASSERT_EQ(p[9], 17);
        ASSERT_EQ(v4_at(p + 12), in.sa.ue_addr);
        ASSERT_EQ(be16(p + 20), in.sa.encap_port);
        ASSERT_EQ(be16(p + 22), kNatTPort);
        ASSERT_EQ(p[36], 0x45) << "tunnel mode: an inner IPv4 header after the ESP header";
        ASSERT_EQ(v4_at(p + 36 + 12), in.sa.ue_inner);
    }
    for (int round = 0; round < 3; ++round) {
        std::string why;
        ASSERT_EQ(pass(w, Direction::inbound, why), w.inbound().size()) << "inbound dropped: " << why;
        for (const Template& t : w.inbound()) {  // delivered: the inner packet from the public address
            const uint8_t* p = rte_pktmbuf_mtod(t.m, const uint8_t*);
            ASSERT_EQ(p[9], 17);
            ASSERT_EQ(v4_at(p + 12), in.sa.ue_addr);
            ASSERT_EQ(be16(p + 2), size - 22) << "the inner packet: the transport packet's IP, UDP and payload";
        }
        ASSERT_EQ(pass(w, Direction::outbound, why), w.outbound().size()) << "outbound dropped: " << why;
        for (const Template& t : w.outbound()) {  // sent: in UDP to the NAT port, inner to the UE's own address
            const uint8_t* p = rte_pktmbuf_mtod(t.m, const uint8_t*);
            ASSERT_EQ(p[9], 17);
            ASSERT_EQ(v4_at(p + 16), out.sa.ue_addr);
            ASSERT_EQ(be16(p + 20), kNatTPort);
            ASSERT_EQ(be16(p + 22), out.sa.encap_port);
            ASSERT_EQ(be16(p + 2), w.ip_size());
            ASSERT_EQ(v4_at(p + 36 + 16), out.sa.ue_inner);
        }
        ASSERT_TRUE(w.next_inbound_pass());
    }
}

INSTANTIATE_TEST_SUITE_P(Sizes, NattWorkload,
                         ::testing::Combine(::testing::Values(Alg::hmac_sha1_96, Alg::hmac_md5_96),
                                            ::testing::Values(64u, 512u, 1400u)));

class TransportWorkload : public ::testing::TestWithParam<Alg> {};

TEST_P(TransportWorkload, EveryPacketPassesBothWaysAndOpenSslAgreesOnItsIcvs) {
    const Alg alg = GetParam();
    EngineWorkload w(alg, 512, 1, 256);
    EXPECT_EQ(w.ip_size(), 512u);
    EXPECT_EQ(w.inbound_record(0).sa.mode, Mode::transport);
    const SingleBufferHmac openssl(alg, w.raw_key(0));
    const uint32_t icv = icv_len(alg, Transform::hmac);
    for (const Template& t : w.inbound()) {
        uint8_t tag[16];
        openssl.icv(t.esp, t.esp_len, tag);
        ASSERT_EQ(std::memcmp(tag, t.esp + t.esp_len, icv), 0) << name(alg);
    }
    std::string why;
    EXPECT_EQ(pass(w, Direction::inbound, why), w.inbound().size()) << why;
    EXPECT_EQ(pass(w, Direction::outbound, why), w.outbound().size()) << why;
}

INSTANTIATE_TEST_SUITE_P(Hmacs, TransportWorkload,
                         ::testing::Values(Alg::hmac_sha1_96, Alg::hmac_md5_96, Alg::hmac_sha256_128));

// hash_only's AES-CBC work, both ways through IPsec-MB: decrypting, the tag is the
// sealed packet's ICV (over the ciphertext) and the trailer appears; encrypting again
// with the same IV gives back the sealed bytes and the same tag (encryption first).
class CbcReference : public ::testing::TestWithParam<std::tuple<Alg, ImbApi>> {};

TEST_P(CbcReference, DecryptsAfterAndEncryptsBeforeTheHmac) {
    const auto [alg, api] = GetParam();
    EngineWorkload w(alg, 504, 4, 64, false, Ealg::aes_cbc);
    const auto& ring = w.inbound();
    const uint32_t icv = icv_len(alg, Transform::cbc_hmac);
    std::vector<std::vector<uint8_t>> sealed;
    for (const Template& t : ring) sealed.emplace_back(t.esp, t.esp + t.esp_len + icv);
    uint8_t tags[64][16];
    for (size_t pos = 0; pos < ring.size(); pos += kBurst)
        w.cipher_hash_only({&ring[pos], kBurst}, &tags[pos], false, api);
    for (size_t k = 0; k < ring.size(); ++k) {
        const Template& t = ring[k];
        EXPECT_EQ(std::memcmp(tags[k], t.esp + t.esp_len, icv), 0) << k;
        EXPECT_EQ(t.esp[t.esp_len - 1], 17) << "next header: UDP, in the clear";
        const uint8_t pad = t.esp[t.esp_len - 2];
        for (uint8_t b = 1; b <= pad; ++b) EXPECT_EQ(t.esp[t.esp_len - 2 - pad + b - 1], b) << k;
        std::memset(tags[k], 0, sizeof tags[k]);
    }
    for (size_t pos = 0; pos < ring.size(); pos += kBurst)
        w.cipher_hash_only({&ring[pos], kBurst}, &tags[pos], true, api);
    for (size_t k = 0; k < ring.size(); ++k) {
        const Template& t = ring[k];
        EXPECT_EQ(std::vector<uint8_t>(t.esp, t.esp + t.esp_len + icv), sealed[k]) << k;
        EXPECT_EQ(std::memcmp(tags[k], t.esp + t.esp_len, icv), 0) << k;
    }
}

INSTANTIATE_TEST_SUITE_P(Apis, CbcReference,
                         ::testing::Combine(::testing::Values(Alg::hmac_sha1_96, Alg::hmac_md5_96,
                                                              Alg::hmac_sha256_128),
                                            ::testing::Values(ImbApi::direct, ImbApi::jobs)));

// A size below the smallest packet of the IP version and ICV is refused with that
// smallest size: 72 bytes fits IPv6 with a 12-byte ICV, not with AES-GMAC's 16 bytes.
TEST(WorkloadRefuses, TooSmallASizeNamingTheSmallest) {
    EXPECT_NO_THROW(EngineWorkload(Alg::hmac_sha1_96, 72, 1, 32, true));
    try {
        EngineWorkload(Alg::aes_gmac, 72, 1, 32, true);
        ADD_FAILURE() << "72 bytes accepted for IPv6 AES-GMAC";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("from 76 "), std::string::npos) << e.what();
    }
    EXPECT_NO_THROW(EngineWorkload(Alg::aes_gmac, 76, 1, 32, true));
}

TEST(NattWorkloadRefuses, Ipv6) {
    EXPECT_THROW(EngineWorkload(Alg::hmac_sha1_96, 512, 1, 64, true, Ealg::null, Mode::udp_enc_tun),
                 std::runtime_error);
}

}  // namespace
}  // namespace pcscf::bench
