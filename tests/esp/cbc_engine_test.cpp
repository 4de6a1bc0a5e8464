// ESP with encryption through the engine: AES-128-CBC and 3DES-CBC, each with
// HMAC-MD5-96 and HMAC-SHA-1-96. Our outbound is checked by OpenSSL (the inner packet
// comes back exactly, the ICV verifies, the padding is RFC 4303's, IVs never repeat);
// our inbound takes what OpenSSL seals and refuses what lies; both directions round-trip;
// the engine's pool of expanded keys fills, empties and rekeys without leaking.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "tests/common/packet_builder.hpp"
#include "tests/esp/cbc_reference.hpp"
#include "tests/esp/engine_fixture.hpp"

namespace pcscf::test {
namespace {

struct Pair {
    Ealg ealg;
    Alg alg;
};
constexpr Pair kPairs[] = {{Ealg::aes_cbc, Alg::hmac_md5_96},      {Ealg::aes_cbc, Alg::hmac_sha1_96},
                           {Ealg::des_ede3_cbc, Alg::hmac_md5_96}, {Ealg::des_ede3_cbc, Alg::hmac_sha1_96},
                           {Ealg::aes_cbc, Alg::hmac_sha256_128},  {Ealg::des_ede3_cbc, Alg::hmac_sha256_128}};

std::string pair_name(const ::testing::TestParamInfo<Pair>& info) {
    std::string n = std::string(name(info.param.ealg)) + "_" + std::string(name(info.param.alg));
    for (char& c : n)
        if (!isalnum(static_cast<unsigned char>(c))) c = '_';
    return n;
}

class CbcEngine : public EngineTest {
protected:
    static SaSpec inbound_spec(Ealg ealg = Ealg::aes_cbc, Alg alg = Alg::hmac_sha1_96, bool v6 = false) {
        SaSpec s;
        s.ealg = ealg;
        s.alg = alg;
        s.ue = v6 ? kUe6 : kUe4;
        s.pcscf = v6 ? kPcscf6 : kPcscf4;
        return s;
    }
    static SaSpec outbound_spec(Ealg ealg = Ealg::aes_cbc, Alg alg = Alg::hmac_sha1_96, bool v6 = false) {
        SaSpec s = inbound_spec(ealg, alg, v6);
        s.dir = Direction::outbound;
        s.spi = 0xabcdef01;
        return s;
    }
    static CbcSeal sealer(const SaSpec& s, uint32_t seq) {
        CbcSeal x;
        x.spi = s.spi;
        x.seq = seq;
        x.alg = s.alg;
        x.ikey = s.key.empty() ? test_key(s.alg) : s.key;
        x.ealg = s.ealg;
        x.ckey = cipher_key_of(s);
        return x;
    }
    static std::vector<uint8_t> esp(const SaSpec& s, uint32_t seq, const std::vector<uint8_t>& plain) {
        return seal_cbc(plain, sealer(s, seq));
    }
    static Opened open(const SaSpec& s, const std::vector<uint8_t>& pkt) {
        return open_cbc(pkt, s.alg, s.key.empty() ? test_key(s.alg) : s.key, s.ealg, cipher_key_of(s));
    }
};

class CbcPair : public CbcEngine, public ::testing::WithParamInterface<Pair> {};

// Every length from 0 to 40 bytes of L4 payload (every pad length of both blocks) and
// some large ones, UDP and TCP, IPv4 and IPv6: OpenSSL gets the inner packet back.
TEST_P(CbcPair, OutboundIsWhatOpenSslDecryptsAndVerifies) {
    for (bool v6 : {false, true}) {
        const SaSpec o = outbound_spec(GetParam().ealg, GetParam().alg, v6);
        add(o);
        uint32_t seq = 0;
        for (uint8_t proto : {uint8_t(17), uint8_t(6)}) {
            std::vector<size_t> lens;
            for (size_t len = 0; len <= 40; ++len) lens.push_back(len);
            for (size_t len : {100, 458, 1000, 1350, 1400, 8000}) lens.push_back(len);
            std::vector<std::vector<uint8_t>> plain;
            for (size_t len : lens) plain.push_back(downlink(o, len, proto));
            const auto r = run(Direction::outbound, plain);
            for (size_t i = 0; i < r.size(); ++i) {
                SCOPED_TRACE(testing::Message() << "v6 " << v6 << " proto " << int(proto) << " len " << lens[i]);
                ASSERT_TRUE(r[i].ok) << name(r[i].reason);
                const Opened got = open(o, r[i].bytes);
                ASSERT_EQ(got.error, "");
                EXPECT_EQ(got.plain, plain[i]);
                EXPECT_EQ(got.spi, o.spi);
                EXPECT_EQ(got.seq, ++seq);
            }
        }
        EXPECT_EQ(engine->outbound_stats({o.ue, o.ue_port, o.pcscf_port})->packets, seq);
        ASSERT_EQ(apply(SaOp::remove, o), 0);
    }
}

// OpenSSL seals, our inbound opens: the same lengths, both families, with the L2 header.
TEST_P(CbcPair, InboundTakesWhatOpenSslSeals) {
    for (bool v6 : {false, true}) {
        const SaSpec s = inbound_spec(GetParam().ealg, GetParam().alg, v6);
        add(s);
        std::vector<std::vector<uint8_t>> plain, sealed;
        uint32_t seq = 0;
        for (uint8_t proto : {uint8_t(17), uint8_t(6)})
            for (size_t len : {0, 1, 5, 6, 7, 13, 14, 15, 16, 17, 100, 1400}) {
                plain.push_back(with_ethernet(uplink(s, len, proto)));
                sealed.push_back(with_ethernet(esp(s, ++seq, uplink(s, len, proto))));
            }
        const auto r = run(Direction::inbound, sealed, 14);
        for (size_t i = 0; i < r.size(); ++i) {
            ASSERT_TRUE(r[i].ok) << i << " " << name(r[i].reason);
            EXPECT_EQ(r[i].bytes, plain[i]) << i;
        }
        EXPECT_EQ(engine->inbound_stats(s.spi)->packets, seq);
        ASSERT_EQ(apply(SaOp::remove, s), 0);
    }
}

// Our outbound into a second engine's inbound (the UE's side).
TEST_P(CbcPair, RoundTripThroughAPeerEngine) {
    auto ue_side = Engine::create(default_config());
    ASSERT_TRUE(ue_side.has_value());
    for (bool v6 : {false, true}) {
        SaSpec o = outbound_spec(GetParam().ealg, GetParam().alg, v6);
        o.spi = 0x2000;
        add(o);
        ASSERT_EQ((*ue_side)->apply(peer_record(SaOp::add, o)), 0);
        for (uint8_t proto : {uint8_t(17), uint8_t(6)})
            for (size_t len : {0, 1, 2, 3, 4, 13, 14, 100, 1000, 1400, 8000})
                expect_round_trip(**ue_side, downlink(o, len, proto));
        ASSERT_EQ(apply(SaOp::remove, o), 0);
        ASSERT_EQ((*ue_side)->apply(peer_record(SaOp::remove, o)), 0);
    }
    EXPECT_EQ((*ue_side)->cipher_keys().in_use(), 0u);
}

// RFC 3602 2.3 / RFC 2451: IVs unpredictable and never repeated. Thousands of packets of
// two SAs, interleaved: no IV twice, within an SA or across them.
TEST_P(CbcPair, IvsNeverRepeatWithinOrAcrossSas) {
    const SaSpec a = outbound_spec(GetParam().ealg, GetParam().alg);
    const auto ivs = ivs_of_two_sas(a, 10, [](const SaSpec& s, const std::vector<uint8_t>& esp) {
        const Opened got = open(s, esp);
        EXPECT_EQ(got.error, "");
        return got.iv;
    });
    ASSERT_EQ(ivs.size(), 10 * 400u);
    const std::set<std::vector<uint8_t>> seen(ivs.begin(), ivs.end());
    EXPECT_EQ(seen.size(), ivs.size()) << "an IV was used twice";
    // Not a counter or anything near it: the bits look uniform (about half of them set).
    size_t ones = 0, bits = 0;
    for (const auto& iv : seen)
        for (uint8_t byte : iv) {
            ones += size_t(__builtin_popcount(byte));
            bits += 8;
        }
    EXPECT_NEAR(double(ones) / double(bits), 0.5, 0.02);
    // A second engine (another worker, or after a restart) draws its own IV key.
    auto other = Engine::create(default_config());
    ASSERT_TRUE(other.has_value());
    ASSERT_EQ((*other)->apply(record(SaOp::add, a)), 0);
    MbufGuard g;
    g.v.push_back(make_mbuf(downlink(a, 10)));
    DropReason why[1];
    ASSERT_EQ((*other)->outbound(g.v, why), 1);
    const Opened got = open(a, bytes_of(g.v[0]));
    ASSERT_EQ(got.error, "");
    EXPECT_EQ(seen.count(got.iv), 0u);
}

// A bit flipped in the IV, the ciphertext or the ICV: bad_icv, nothing decrypted taken.
TEST_P(CbcPair, TamperedIvCiphertextOrIcvIsRefused) {
    const SaSpec s = inbound_spec(GetParam().ealg, GetParam().alg);
    add(s);
    const auto good = esp(s, 9, uplink(s, 60));
    std::vector<std::vector<uint8_t>> bad;
    for (size_t byte = 20 + 8; byte < good.size(); ++byte) {
        auto p = good;
        p[byte] ^= uint8_t(1 << (byte % 8));
        bad.push_back(p);
    }
    for (const Result& r : run(Direction::inbound, bad)) {
        ASSERT_FALSE(r.ok);
        EXPECT_EQ(r.reason, DropReason::bad_icv);
    }
    EXPECT_EQ(engine->inbound_stats(s.spi)->drops, bad.size());
    EXPECT_TRUE(run1(Direction::inbound, good).ok) << "the window did not move";
}

// A packet is decrypted only once its ICV matched (RFC 4303 3.4.4.1): forged packets in
// a burst of good ones (a flipped ICV or ciphertext bit) are dropped with their
// ciphertext as it came, and the good ones around them, moved up in AES-CBC's cipher
// burst or left out of 3DES's jobs, still decrypt to the packet sent.
TEST_P(CbcPair, DecryptsOnlyWhatVerified) {
    const SaSpec s = inbound_spec(GetParam().ealg, GetParam().alg);
    add(s);
    std::vector<std::vector<uint8_t>> plain, sealed;
    for (uint32_t seq = 1; seq <= 24; ++seq) {
        plain.push_back(uplink(s, 40 + seq));
        sealed.push_back(esp(s, seq, plain.back()));
    }
    auto forged = [](uint32_t k) { return k % 3 == 0; };
    for (uint32_t k = 0; k < sealed.size(); ++k)
        if (forged(k)) sealed[k][k % 2 ? sealed[k].size() - 1 : 20 + 8 + 16 + 1] ^= 0x10;  // ICV or ciphertext
    const std::vector<Result> r = run(Direction::inbound, sealed);
    for (uint32_t k = 0; k < sealed.size(); ++k) {
        SCOPED_TRACE(testing::Message() << "packet " << k);
        if (forged(k)) {
            ASSERT_FALSE(r[k].ok);
            EXPECT_EQ(r[k].reason, DropReason::bad_icv);
            EXPECT_EQ(r[k].bytes, sealed[k]) << "decrypted before its ICV was checked";
        } else {
            ASSERT_TRUE(r[k].ok) << name(r[k].reason);
            EXPECT_EQ(r[k].bytes, plain[k]);
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Pairs, CbcPair, ::testing::ValuesIn(kPairs), pair_name);

// --- refusals after and before the ICV -------------------------------------------------

TEST_F(CbcEngine, CiphertextNotAWholeNumberOfBlocksIsDropped) {
    for (Ealg ealg : {Ealg::aes_cbc, Ealg::des_ede3_cbc}) {
        SCOPED_TRACE(name(ealg));
        const SaSpec s = inbound_spec(ealg);
        add(s);
        const uint32_t block = pad_block(ealg);
        uint32_t seq = 1;
        std::vector<std::vector<uint8_t>> pkts;
        for (int cut : {1, 4, int(block) - 1}) {  // a genuine ICV over the cut ciphertext
            CbcSeal x = sealer(s, seq++);
            x.cut = cut;
            pkts.push_back(seal_cbc(uplink(s, 40), x));
        }
        CbcSeal x = sealer(s, seq++);  // nothing after the IV: cut every block
        x.cut = int(((8 + 2 + block - 1) / block) * block);
        pkts.push_back(seal_cbc(uplink(s, 0), x));
        for (const Result& r : run(Direction::inbound, pkts)) {
            ASSERT_FALSE(r.ok);
            EXPECT_EQ(name(r.reason), name(DropReason::bad_cipher_length));
        }
        EXPECT_EQ(engine->drops()[DropReason::bad_cipher_length], pkts.size());
        EXPECT_EQ(engine->inbound_stats(s.spi)->drops, pkts.size());
        EXPECT_TRUE(run1(Direction::inbound, esp(s, 1, uplink(s))).ok) << "the window did not move";
        make_engine(default_config());
    }
}

// Authentic packets whose decrypted trailer lies: refused after the ICV, no crash, the
// window moved (RFC 4303 3.4.3: the ICV is what makes it authentic).
TEST_F(CbcEngine, HostileTrailersAreRefused) {
    for (Ealg ealg : {Ealg::aes_cbc, Ealg::des_ede3_cbc}) {
        SCOPED_TRACE(name(ealg));
        const SaSpec s = inbound_spec(ealg);
        add(s);
        struct Case {
            const char* what;
            std::function<void(CbcSeal&)> tweak;
            size_t len;
            DropReason reason;
        };
        const std::vector<Case> cases = {
            {"pad length 255", [](CbcSeal& x) { x.pad_len_field = 255; }, 40, DropReason::bad_trailer},
            {"pad length = all the ciphertext", [](CbcSeal& x) { x.pad_len_field = 62; }, 40, DropReason::bad_trailer},
            {"pad bytes not 1, 2, 3", [](CbcSeal& x) { x.pad_first_byte = 9; }, 41, DropReason::bad_trailer},
            {"a whole block of padding more (allowed)", [](CbcSeal& x) { x.extra_blocks = 1; }, 41, kPass},
            {"next header ICMP", [](CbcSeal& x) { x.next_header = 1; }, 20, DropReason::bad_inner_protocol},
            {"next header 59", [](CbcSeal& x) { x.next_header = 59; }, 20, DropReason::dummy_packet},
        };
        uint32_t seq = 1;
        for (const Case& c : cases) {
            SCOPED_TRACE(c.what);
            CbcSeal x = sealer(s, seq++);
            c.tweak(x);
            const Result r = run1(Direction::inbound, seal_cbc(uplink(s, c.len), x));
            EXPECT_EQ(r.ok, c.reason == kPass);
            if (c.reason != kPass) EXPECT_EQ(name(r.reason), name(c.reason));
            else EXPECT_EQ(r.bytes, uplink(s, c.len));
        }
        EXPECT_EQ(run1(Direction::inbound, esp(s, 1, uplink(s))).reason, DropReason::replay);
        make_engine(default_config());
    }
}

// A mixed burst: NULL and ciphered SAs, MD5, SHA-1 and SHA-256, some packets corrupt. The
// good ones come out first in arrival order, exactly as they went in.
TEST_F(CbcEngine, NullAndCipheredSasShareABurst) {
    std::vector<SaSpec> sas;
    uint32_t spi = 0x1001;
    for (Ealg ealg : {Ealg::null, Ealg::aes_cbc, Ealg::des_ede3_cbc})
        for (Alg alg : {Alg::hmac_md5_96, Alg::hmac_sha1_96, Alg::hmac_sha256_128}) {
            SaSpec s = inbound_spec(ealg, alg);
            s.spi = spi++;
            add(s);
            sas.push_back(s);
        }
    // NULL-encrypted packets as a peer makes them: an IV-less "cipher" of block 4.
    auto seal_any = [&](const SaSpec& s, uint32_t seq, const std::vector<uint8_t>& plain) {
        if (s.ealg != Ealg::null) return esp(s, seq, plain);
        const net::IpInfo info = *net::parse_ip(plain.data(), uint32_t(plain.size()));
        const uint32_t payload = info.total_len - info.l3_len;
        const uint32_t pad = (4 - (payload + 2) % 4) % 4;
        std::vector<uint8_t> out(plain.begin(), plain.begin() + info.l3_len);
        for (int sh = 24; sh >= 0; sh -= 8) out.push_back(uint8_t(s.spi >> sh));
        for (int sh = 24; sh >= 0; sh -= 8) out.push_back(uint8_t(seq >> sh));
        out.insert(out.end(), plain.begin() + info.l3_len, plain.end());
        for (uint32_t k = 0; k < pad; ++k) out.push_back(uint8_t(k + 1));
        out.push_back(uint8_t(pad));
        out.push_back(info.proto);
        const auto icv = openssl_icv(s.alg, s.key.empty() ? test_key(s.alg) : s.key, out.data() + info.l3_len,
                                     out.size() - info.l3_len);
        out.insert(out.end(), icv.begin(), icv.end());
        net::IpInfo patched = info;
        net::patch_ip(out.data(), patched, net::kProtoEsp, int32_t(out.size() - plain.size()));
        return out;
    };
    std::mt19937 rng(3602);
    std::vector<std::vector<uint8_t>> pkts, plain;
    std::vector<bool> expect_ok;
    for (uint32_t i = 0; i < 300; ++i) {
        const SaSpec& s = sas[rng() % sas.size()];
        plain.push_back(uplink(s, rng() % 200, rng() % 2 ? 17 : 6));
        auto p = seal_any(s, i + 1, plain.back());
        const bool corrupt = rng() % 4 == 0;
        if (corrupt) p[20 + 8 + rng() % (p.size() - 28)] ^= 0x04;
        pkts.push_back(p);
        expect_ok.push_back(!corrupt);
    }
    MbufGuard g;
    for (auto& p : pkts) g.v.push_back(make_mbuf(p));
    const std::vector<rte_mbuf*> orig = g.v;
    std::vector<DropReason> why(g.v.size());
    const uint16_t good = engine->inbound(g.v, why);
    EXPECT_EQ(good, size_t(std::count(expect_ok.begin(), expect_ok.end(), true)));
    size_t next = 0;
    for (uint16_t j = 0; j < good; ++j) {
        while (!expect_ok[next]) ++next;
        ASSERT_EQ(g.v[j], orig[next]) << "good packet " << j << " out of order";
        EXPECT_EQ(bytes_of(g.v[j]), plain[next]) << next;
        ++next;
    }
    for (size_t j = good; j < g.v.size(); ++j) EXPECT_EQ(why[j], DropReason::bad_icv);
}

// --- keys: records, the pool, updates ---------------------------------------------------

TEST_F(CbcEngine, BadCipherRecordsAreEinval) {
    for (const SaSpec& base : {inbound_spec(), outbound_spec()}) {
        SCOPED_TRACE(base.dir == Direction::inbound ? "inbound" : "outbound");
        SaSpec s = base;
        s.cipher_key.assign(24, 1);  // an AES key of 3DES's length
        EXPECT_EQ(apply(SaOp::add, s), -EINVAL);
        s.ealg = Ealg::des_ede3_cbc;
        s.cipher_key.assign(16, 1);
        EXPECT_EQ(apply(SaOp::add, s), -EINVAL);
        s.ealg = Ealg::null;  // a key with no cipher to use it
        EXPECT_EQ(apply(SaOp::add, s), -EINVAL);
        SaRecord r = record(SaOp::add, base);
        r.sa.ealg = static_cast<Ealg>(3);
        EXPECT_EQ(engine->apply(r), -EINVAL);
        ASSERT_EQ(apply(SaOp::add, base), 0);
        s = base;
        s.cipher_key.assign(8, 1);
        EXPECT_EQ(apply(SaOp::update, s), -EINVAL);
        EXPECT_EQ(engine->cipher_keys().in_use(), 1u);
        ASSERT_EQ(apply(SaOp::remove, base), 0);
    }
    EXPECT_EQ(engine->cipher_keys().in_use(), 0u);
    EXPECT_EQ(engine->inbound_sas().count() + engine->outbound_sas().count(), 0u);
}

TEST_F(CbcEngine, FullKeyPoolRefusesAddsWithEnospcAndNothingLeaks) {
    EngineConfig cfg = default_config();
    cfg.cipher_capacity = 3;
    cfg.outbound_capacity = 8;
    make_engine(cfg);
    SaSpec in1 = inbound_spec(), in2 = inbound_spec(Ealg::des_ede3_cbc), out1 = outbound_spec();
    in2.spi = 0x1002;
    ASSERT_EQ(apply(SaOp::add, in1), 0);
    ASSERT_EQ(apply(SaOp::add, in2), 0);
    ASSERT_EQ(apply(SaOp::add, out1), 0);
    EXPECT_EQ(engine->cipher_keys().in_use(), 3u);
    SaSpec in3 = inbound_spec();
    in3.spi = 0x1003;
    SaSpec out2 = outbound_spec();
    out2.ue_port += 1;
    EXPECT_EQ(apply(SaOp::add, in3), -ENOSPC);
    EXPECT_EQ(apply(SaOp::add, out2), -ENOSPC);
    EXPECT_EQ(engine->find_inbound(in3.spi), nullptr);
    EXPECT_EQ(engine->find_outbound({out2.ue, out2.ue_port, out2.pcscf_port}), nullptr);
    // SAs without encryption need no block.
    SaSpec plain_in = inbound_spec(Ealg::null);
    plain_in.spi = 0x1004;
    EXPECT_EQ(apply(SaOp::add, plain_in), 0);
    // A null SA updated to a cipher needs one: refused, and the SA is left as it was.
    SaSpec upgraded = plain_in;
    upgraded.ealg = Ealg::aes_cbc;
    EXPECT_EQ(apply(SaOp::update, upgraded), -ENOSPC);
    EXPECT_EQ(engine->find_inbound(plain_in.spi)->ealg, Ealg::null);
    // Adds that fail for another reason take no block: a taken SPI or selectors, an SPI
    // not this worker's, a full outbound table.
    ASSERT_EQ(apply(SaOp::remove, out1), 0);
    EXPECT_EQ(engine->cipher_keys().in_use(), 2u);
    EXPECT_EQ(apply(SaOp::add, in1), -EEXIST);
    SaSpec wrong_worker = inbound_spec();
    wrong_worker.spi = 0x10;
    EXPECT_EQ(apply(SaOp::add, wrong_worker), -ERANGE);
    for (uint16_t i = 0; i < 8; ++i) {
        SaSpec n = outbound_spec(Ealg::null);
        n.ue_port = uint16_t(2000 + i);
        ASSERT_EQ(apply(SaOp::add, n), 0);
    }
    EXPECT_EQ(apply(SaOp::add, out1), -ENOSPC) << "the outbound table is full";
    EXPECT_EQ(engine->cipher_keys().in_use(), 2u);
    SaSpec n = outbound_spec(Ealg::null);
    n.ue_port = 2000;
    ASSERT_EQ(apply(SaOp::remove, n), 0);
    ASSERT_EQ(apply(SaOp::add, out1), 0);
    EXPECT_EQ(apply(SaOp::add, out1), -EEXIST) << "taken selectors, with no key block left";
    EXPECT_EQ(engine->cipher_keys().in_use(), 3u);
    // An update to null gives its block back; a removal too; then adds work again.
    SaSpec downgraded = in2;
    downgraded.ealg = Ealg::null;
    ASSERT_EQ(apply(SaOp::update, downgraded), 0);
    EXPECT_EQ(engine->cipher_keys().in_use(), 2u);
    EXPECT_EQ(apply(SaOp::add, in3), 0);
    for (const SaSpec& s : {in1, in3, out1}) ASSERT_EQ(apply(SaOp::remove, s), 0);
    EXPECT_EQ(engine->cipher_keys().in_use(), 0u);
    // Packets still flow on the SAs that stayed.
    EXPECT_TRUE(run1(Direction::inbound, esp(in3, 1, uplink(in3))).reason == DropReason::unknown_spi);
    for (int i = 0; i < 3; ++i) {
        SaSpec s = inbound_spec(i % 2 ? Ealg::aes_cbc : Ealg::des_ede3_cbc);
        s.spi = 0x1010 + uint32_t(i);
        ASSERT_EQ(apply(SaOp::add, s), 0);
        EXPECT_TRUE(run1(Direction::inbound, esp(s, 1, uplink(s))).ok);
    }
}

// An update with a new CK_ESP (or a new cipher) rewrites the SA's key; sequence numbers
// and the replay window carry on.
TEST_F(CbcEngine, UpdateChangingTheKeyRewritesIt) {
    SaSpec s = inbound_spec();
    add(s);
    ASSERT_TRUE(run1(Direction::inbound, esp(s, 1, uplink(s))).ok);
    SaSpec rekeyed = s;
    rekeyed.cipher_key.assign(16, 0x42);
    ASSERT_EQ(apply(SaOp::update, rekeyed), 0);
    EXPECT_EQ(engine->cipher_keys().in_use(), 1u);
    EXPECT_FALSE(run1(Direction::inbound, esp(s, 2, uplink(s))).ok) << "the old key no longer decrypts";
    EXPECT_TRUE(run1(Direction::inbound, esp(rekeyed, 3, uplink(s))).ok);
    EXPECT_EQ(run1(Direction::inbound, esp(rekeyed, 1, uplink(s))).reason, DropReason::replay);
    SaSpec des = rekeyed;
    des.ealg = Ealg::des_ede3_cbc;
    EXPECT_EQ(apply(SaOp::update, des), -EINVAL) << "an AES key for 3DES";
    des.cipher_key.assign(24, 0x43);
    ASSERT_EQ(apply(SaOp::update, des), 0);
    EXPECT_TRUE(run1(Direction::inbound, esp(des, 4, uplink(s))).ok);

    SaSpec o = outbound_spec();
    add(o);
    ASSERT_EQ(open(o, run1(Direction::outbound, downlink(o)).bytes).error, "");
    SaSpec o2 = o;
    o2.cipher_key.assign(16, 0x17);
    ASSERT_EQ(apply(SaOp::update, o2), 0);
    const auto after = run1(Direction::outbound, downlink(o));
    ASSERT_TRUE(after.ok);
    EXPECT_NE(open(o, after.bytes).error, "") << "not under the old key";
    const Opened got = open(o2, after.bytes);
    EXPECT_EQ(got.error, "");
    EXPECT_EQ(got.seq, 2u);
    EXPECT_EQ(engine->cipher_keys().in_use(), 2u);
}

TEST_F(CbcEngine, OutboundNeedsRoomForIvAndPadding) {
    const SaSpec o = outbound_spec();
    add(o);
    const auto plain = downlink(o, 50);
    rte_mbuf* head = make_mbuf(plain);
    head->data_off = 16;  // room for the ESP header but not the IV
    std::memmove(rte_pktmbuf_mtod(head, uint8_t*), plain.data(), plain.size());
    rte_mbuf* tail = make_mbuf(plain);
    // 14 bytes of tailroom: enough for NULL's trailer and ICV, not for AES's 4 pad bytes.
    const uint16_t off = uint16_t(tail->buf_len - plain.size() - 14);
    std::memcpy(static_cast<uint8_t*>(tail->buf_addr) + off, plain.data(), plain.size());
    tail->data_off = off;
    rte_mbuf* burst[2] = {head, tail};
    DropReason why[2];
    EXPECT_EQ(engine->outbound(burst, why), 0);
    EXPECT_EQ(why[0], DropReason::no_room);
    EXPECT_EQ(why[1], DropReason::no_room);
    EXPECT_EQ(bytes_of(tail), plain) << "a refused packet is left as it was";
    rte_pktmbuf_free(head);
    rte_pktmbuf_free(tail);
}

}  // namespace
}  // namespace pcscf::test
