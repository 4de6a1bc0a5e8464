// Fragmentation after ESP: the pieces fit the MTU, carry the link header and valid IP
// headers and one Identification per datagram, and put back together (by librte_ip_frag,
// and in the netns suite by scapy) give exactly the original datagram.
#include <gtest/gtest.h>
#include <rte_ip.h>

#include "dataplane/ipfrag/fragmenter.hpp"
#include "dataplane/ipfrag/reassembler.hpp"
#include "tests/common/mbuf_util.hpp"
#include "tests/common/vector_file.hpp"
#include "tests/ipfrag/frame_util.hpp"

namespace pcscf::test {
namespace {

using net::DropReason;

const std::vector<Vector>& vectors() {
    static const auto v = read_vectors(PCSCF_FRAG_VECTORS);
    return v;
}

std::vector<uint8_t> whole_of(const std::string& name) {
    for (const Vector& v : vectors())
        if (v.at("name") == name) return from_hex(v.at("whole"));
    throw std::runtime_error("no vector " + name);
}

rte_mempool* indirect_pool() {
    static rte_mempool* p = rte_pktmbuf_pool_create("frag_ind", 255, 0, 0, 0, SOCKET_ID_ANY);
    return p;
}
rte_mempool* big_pool() {
    static rte_mempool* p = rte_pktmbuf_pool_create("frag_big2", 15, 0, 0, 9216 + RTE_PKTMBUF_HEADROOM, SOCKET_ID_ANY);
    return p;
}

uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) { return uint32_t(be16(p)) << 16 | be16(p + 2); }

// The Identification a piece carries (IPv4 header, or the IPv6 fragment header that
// librte_ip_frag puts right after the fixed header).
uint32_t id_of(const std::vector<uint8_t>& frame) {
    const uint8_t* h = frame.data() + kEth;
    return (h[0] >> 4) == 4 ? be16(h + 4) : be32(h + 40 + 4);
}

class FragmenterTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_NE(indirect_pool(), nullptr);
        free_before = rte_mempool_avail_count(test_pool());
        ind_before = rte_mempool_avail_count(indirect_pool());
    }
    void TearDown() override {
        EXPECT_EQ(rte_mempool_avail_count(test_pool()), free_before) << "mbufs leaked";
        EXPECT_EQ(rte_mempool_avail_count(indirect_pool()), ind_before) << "indirect mbufs leaked";
    }
    // Splits, checks each piece, puts them back together and compares with the original.
    void round_trip(const std::vector<uint8_t>& ip, uint16_t mtu) {
        const auto frame = eth_frame(ip);
        rte_mbuf* out[64];
        DropReason why{};
        const uint16_t n = frag.fragment(make_mbuf(frame), kEth, mtu, out, why);
        ASSERT_GT(n, 1u) << name(why);
        ipfrag::ReassemblyConfig cfg;
        cfg.max_datagram = 9000;
        auto re = ipfrag::Reassembler::create(cfg, big_pool(), SOCKET_ID_ANY);
        ASSERT_TRUE(re.has_value()) << re.error();
        net::DropCounters drops;
        rte_mbuf* whole = nullptr;
        const uint32_t id = id_of(bytes_of(out[0]));
        for (uint16_t i = 0; i < n; ++i) {
            const auto b = bytes_of(out[i]);
            EXPECT_EQ(id_of(b), id) << "piece " << i << " of one datagram";
            EXPECT_EQ(out[i]->nb_segs, 1);
            EXPECT_TRUE(std::equal(frame.begin(), frame.begin() + kEth, b.begin())) << "link header";
            const uint8_t* h = b.data() + kEth;
            const uint32_t ip_len = (h[0] >> 4) == 4 ? be16(h + 2) : 40u + be16(h + 4);
            EXPECT_LE(ip_len, mtu);
            EXPECT_EQ(ip_len + kEth, b.size());
            if ((h[0] >> 4) == 4) {
                EXPECT_EQ(rte_raw_cksum(h, (h[0] & 0xf) * 4u), 0xffff) << "checksum";
            }
            if (whole) ADD_FAILURE() << "whole before the last piece";
            whole = re->add(out[i], kEth, 1, drops);
        }
        ASSERT_NE(whole, nullptr) << "drops " << drops.total();
        std::vector<uint8_t> expect = frame;
        if ((ip[0] >> 4) == 4) {  // DF cleared and our ID set on the way (see fragmenter.hpp)
            expect[kEth + 6] &= 0xbf;
            auto* h = reinterpret_cast<rte_ipv4_hdr*>(expect.data() + kEth);
            h->packet_id = rte_cpu_to_be_16(uint16_t(id));
            h->hdr_checksum = 0;
            h->hdr_checksum = rte_ipv4_cksum(h);
        }
        EXPECT_EQ(to_hex(bytes_of(whole)), to_hex(expect));
        rte_pktmbuf_free(whole);
    }

    ipfrag::Fragmenter frag{test_pool(), indirect_pool()};
    unsigned free_before = 0, ind_before = 0;
};

TEST_F(FragmenterTest, Ipv4EspSplitsToTheMtuAndReassemblesExactly) {
    round_trip(whole_of("ipv4_esp_4000_in_order"), 1400);
}

TEST_F(FragmenterTest, Ipv4WithDontFragmentIsSplitWithDfCleared) {
    auto ip = whole_of("ipv4_udp_3000_shuffled");
    ip[6] |= 0x40;
    auto* h = reinterpret_cast<rte_ipv4_hdr*>(ip.data());
    h->hdr_checksum = 0;
    h->hdr_checksum = rte_ipv4_cksum(h);
    round_trip(ip, 576);
}

TEST_F(FragmenterTest, Ipv6EspSplitsToTheMtuAndReassemblesExactly) {
    round_trip(whole_of("ipv6_esp_4000_in_order"), 1280);
}

// The kernel sends DF datagrams with ID 0 and librte_ip_frag writes ID 0 into every IPv6
// fragment header: without our own IDs, two large datagrams in flight to one UE would
// be indistinguishable. Each worker counts in its own residue class.
TEST_F(FragmenterTest, EachDatagramSplitGetsItsOwnIdentification) {
    for (const char* vec : {"ipv4_esp_4000_in_order", "ipv6_esp_4000_in_order"}) {
        SCOPED_TRACE(vec);
        const auto frame = eth_frame(whole_of(vec));  // IPv4: ID 0 as the kernel leaves it
        for (uint32_t workers : {1u, 3u}) {
            for (uint32_t worker = 0; worker < workers; ++worker) {
                ipfrag::Fragmenter f{test_pool(), indirect_pool(), worker, workers};
                std::vector<uint32_t> ids;
                for (int k = 0; k < 3; ++k) {
                    rte_mbuf* out[8];
                    DropReason why{};
                    const uint16_t n = f.fragment(make_mbuf(frame), kEth, 1400, out, why);
                    ASSERT_GT(n, 1u) << name(why);
                    ids.push_back(id_of(bytes_of(out[0])));
                    for (uint16_t i = 0; i < n; ++i) {
                        EXPECT_EQ(id_of(bytes_of(out[i])), ids.back());
                        rte_pktmbuf_free(out[i]);
                    }
                }
                const bool v4 = vec[3] == '4';
                const uint32_t wrap = v4 ? 0x10000 : 0;  // 2^16, or 2^32 as uint32 wraps
                for (int k = 1; k < 3; ++k) {
                    const uint32_t step = ids[k] - ids[k - 1];
                    EXPECT_EQ(wrap ? step % wrap : step, workers) << "worker " << worker;
                }
                if (!v4 || workers == 1) {
                    EXPECT_EQ(ids[0] % workers, worker);
                }
            }
        }
    }
}

TEST_F(FragmenterTest, Ipv6WithExtensionHeadersIsRefused) {
    auto ip = whole_of("ipv6_udp_2500_reversed");
    ip[6] = 60;  // claims a destination-options header first
    rte_mbuf* out[64];
    DropReason why{};
    EXPECT_EQ(frag.fragment(make_mbuf(eth_frame(ip)), kEth, 1280, out, why), 0u);
    EXPECT_EQ(why, DropReason::unsplittable);
}

TEST_F(FragmenterTest, TooFewOutputSlotsRefusesAndFreesEverything) {
    rte_mbuf* out[2];
    DropReason why{};
    EXPECT_EQ(frag.fragment(make_mbuf(eth_frame(whole_of("ipv4_esp_4000_in_order"))), kEth, 1400, out, why), 0u);
    EXPECT_EQ(why, DropReason::unsplittable);
    EXPECT_EQ(frag.fragment(make_mbuf(eth_frame(whole_of("ipv6_esp_4000_in_order"))), kEth, 1280, out, why), 0u);
    EXPECT_EQ(why, DropReason::unsplittable);
}

// Out of buffers is a resource shortage, counted apart from packets that cannot be split.
TEST_F(FragmenterTest, NoBuffersForThePiecesIsFragmentationFailed) {
    static rte_mempool* two = rte_pktmbuf_pool_create("frag_two", 2, 0, 0, 2048 + RTE_PKTMBUF_HEADROOM, SOCKET_ID_ANY);
    ASSERT_NE(two, nullptr);
    ipfrag::Fragmenter starved(two, indirect_pool());
    rte_mbuf* out[8];
    DropReason why{};
    EXPECT_EQ(starved.fragment(make_mbuf(eth_frame(whole_of("ipv4_esp_4000_in_order"))), kEth, 1400, out, why), 0u);
    EXPECT_EQ(why, DropReason::fragmentation_failed);
    EXPECT_EQ(rte_mempool_avail_count(two), 2u) << "the pieces made are freed";
}

TEST_F(FragmenterTest, NonIpAndTruncatedFramesAreRefused) {
    rte_mbuf* out[8];
    DropReason why{};
    std::vector<uint8_t> arp(60, 0);
    arp[12] = 0x08;
    arp[13] = 0x06;
    EXPECT_EQ(frag.fragment(make_mbuf(arp), kEth, 1400, out, why), 0u);
    EXPECT_EQ(why, DropReason::unsplittable);
    // Not IP, whatever its payload looks like: an ARP frame whose body starts like IPv4.
    auto looks_ip = eth_frame(whole_of("ipv4_esp_4000_in_order"));
    looks_ip[12] = 0x08;
    looks_ip[13] = 0x06;
    EXPECT_EQ(frag.fragment(make_mbuf(looks_ip), kEth, 1400, out, why), 0u);
    EXPECT_EQ(why, DropReason::unsplittable);
    std::vector<uint8_t> tiny(20, 0x45);
    EXPECT_EQ(frag.fragment(make_mbuf(tiny), kEth, 1400, out, why), 0u);
    EXPECT_EQ(why, DropReason::unsplittable);
}

}  // namespace
}  // namespace pcscf::test
