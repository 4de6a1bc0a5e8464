// The state store's parts on their own: LMDB as the backend (durable, 0600, refused when
// damaged), the writer (batches, keeps what a failing store refused and writes it once the
// store is back) and the records' byte forms (round trips, and truncated values refused).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "control/sa/sa_state.hpp"
#include "control/secagree/registration_state.hpp"
#include "control/state/lmdb_store.hpp"
#include "control/state/state_writer.hpp"

namespace pcscf::ctl::state {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TempDir {
public:
    TempDir()
        : path_(fs::temp_directory_path() /
                ("pcscf_state_" + std::to_string(::getpid()) + "_" + std::to_string(n_++))) {
        fs::remove_all(path_);
    }
    ~TempDir() { fs::remove_all(path_); }
    std::string str() const { return path_.string(); }

private:
    static inline int n_ = 0;
    fs::path path_;
};

Records load(StateBackend& b) {
    auto r = b.load();
    EXPECT_TRUE(r.has_value()) << r.error().message;
    return r ? *r : Records{};
}

TEST(LmdbBackend, WhatIsWrittenIsThereAfterAReopenAndOnlyTheOwnerMayReadIt) {
    TempDir dir;
    {
        auto b = LmdbBackend::open(dir.str());
        ASSERT_TRUE(b.has_value()) << b.error().message;
        ASSERT_TRUE((*b)->write({{{"a", "1"}, {"b", "2"}}, {}}).has_value());
        ASSERT_TRUE((*b)->write({{{"c", std::string("3\0x", 3)}}, {"a"}}).has_value());
    }
    auto b = LmdbBackend::open(dir.str());
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(load(**b), (Records{{"b", "2"}, {"c", std::string("3\0x", 3)}}));
    // The restore reads them in place, in key order, knowing their count first.
    EXPECT_EQ((*b)->count(), 2u);
    Records seen;
    ASSERT_TRUE((*b)->scan([&seen](std::string_view k, std::string_view v) { seen.emplace_back(k, v); }));
    EXPECT_EQ(seen, load(**b));
    struct stat st {};
    ASSERT_EQ(::stat((dir.str() + "/data.mdb").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << "the store holds SA keys";
    ASSERT_EQ(::stat(dir.str().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    ASSERT_TRUE((*b)->clear().has_value());
    EXPECT_TRUE(load(**b).empty());
}

TEST(LmdbBackend, ADamagedStoreIsAClearError) {
    TempDir dir;
    fs::create_directories(dir.str());
    std::ofstream(dir.str() + "/data.mdb") << std::string(8192, 'x');
    auto b = LmdbBackend::open(dir.str());
    ASSERT_FALSE(b.has_value());
    EXPECT_NE(b.error().message.find(dir.str()), std::string::npos) << b.error().message;
}

// A backend that refuses every write while it is down, as a store that is unreachable.
class Switchable final : public StateBackend {
public:
    explicit Switchable(std::unique_ptr<StateBackend> real, std::atomic<bool>& down)
        : real_(std::move(real)), down_(down) {}
    Expected<void> write(const Batch& b) override {
        if (down_) return fail(Errc::io, "down");
        return real_->write(b);
    }
    Expected<Records> load() override { return real_->load(); }
    Expected<void> clear() override { return real_->clear(); }
    std::string describe() const override { return "switchable"; }

private:
    std::unique_ptr<StateBackend> real_;
    std::atomic<bool>& down_;
};

TEST(StateWriter, ChangesAreBatchedAndTheLatestPerKeyIsWritten) {
    TempDir dir;
    auto lmdb = LmdbBackend::open(dir.str());
    ASSERT_TRUE(lmdb.has_value());
    std::atomic<bool> down = false;
    auto* backend = new Switchable(std::move(*lmdb), down);
    StateWriter w(std::unique_ptr<StateBackend>(backend), [](bool, std::string_view) {});
    for (int i = 0; i < 100; ++i) w.put("k", std::to_string(i));
    w.put("gone", "x");
    w.del("gone");
    ASSERT_TRUE(w.flush(5s));
    EXPECT_EQ(load(*backend), (Records{{"k", "99"}}));
    EXPECT_EQ(w.stats().pending, 0u);
    EXPECT_LT(w.stats().batches, 100u) << "one write per change";
}

TEST(StateWriter, AStoreThatIsDownLosesNothingAndIsCaughtUpWhenBack) {
    TempDir dir;
    auto lmdb = LmdbBackend::open(dir.str());
    ASSERT_TRUE(lmdb.has_value());
    std::atomic<bool> down = true;
    auto* backend = new Switchable(std::move(*lmdb), down);
    std::vector<std::pair<bool, std::string>> log;
    std::mutex mu;
    StateWriter w(std::unique_ptr<StateBackend>(backend), [&](bool healthy, std::string_view line) {
        std::lock_guard lock(mu);
        log.emplace_back(healthy, line);
    });
    w.put("a", "1");
    w.put("b", "2");
    EXPECT_FALSE(w.flush(500ms)) << "nothing can be written while the store is down";
    EXPECT_GT(w.stats().failures, 0u);
    EXPECT_FALSE(w.stats().healthy);
    EXPECT_EQ(w.stats().pending, 2u);
    w.put("a", "3");  // newer than what waits
    down = false;
    ASSERT_TRUE(w.flush(5s));
    EXPECT_EQ(load(*backend), (Records{{"a", "3"}, {"b", "2"}}));
    EXPECT_TRUE(w.stats().healthy);
    std::lock_guard lock(mu);
    ASSERT_EQ(log.size(), 2u) << "logged once when it failed, once when it was back";
    EXPECT_FALSE(log[0].first);
    EXPECT_TRUE(log[1].first);
}

TEST(StateRecords, SasAndMarksRoundTripAndTruncatedValuesAreRefused) {
    SaInfo sa;
    sa.id = 42;
    sa.worker = 1;
    sa.label = "alice@ims.example";
    sa.cfg.dir = esp::Direction::outbound;
    sa.cfg.alg = esp::Alg::hmac_md5_96;
    sa.cfg.spi = 0x1234;
    sa.cfg.ue_addr = *net::IpAddr::parse("2001:db8::10");
    sa.cfg.pcscf_addr = *net::IpAddr::parse("2001:db8::1");
    sa.cfg.ue_port = 6000;
    sa.cfg.pcscf_port = 5101;
    sa.generation = 7;
    esp::HmacKey key;
    key.ipad.fill(0xaa);
    key.opad.fill(0x55);
    const std::string v = encode(sa, key);
    const auto back = decode_sa(v);
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(back->info.id, 42u);
    EXPECT_EQ(back->info.label, sa.label);
    EXPECT_EQ(back->info.cfg.ue_addr, sa.cfg.ue_addr);
    EXPECT_EQ(back->info.cfg.pcscf_port, 5101);
    EXPECT_EQ(back->info.cfg.cookie, 42u) << "the worker's events name the SA by its id";
    EXPECT_EQ(back->key, key);
    EXPECT_EQ(back->info.generation, 7u);
    for (size_t n = 0; n < v.size(); ++n) EXPECT_FALSE(decode_sa(v.substr(0, n)).has_value()) << n;
    EXPECT_FALSE(decode_sa(v + "x").has_value());

    const SeqMark m{4096, 32, false, 9};
    const auto mb = decode_seq(encode(m));
    ASSERT_TRUE(mb.has_value());
    EXPECT_EQ(mb->seq, 4096u);
    EXPECT_EQ(mb->interval, 32u);
    EXPECT_EQ(mb->generation, 9u);
    EXPECT_EQ(decode_generation(encode_generation(12)), 12u);
    EXPECT_FALSE(decode_generation(encode_generation(12) + "x").has_value());
    EXPECT_EQ(sa_record_key(42), "sa/42");
    EXPECT_EQ(id_of("seq/42", "seq/"), 42u);
    EXPECT_FALSE(id_of("seq/4x", "seq/").has_value());
}

// An SA that encrypts keeps its ealg and CK_ESP in its record (TS 33.203 Annex I: the
// worker expands CK_ESP itself), so a restart or a standby installs it as it was.
TEST(StateRecords, AnSaRecordKeepsItsEalgAndCipherKey) {
    for (const esp::Ealg ealg : {esp::Ealg::aes_cbc, esp::Ealg::des_ede3_cbc, esp::Ealg::null}) {
        SaInfo sa;
        sa.id = 9;
        sa.cfg.dir = esp::Direction::inbound;
        sa.cfg.spi = 0x1234;
        sa.cfg.ealg = ealg;
        sa.cipher.len = uint8_t(esp::cipher_key_len(ealg));
        for (uint8_t i = 0; i < sa.cipher.len; ++i) sa.cipher.bytes[i] = uint8_t(0x40 + i);
        const std::string v = encode(sa, {});
        const auto back = decode_sa(v);
        ASSERT_TRUE(back.has_value()) << back.error().message;
        EXPECT_EQ(back->info.cfg.ealg, ealg);
        EXPECT_EQ(back->info.cipher, sa.cipher) << esp::name(ealg);
        for (size_t n = 0; n < v.size(); ++n) EXPECT_FALSE(decode_sa(v.substr(0, n)).has_value()) << n;
    }
    // A key whose length does not fit its ealg is not a record we wrote.
    SaInfo odd;
    odd.cfg.ealg = esp::Ealg::aes_cbc;
    odd.cipher.len = 24;
    EXPECT_FALSE(decode_sa(encode(odd, {})).has_value());
}

// The AEAD pairs (alg values 3 and 4 in the same version-3 record): the AES key || salt
// round-trips; a pair Annex H does not allow, or a key of the wrong length, is refused
// and the error says which.
TEST(StateRecords, AesGcmAndAesGmacRecordsKeepTheirKeyAndSalt) {
    for (const auto& [alg, ealg] :
         {std::pair{esp::Alg::null, esp::Ealg::aes_gcm}, std::pair{esp::Alg::aes_gmac, esp::Ealg::null}}) {
        SaInfo sa;
        sa.id = 11;
        sa.cfg.dir = esp::Direction::outbound;
        sa.cfg.alg = alg;
        sa.cfg.ealg = ealg;
        sa.cipher.len = 20;
        for (uint8_t i = 0; i < 20; ++i) sa.cipher.bytes[i] = uint8_t(0x90 + i);
        const auto back = decode_sa(encode(sa, {}));
        ASSERT_TRUE(back.has_value()) << back.error().message;
        EXPECT_EQ(back->info.cfg.alg, alg);
        EXPECT_EQ(back->info.cfg.ealg, ealg);
        EXPECT_EQ(back->info.cipher, sa.cipher);
        EXPECT_EQ(back->key, esp::HmacKey{});
        sa.cipher.len = 16;
        const auto short_key = decode_sa(encode(sa, {}));
        ASSERT_FALSE(short_key.has_value());
        EXPECT_NE(short_key.error().message.find("is 20 bytes (AES key || salt), not 16"), std::string::npos)
            << short_key.error().message;
    }
    const std::tuple<esp::Alg, esp::Ealg, uint8_t, std::string_view> bad[] = {
        {esp::Alg::null, esp::Ealg::aes_cbc, 16, "SA record 12: alg=null, ealg=aes-cbc is not a pair"},
        {esp::Alg::aes_gmac, esp::Ealg::aes_gcm, 20, "alg=aes-gmac, ealg=aes-gcm is not a pair"},
        {esp::Alg::hmac_md5_96, esp::Ealg::aes_gcm, 20, "alg=hmac-md5-96, ealg=aes-gcm is not a pair"},
        {esp::Alg(9), esp::Ealg::null, 0, "alg=9, ealg=null is not a pair"},
        {esp::Alg::hmac_sha1_96, esp::Ealg(7), 0, "alg=hmac-sha-1-96, ealg=7 is not a pair"},
    };
    for (const auto& [alg, ealg, len, why] : bad) {
        SaInfo sa;
        sa.id = 12;
        sa.cfg.alg = alg;
        sa.cfg.ealg = ealg;
        sa.cipher.len = len;
        const auto r = decode_sa(encode(sa, {}));
        ASSERT_FALSE(r.has_value()) << why;
        EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
    }
}

// An SA record written before encryption came: version 2, these exact bytes.
const std::string kSaRecordV2Hex =
    "02"                // version
    "07000000"          // generation 7
    "2a00000000000000"  // id 42
    "01"                // outbound
    "01"                // hmac-md5-96
    "34120000"          // SPI 0x1234
    "10000000"
    "20010db8000000000000000000000010"  // UE 2001:db8::10
    "10000000"
    "20010db8000000000000000000000001"  // P-CSCF 2001:db8::1
    "7017"
    "ed13"      // ports 6000, 5101
    "01000000"  // worker 1
    "05000000"
    "616c696365"  // label "alice"
    "14000000"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"  // ipad
    "14000000"
    "5555555555555555555555555555555555555555";  // opad

std::string from_hex(std::string_view hex) {
    std::string v;
    for (size_t i = 0; i < hex.size(); i += 2) v += char(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
    return v;
}

// Version 5 carries SHA-256's 32-byte HMAC states whole (hmac-sha-256-128, RFC 4868).
TEST(StateRecords, AnHmacSha256SaKeepsItsWholeStates) {
    auto back = decode_sa(from_hex(kSaRecordV2Hex));
    ASSERT_TRUE(back.has_value()) << back.error().message;
    SaInfo sa = back->info;
    sa.cfg.alg = esp::Alg::hmac_sha256_128;
    esp::HmacKey key;
    for (size_t i = 0; i < key.ipad.size(); ++i) key.ipad[i] = uint8_t(i + 1), key.opad[i] = uint8_t(0xf0 - i);
    const std::string v = encode(sa, key);
    back = decode_sa(v);
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(back->info.cfg.alg, esp::Alg::hmac_sha256_128);
    EXPECT_EQ(back->key, key);
    // The same bytes labelled version 4 are 12 bytes too long for its 20-byte states.
    std::string as_v4 = v;
    as_v4[0] = 4;
    EXPECT_FALSE(decode_sa(as_v4).has_value());
}

// A record of version 2 is still read, as an SA with null encryption.
TEST(StateRecords, AnSaRecordOfTheOldFormatIsReadAsNullEncryption) {
    const std::string v = from_hex(kSaRecordV2Hex);
    const auto back = decode_sa(v);
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(back->info.id, 42u);
    EXPECT_EQ(back->info.generation, 7u);
    EXPECT_EQ(back->info.cfg.dir, esp::Direction::outbound);
    EXPECT_EQ(back->info.cfg.alg, esp::Alg::hmac_md5_96);
    EXPECT_EQ(back->info.cfg.spi, 0x1234u);
    EXPECT_EQ(back->info.cfg.ue_addr, *net::IpAddr::parse("2001:db8::10"));
    EXPECT_EQ(back->info.cfg.pcscf_port, 5101);
    EXPECT_EQ(back->info.label, "alice");
    EXPECT_EQ(back->key.opad[19], 0x55);
    EXPECT_EQ(back->key.opad[20], 0) << "the 20-byte states of versions 2 to 4 fill the first 20 bytes";
    EXPECT_EQ(back->info.cfg.ealg, esp::Ealg::null);
    EXPECT_EQ(back->info.cipher.len, 0u);
    EXPECT_FALSE(decode_sa(v + std::string("\x01\x10\x00\x00\x00", 5)).has_value())
        << "a version 2 record ends after its opad";
}

// Where a restored SA resumes (docs/architecture.md): two intervals past the last checkpoint
// heard of (one may have been in flight) for each start since it was written; exactly after
// a clean stop's mark at the first start after it; without a mark, two intervals for each
// start since the SA was added.
TEST(StateRecords, ResumePoints) {
    SaInfo sa;
    sa.generation = 3;
    EXPECT_EQ(resume_at(sa, SeqMark{1000, 32, true, 5}, 32, 6), 1000u);
    EXPECT_EQ(resume_at(sa, SeqMark{1000, 32, true, 5}, 32, 8), 1000u + 2 * 64) << "two starts since, no mark";
    EXPECT_EQ(resume_at(sa, SeqMark{1024, 32, false, 5}, 32, 6), 1088u);
    EXPECT_EQ(resume_at(sa, SeqMark{1024, 32, false, 5}, 32, 7), 1024u + 2 * 64)
        << "crashed again before a checkpoint of the start that resumed at 1088";
    EXPECT_EQ(resume_at(sa, SeqMark{1024, 8, false, 5}, 32, 6), 1088u) << "the larger interval of the two";
    EXPECT_EQ(resume_at(sa, std::nullopt, 32, 4), 64u);
    EXPECT_EQ(resume_at(sa, std::nullopt, 32, 6), 3 * 64u);
    EXPECT_EQ(resume_at(sa, SeqMark{0xfffffff0u, 32, false, 5}, 32, 6), 0xffffffffu) << "exhausted, not wrapped";
}

TEST(StateRecords, RegistrationsRoundTrip) {
    secagree::StoredRegistration r;
    r.impi = "alice@ims.example";
    r.ue = *net::IpAddr::parse("10.0.0.7");
    r.impus = {"sip:alice@ims.example", "tel:+15551234"};
    secagree::SaSet s;
    s.ue = r.ue;
    s.ue_side.spi_c = 7000;
    s.ue_side.port_s = 6001;
    s.spi_ps = 0x1004;
    s.port_pc = 5102;
    s.ids = {1, 2, 3, 4};
    r.current = s;
    r.current_expiry = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'800'000'000'000));
    r.tcp = true;
    r.service_route = {"<sip:orig@scscf.ims.example;lr>", "<sip:as.ims.example;lr>"};
    const std::string v = encode(r);
    const auto back = secagree::decode_registration(v);
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(back->impus, r.impus);
    ASSERT_TRUE(back->current.has_value());
    EXPECT_EQ(back->current->ids, s.ids);
    EXPECT_EQ(back->current->ue_side, s.ue_side);
    EXPECT_EQ(back->current_expiry, r.current_expiry);
    EXPECT_FALSE(back->kept.has_value());
    EXPECT_TRUE(back->tcp);
    EXPECT_EQ(back->service_route, r.service_route);
    for (size_t n = 0; n < v.size(); ++n) EXPECT_FALSE(secagree::decode_registration(v.substr(0, n)).has_value()) << n;
}

// A record written before the Service-Route was kept (version 1) is still read: a store
// survives the upgrade.
TEST(StateRecords, ARegistrationOfTheFirstVersionIsStillRead) {
    secagree::StoredRegistration r;
    r.impi = "alice@ims.example";
    r.ue = *net::IpAddr::parse("10.0.0.7");
    r.next_port_pc = 2;
    std::string v1 = encode(r);        // no Service-Route: its count (4 bytes) ends the record
    v1 = v1.substr(0, v1.size() - 4);  // version 1 ended before it
    v1[0] = 1;
    const auto back = secagree::decode_registration(v1);
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(back->impi, r.impi);
    EXPECT_EQ(back->next_port_pc, 2u);
    EXPECT_TRUE(back->service_route.empty());
    v1[0] = 4;
    EXPECT_FALSE(secagree::decode_registration(v1).has_value()) << "a version from the future";
}

// A UE behind a NAT (TS 33.203 Annex M): its sets keep mod=UDP-enc-tun, the UE's inner
// address and the NAT port learnt, so a restart or a standby sends where it did.
// alice's registration at `ue` with a current set: SA ids 1-4, port-c 6000, port-s 6001.
secagree::StoredRegistration alice_at(std::string_view ue) {
    secagree::StoredRegistration r;
    r.impi = "alice@ims.example";
    r.ue = *net::IpAddr::parse(ue);
    secagree::SaSet s;
    s.ue = r.ue;
    s.ue_side.port_c = 6000;
    s.ue_side.port_s = 6001;
    s.ids = {1, 2, 3, 4};
    r.current = s;
    return r;
}

TEST(StateRecords, ARegistrationBehindANatKeepsModeInnerAddressAndPort) {
    secagree::StoredRegistration r = alice_at("198.51.100.7");
    secagree::SaSet& s = *r.current;
    s.ue_side.mod = sip::Mode::udp_enc_tun;
    s.ue_inner = *net::IpAddr::parse("192.168.1.20");
    s.encap_port = 40123;
    r.kept = s;
    const std::string v = encode(r);
    const auto back = secagree::decode_registration(v);
    ASSERT_TRUE(back.has_value()) << back.error().message;
    for (const auto* set : {&back->current, &back->kept}) {
        ASSERT_TRUE(set->has_value());
        EXPECT_EQ((*set)->mode(), esp::Mode::udp_enc_tun);
        EXPECT_EQ((*set)->ue_inner, s.ue_inner);
        EXPECT_EQ((*set)->encap_port, 40123);
        EXPECT_EQ((*set)->ue_side, s.ue_side);
    }
    for (size_t n = 0; n < v.size(); ++n) EXPECT_FALSE(secagree::decode_registration(v.substr(0, n)).has_value()) << n;
    // UDP-enc-tun is NAT44 only: an IPv6 inner address is not a record we wrote.
    r.current->ue_inner = *net::IpAddr::parse("2001:db8::20");
    EXPECT_FALSE(secagree::decode_registration(encode(r)).has_value());
}

// A record of version 2 (before NAT traversal: no mode, inner address or port after each
// set's ids) is still read, its sets in transport mode.
TEST(StateRecords, ARegistrationOfVersionTwoIsReadAsTransportMode) {
    secagree::StoredRegistration r = alice_at("10.0.0.7");
    r.current->ue_side.spi_c = 7000;
    const secagree::SaSet s = *r.current;
    const std::string v3 = encode(r);
    // After the set: expiry (8), no kept set (1), its expiry (8), next_port_pc (4), tcp (1),
    // no Service-Route (4); before them version 3's mode (1), inner address (4 + 16), port (2).
    constexpr size_t tail = 8 + 1 + 8 + 4 + 1 + 4, added = 1 + 4 + 16 + 2;
    std::string v2 = v3.substr(0, v3.size() - tail - added) + v3.substr(v3.size() - tail);
    v2[0] = 2;
    const auto back = secagree::decode_registration(v2);
    ASSERT_TRUE(back.has_value()) << back.error().message;
    ASSERT_TRUE(back->current.has_value());
    EXPECT_EQ(back->current->mode(), esp::Mode::transport);
    EXPECT_EQ(back->current->ids, s.ids);
    EXPECT_EQ(back->current->ue_side, s.ue_side);
    EXPECT_TRUE(back->current->ue_inner.is_unspecified());
    v2[0] = 3;
    EXPECT_FALSE(secagree::decode_registration(v2).has_value()) << "version 3 has the NAT fields";
}

// An SA record of version 3 (before NAT traversal: version 2's bytes, then ealg null and
// no cipher key) is read as transport mode; version 4 keeps a UDP-enc-tun SA's mode, NAT
// port and inner address.
TEST(StateRecords, AnSaRecordKeepsItsModeAndAVersionThreeOneIsTransport) {
    const std::string v = from_hex("03" + kSaRecordV2Hex.substr(2) + "00" + "00000000");
    auto back = decode_sa(v);
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(back->info.cfg.mode, esp::Mode::transport);
    EXPECT_EQ(back->info.cfg.encap_port, 0);
    EXPECT_EQ(back->info.cfg.ue_port, 6000);

    SaInfo sa = back->info;
    sa.cfg.ue_addr = *net::IpAddr::parse("198.51.100.7");
    sa.cfg.mode = esp::Mode::udp_enc_tun;
    sa.cfg.encap_port = 40123;
    sa.cfg.ue_inner = *net::IpAddr::parse("192.168.1.20");
    const std::string v4 = encode(sa, back->key);
    EXPECT_EQ(v4[0], 5);
    back = decode_sa(v4);
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(back->info.cfg.mode, esp::Mode::udp_enc_tun);
    EXPECT_EQ(back->info.cfg.encap_port, 40123);
    EXPECT_EQ(back->info.cfg.ue_inner, sa.cfg.ue_inner);
    for (size_t n = 0; n < v4.size(); ++n) EXPECT_FALSE(decode_sa(v4.substr(0, n)).has_value()) << n;
    sa.cfg.mode = esp::Mode(7);
    EXPECT_FALSE(decode_sa(encode(sa, back->key)).has_value()) << "an unknown mode";
    sa.cfg.mode = esp::Mode::udp_enc_tun;
    sa.cfg.ue_inner = {};
    EXPECT_FALSE(decode_sa(encode(sa, back->key)).has_value()) << "UDP-enc-tun without the inner address";
}

}  // namespace
}  // namespace pcscf::ctl::state
