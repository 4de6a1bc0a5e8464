// A control plane restored from its state store, as pcscf-espd does at start: a
// registration and its four SAs come back as they were (same ids, SPIs, keys, selectors,
// expiry), each SA's numbers resuming past its checkpoint, into fresh workers' tables;
// what was not a finished registration does not come back.
#include <gtest/gtest.h>

#include <filesystem>

#include "control/control_plane.hpp"
#include "control/state/lmdb_store.hpp"
#include "sa_contract/esp_keys.hpp"
#include "tests/control/proxy_rig.hpp"

namespace pcscf::ctl {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using secagree::Arrival;

constexpr uint8_t kIk[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
constexpr uint32_t kInterval = 4;

SipConfig sip_config() {
    SipConfig c;
    c.proxy.access = {test::loopback(1)};
    c.proxy.sip_port = 5060;
    c.proxy.core = {test::loopback(3), 5060};
    c.proxy.core_local = {test::loopback(1), 5070};
    return c;
}

std::vector<sip::SecurityMechanism> offer(uint16_t port_c, uint16_t port_s) {
    return *sip::parse_security_list("ipsec-3gpp;alg=hmac-sha-1-96;spi-c=" + std::to_string(70000 + port_c) +
                                     ";spi-s=" + std::to_string(80000 + port_s) + ";port-c=" + std::to_string(port_c) +
                                     ";port-s=" + std::to_string(port_s));
}

// One control plane on its own rig (rings, two workers' engines), attached to `dir`.
struct Node {
    explicit Node(const std::string& dir, bool reset = false) {
        auto p = ControlPlane::create(rig.rings->control(), rig.layout, sip_config(), [](std::string_view) {}, {});
        if (!p) throw std::runtime_error(p.error().message);
        plane = std::move(*p);
        auto store = state::LmdbBackend::open(dir);
        if (!store) throw std::runtime_error(store.error().message);
        result = plane->attach_state(
            std::move(*store), kInterval, reset,
            [this](uint32_t w, const esp::SaRecord& rec, int32_t& handle) {
                installed.push_back(rec);
                return rig.engines[w]->apply(rec, &handle);
            },
            [this](const std::string& line) { warnings.push_back(line); });
    }
    secagree::Registrar& reg() { return *plane->registrar(); }
    void step() {  // the workers, then the control loop's round (not the rig's own SaManager)
        rig.apply_records();
        plane->round(now);
    }
    // SM1 .. SM12 for `impi` from `ue`.
    void register_ue(const std::string& impi, const net::IpAddr& ue, uint16_t port_c) {
        const auto client = offer(port_c, port_c + 1);
        ASSERT_TRUE(reg().on_sm1({{ue, 5060, 5060, false}, impi, "sip:" + impi, client}, now).has_value());
        auto six = reg().on_sm6(impi, ue, kIk, now);
        ASSERT_TRUE(six.has_value());
        step();
        const auto t = *reg().view(impi, ue)->temporary;
        ASSERT_TRUE(reg().on_sm7(impi, {ue, t.port_uc(), t.port_ps, true}, client, six->first).has_value());
        ASSERT_TRUE(reg().on_sm12(impi, ue, 600s, now, true).has_value());
        step();
    }

    test::SaRig rig;
    std::unique_ptr<ControlPlane> plane;
    Expected<ControlPlane::Restored> result = fail(Errc::invalid, "not attached");
    std::vector<std::string> warnings;
    std::vector<esp::SaRecord> installed;  // what the restore gave the workers
    secagree::Clock::time_point now = secagree::Clock::now();
};

class StateRestore : public ::testing::Test {
protected:
    StateRestore() { fs::remove_all(dir); }
    ~StateRestore() override { fs::remove_all(dir); }
    const std::string dir = (fs::temp_directory_path() / ("pcscf_restore_" + std::to_string(::getpid()))).string();
    const net::IpAddr alice = *net::IpAddr::parse("10.0.0.7"), bob = *net::IpAddr::parse("10.0.0.8");
};

TEST_F(StateRestore, ARegistrationAndItsSasComeBackAsTheyWere) {
    secagree::SaSet before;
    ctl::SaId checkpointed = 0;
    {
        Node a(dir);
        ASSERT_TRUE(a.result.has_value()) << a.result.error().message;
        EXPECT_EQ(a.result->sas, 0u);
        a.register_ue("alice@ims.example", alice, 6000);
        before = *a.reg().view("alice@ims.example", alice)->current;
        // The worker reported passing 8 on the inbound SA of port_ps.
        checkpointed = before.ids[secagree::SaSet::in_ps];
        esp::SaEvent e;
        e.kind = esp::EventKind::seq_checkpoint;
        e.cookie = checkpointed;
        e.seq = 8;
        const auto sa = *a.plane->sas().find(checkpointed);
        ASSERT_TRUE(a.rig.rings->worker(sa.worker).post_event(e));
        // Bob is between SM6 and SM7: his temporary set is not a registration yet.
        ASSERT_TRUE(
            a.reg()
                .on_sm1({{bob, 5060, 5060, false}, "bob@ims.example", "sip:bob@ims.example", offer(7000, 7001)}, a.now)
                .has_value());
        ASSERT_TRUE(a.reg().on_sm6("bob@ims.example", bob, kIk, a.now).has_value());
        a.step();
        EXPECT_EQ(a.plane->sas().size(), 8u);
    }  // the store has taken everything (the writer flushes as it goes)

    Node b(dir);
    ASSERT_TRUE(b.result.has_value()) << b.result.error().message;
    EXPECT_EQ(b.result->sas, 8u);
    EXPECT_EQ(b.result->registrations, 1u);
    EXPECT_EQ(b.result->dropped, 4u) << "Bob's temporary set";
    b.step();  // the workers apply the temporary set's removal
    EXPECT_EQ(b.plane->sas().size(), 4u);
    EXPECT_EQ(b.rig.inbound_in_engines(), 2u);
    EXPECT_EQ(b.rig.outbound_in_engines(), 2u);

    const auto v = b.reg().view("alice@ims.example", alice);
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->current->ids, before.ids);
    EXPECT_EQ(v->current->ue_side, before.ue_side);
    EXPECT_EQ(v->impus, std::vector<std::string>{"sip:alice@ims.example"});
    EXPECT_FALSE(b.reg().view("bob@ims.example", bob).has_value());
    const auto to = b.reg().route_to("sip:alice@ims.example");
    ASSERT_TRUE(to.has_value());
    EXPECT_TRUE(to->second.tcp) << "registered over TCP";
    EXPECT_TRUE(b.reg().check_protected({alice, 6000, before.port_ps, true}, "sip:alice@ims.example").has_value());

    // Numbers resume two intervals past the checkpoint; with none, two intervals past 0.
    for (ctl::SaId id : before.ids) {
        const auto sa = *b.plane->sas().find(id);
        EXPECT_EQ(sa.state, SaState::active);
        const auto seq = b.rig.engines[sa.worker]->seq_at(sa.cfg.dir, sa.handle);
        ASSERT_TRUE(seq.has_value()) << "SA " << id << " is in its worker's table";
        EXPECT_EQ(*seq, id == checkpointed ? 8 + 2 * kInterval : 2 * kInterval) << "SA " << id;
    }
    const auto in_ps = *b.plane->sas().find(before.ids[secagree::SaSet::in_ps]);
    EXPECT_NE(b.rig.engines[in_ps.worker]->find_inbound(in_ps.cfg.spi), nullptr);
}

// A registration whose SAs encrypt comes back encrypting, with the same CK_ESP.
TEST_F(StateRestore, SasThatEncryptComeBackWithTheirCipherKey) {
    const std::array<uint8_t, 16> ck{0x3c, 0x41, 0x9e, 0x02, 0xd7, 0x58, 0x6a, 0xb0,
                                     0x91, 0x15, 0xee, 0x27, 0x80, 0x4f, 0xc3, 0x6d};
    const std::string impi = "alice@ims.example";
    secagree::SaSet before;
    {
        Node a(dir);
        ASSERT_TRUE(a.result.has_value()) << a.result.error().message;
        const auto client = *sip::parse_security_list(
            "ipsec-3gpp;alg=hmac-sha-1-96;ealg=des-ede3-cbc;spi-c=76000;spi-s=86001;port-c=6000;port-s=6001");
        ASSERT_TRUE(a.reg().on_sm1({{alice, 5060, 5060, false}, impi, "sip:" + impi, client}, a.now).has_value());
        auto six = a.reg().on_sm6(impi, alice, kIk, a.now, ck);
        ASSERT_TRUE(six.has_value()) << six.error().reason;
        a.step();
        const auto t = *a.reg().view(impi, alice)->temporary;
        ASSERT_TRUE(a.reg().on_sm7(impi, {alice, t.port_uc(), t.port_ps, true}, client, six->first).has_value());
        ASSERT_TRUE(a.reg().on_sm12(impi, alice, 600s, a.now).has_value());
        a.step();
        before = *a.reg().view(impi, alice)->current;
    }
    Node b(dir);
    ASSERT_TRUE(b.result.has_value()) << b.result.error().message;
    EXPECT_EQ(b.result->registrations, 1u);
    const auto want = esp::derive_ck_esp_3des(ck);
    ASSERT_TRUE(want.has_value());
    ASSERT_EQ(b.installed.size(), 4u);
    for (const esp::SaRecord& rec : b.installed) {
        EXPECT_EQ(rec.sa.ealg, esp::Ealg::des_ede3_cbc);
        ASSERT_EQ(rec.cipher.len, 24u);
        EXPECT_TRUE(std::equal(want->begin(), want->end(), rec.cipher.bytes.begin()));
    }
    EXPECT_EQ(b.reg().view(impi, alice)->current->pair(), before.pair());
    EXPECT_EQ(before.ealg, esp::Ealg::des_ede3_cbc);
}

// Each start that ends in a crash before an SA's next checkpoint may have used two more
// intervals: the next start resumes two intervals further again, with no mark rewritten
// (the store's generation counts the starts). A clean stop's exact numbers count for the
// start right after it only.
TEST_F(StateRestore, EachStartWithoutANewCheckpointResumesTwoIntervalsFurther) {
    secagree::SaSet set;
    const auto seqs = [&](Node& n) {
        std::vector<uint32_t> out;
        for (ctl::SaId id : set.ids) {
            const auto sa = *n.plane->sas().find(id);
            out.push_back(n.rig.engines[sa.worker]->seq_at(sa.cfg.dir, sa.handle).value_or(0));
        }
        return out;
    };
    const auto all = [](uint32_t v) { return std::vector<uint32_t>(4, v); };
    {
        Node a(dir);
        ASSERT_TRUE(a.result.has_value());
        a.register_ue("alice@ims.example", alice, 6000);
        set = *a.reg().view("alice@ims.example", alice)->current;
    }  // crashed (no clean stop): no mark but the SAs' own generation
    {
        Node b(dir);
        ASSERT_TRUE(b.result.has_value()) << b.result.error().message;
        EXPECT_EQ(seqs(b), all(2 * kInterval));
    }  // crashed again before any checkpoint
    {
        Node c(dir);
        ASSERT_TRUE(c.result.has_value());
        EXPECT_EQ(seqs(c), all(4 * kInterval)) << "two starts since the SAs were added";
        ASSERT_TRUE(c.plane->close_state([](const SaInfo&) { return std::optional<uint32_t>(100); }, 5s));
    }
    {
        Node d(dir);
        ASSERT_TRUE(d.result.has_value());
        EXPECT_EQ(seqs(d), all(100)) << "exact after the clean stop";
    }  // crashed
    Node e(dir);
    ASSERT_TRUE(e.result.has_value());
    EXPECT_EQ(seqs(e), all(100 + 2 * kInterval)) << "the exact mark does not outlive the start after it";
}

TEST_F(StateRestore, ACleanStopResumesExactlyAndTheExpiryIsKept) {
    {
        Node a(dir);
        ASSERT_TRUE(a.result.has_value());
        a.register_ue("alice@ims.example", alice, 6000);
        ASSERT_TRUE(a.plane->close_state([](const SaInfo&) { return std::optional<uint32_t>(77); }, 5s));
    }
    Node b(dir);
    ASSERT_TRUE(b.result.has_value());
    for (const auto& sa : b.plane->sas().list(0, 8))
        EXPECT_EQ(b.rig.engines[sa.worker]->seq_at(sa.cfg.dir, sa.handle), 77u) << "exact, not a checkpoint";
    // Registered for 600 s at the first start: still registered just before, not after.
    b.reg().tick(b.now + 590s);
    EXPECT_TRUE(b.reg().route_to("sip:alice@ims.example").has_value());
    b.reg().tick(b.now + 610s);
    EXPECT_FALSE(b.reg().route_to("sip:alice@ims.example").has_value());
}

TEST_F(StateRestore, ARegistrationWhoseSasDidNotAllComeBackGoesWithTheOthers) {
    secagree::SaSet set;
    {
        Node a(dir);
        ASSERT_TRUE(a.result.has_value());
        a.register_ue("alice@ims.example", alice, 6000);
        a.register_ue("bob@ims.example", bob, 7000);
        set = *a.reg().view("alice@ims.example", alice)->current;
    }
    {  // one of Alice's SAs is lost from the store
        auto store = state::LmdbBackend::open(dir);
        ASSERT_TRUE(store.has_value());
        ASSERT_TRUE((*store)->write({{}, {sa_record_key(set.ids[secagree::SaSet::out_us])}}).has_value());
    }
    {
        Node b(dir);
        ASSERT_TRUE(b.result.has_value()) << b.result.error().message;
        EXPECT_EQ(b.result->registrations, 1u) << "Bob's";
        EXPECT_EQ(b.result->sas, 7u);
        EXPECT_EQ(b.result->dropped, 3u) << "Alice's other three";
        ASSERT_EQ(b.warnings.size(), 1u);
        EXPECT_NE(b.warnings[0].find("alice@ims.example"), std::string::npos) << b.warnings[0];
        EXPECT_FALSE(b.reg().route_to("sip:alice@ims.example").has_value());
        EXPECT_TRUE(b.reg().route_to("sip:bob@ims.example").has_value());
        b.step();
        EXPECT_EQ(b.plane->sas().size(), 4u);
        EXPECT_EQ(b.rig.inbound_in_engines(), 2u);
    }
    Node c(dir);  // and the store forgot her
    ASSERT_TRUE(c.result.has_value());
    EXPECT_EQ(c.result->registrations, 1u);
    EXPECT_EQ(c.result->sas, 4u);
    EXPECT_EQ(c.result->dropped, 0u);
}

TEST_F(StateRestore, AStoreItCannotReadStopsTheStartUnlessReset) {
    {
        auto store = state::LmdbBackend::open(dir);
        ASSERT_TRUE(store.has_value());
        ASSERT_TRUE((*store)->write({{{"meta/format", "pcscf-esp state 0"}, {"sa/1", "junk"}}, {}}).has_value());
    }
    {
        Node a(dir);
        ASSERT_FALSE(a.result.has_value());
        EXPECT_EQ(a.result.error().code, Errc::invalid);
        EXPECT_NE(a.result.error().message.find("--state-reset"), std::string::npos) << a.result.error().message;
    }
    Node b(dir, true);
    ASSERT_TRUE(b.result.has_value()) << b.result.error().message;
    EXPECT_EQ(b.result->sas, 0u);
}

}  // namespace
}  // namespace pcscf::ctl
