// pcscf-espd's restart from its LMDB store (--state-dir): how long N SAs take to come
// back into a fresh datapath, against installing the same N SAs the normal way, measured
// in the same run (docs/architecture.md, "What survives a restart").
//
// Per SA count N (UEs of 4 SAs each, as sec-agree installs them: inbound to port_ps and
// port_pc, outbound to the UE's port_uc and port_us):
//   fill     a store written as pcscf-espd writes it: a ControlPlane attached to an empty
//            LmdbBackend (its StateWriter), the N/4 SA sets installed through SaManager
//            (secagree::install_sa_set, as the Registrar does), a sequence checkpoint
//            for every SA (SaManager::handle, as the workers' events reach it), flushed;
//            then each UE's registration record, as the Registrar writes it at the 200
//            (IMPI, address, IMPU, its current set, the expiry). Every ControlPlane here
//            runs the sec-agree terminator (a Registrar; its SIP sockets on loopback), so
//            a restore brings the registrations back as pcscf-espd's does
//   restore  as Daemon::run does at start: dp::Dataplane::create (one worker, tables
//            sized to N: --inbound-sas N/2, --outbound-sas N/2), ControlPlane::create,
//            then, timed, LmdbBackend::open and ControlPlane::attach_state with
//            Dataplane::preload putting every SA straight into the worker's engine;
//            then Dataplane::start and one ESP packet for a restored inbound SA (the last
//            UE's, sealed with a key derived from its IK here, numbered where the restore
//            resumes it) offered on the access port (a net_ring port this program feeds):
//            "first verified" is when the control loop reads the worker's first-use
//            event for that SA, from the start of the restore. Then the StateWriter's
//            rewrite of the store (attach_state puts every SA and mark again) is waited for.
//   install  the reference: the same N SAs installed into a fresh Dataplane through
//            SaManager and the SA rings, the acknowledgements read between sets, until
//            the worker has acknowledged all of them (no store attached).
//   takeover a warm standby taking the same store over, as pcscf-espd in a pair does
//            (Daemon::start_standby, then Daemon::take_over without the Redis claim and the
//            feed's catch-up): a fresh Dataplane sized as for the restore, a standby::WarmSas
//            on its rings loaded with the store's records (LmdbBackend::load), each SA
//            preloaded into the worker, set_serving(false), the worker started ("warm-up",
//            not part of the takeover; a packet offered then must be dropped); then, timed,
//            LmdbBackend::open, ControlPlane::attach_state with the standby's records and
//            WarmSas::take_over as the install (a SaOp::resume per SA), forward_others to
//            SaManager, release_unclaimed, settle, set_serving(true). Then one ESP packet for
//            the target SA numbered mark + 2K + 1: "first verified" from the takeover's start.
//            Every SA must be resumed where SaManager put it, none installed again (the
//            worker applied exactly one record per SA and holds N/2 of each direction).
// Rounds alternate which of restore and install goes first (the takeover between them, so
// it alternates with the restore too); each figure is reported as
// min / median / max over the rounds, and the ratio restore rate / install rate is taken
// round by round, and also by CPU time (less moved by the machine's other load). Memory,
// from /proc/self/status: VmRSS's growth from before the restore to its end, its peak
// (VmHWM, reset before the restore) until the writer is done, and what is kept once freed
// memory goes back (malloc_trim); DPDK's memory counts only without hugepages, and the
// worker's tables are Dataplane::create's, before. The store: data.mdb on disk. Where
// the time goes: the store's load and the records' decoding timed apart; in the restore,
// the control thread's time on its CPU, waiting for it and blocked, its page faults, and
// the other threads' CPU time (the state writer's). Every restore must bring back all N
// SAs into the worker's tables and verify the packet, every install must be acknowledged,
// or the program stops (exit 1). The stores live under a temporary directory, removed at
// the end.
//
// The target: 100,000 registered UEs (400,000 SAs) back in service within 2 s of
// the process start. Printed as measured: EAL start + Dataplane and ControlPlane creation
// + the restore to the first verified packet, medians. And for a pair: a standby serving
// within 1 s of the address moving; the takeover's time at 400,000 SAs printed against it,
// as a figure (the Redis claim and the feed's catch-up, before it, are not measured here).
//
// Runs in a network namespace of its own (the Dataplane creates a net_tap), so root. Like
// pcscf-espd it re-executes itself once with glibc's malloc in transparent huge pages
// (GLIBC_TUNABLES=glibc.malloc.hugetlb=1 unless set otherwise); the header says which.
//
//   build/bench/state_restore_benchmark [--quick] [--sizes=10k,100k,400k,1M] [--rounds=3]
//       [--seq-checkpoint=32] [--dir=DIR] [--cold] [--csv=FILE] [--no-huge]
// --quick: 10k and 100k SAs, 1 round. --cold: the store's file is dropped from the page
// cache before each restore (a restart after a reboot; default: a process restart).
#include <lmdb.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <malloc.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench_args.hpp"
#include "bench/bench_eal.hpp"
#include "bench/process_memory.hpp"
#include "bench/spread.hpp"
#include "control/control_plane.hpp"
#include "control/daemon/malloc_pages.hpp"
#include "control/sa/sa_state.hpp"
#include "control/secagree/registration_state.hpp"
#include "control/secagree/sa_set.hpp"
#include "control/standby/warm_sas.hpp"
#include "control/state/lmdb_store.hpp"
#include "dataplane/service/dataplane.hpp"
#include "sa_contract/hmac_key.hpp"
#include "sa_contract/imb_manager.hpp"
#include "tests/common/packet_builder.hpp"
#include "tests/esp/esp_builder.hpp"

namespace pcscf::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr esp::Alg kAlg = esp::Alg::hmac_sha1_96;
constexpr uint16_t kPortPs = 5101, kPortPc = 5102;  // inside pcscf-espd's default --protected-ports
constexpr uint32_t kSpiBase = 0x1000;               // pcscf-espd's default --spi-base
constexpr uint32_t kMaxSas = 16'000'000;            // 4,000,000 UEs in 10.0.0.0/8
constexpr uint32_t kTarget = 400'000;               // the 100,000 UEs
constexpr double kTargetMs = 2000;

struct Options {
    bool quick = false, no_huge = false, cold = false;
    std::vector<uint32_t> sizes{10'000, 100'000, 400'000, 1'000'000};
    int rounds = 3;
    uint32_t checkpoint = 32;  // pcscf-espd's default --seq-checkpoint
    std::string dir;           // parent of the temporary store; default: the system's temp dir
    std::string csv;
};

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "state_restore_benchmark: %s\n", what.c_str());
    std::exit(1);
}

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
double mib(double bytes) { return bytes / double(1 << 20); }

std::string cpus_of_self() {
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    std::string s;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) s += (s.empty() ? "" : ",") + std::to_string(c);
    return s;
}

// CPU time and page faults of the calling thread (RUSAGE_THREAD, with the time it was
// runnable but waited for its CPU: /proc/thread-self/schedstat) or of the whole process
// (RUSAGE_SELF). Wall time neither on the CPU nor waiting for it was spent blocked: on
// the disk (an fsync), a lock, a sleep.
struct Usage {
    double cpu_ms = 0, runq_ms = 0, faults = 0;
    Usage operator-(const Usage& b) const { return {cpu_ms - b.cpu_ms, runq_ms - b.runq_ms, faults - b.faults}; }
};
Usage usage_of(int who) {
    rusage u{};
    getrusage(who, &u);
    auto ms_of = [](const timeval& t) { return double(t.tv_sec) * 1e3 + double(t.tv_usec) / 1e3; };
    Usage r{ms_of(u.ru_utime) + ms_of(u.ru_stime), 0, double(u.ru_minflt)};
    if (who == RUSAGE_THREAD) {
        std::ifstream f("/proc/thread-self/schedstat");
        double on_cpu_ns = 0, waiting_ns = 0;
        if (f >> on_cpu_ns >> waiting_ns) r.runq_ms = waiting_ns / 1e6;
    }
    return r;
}

// ---- the store on disk ------------------------------------------------------------------

struct StoreSize {
    uint64_t file = 0, disk = 0;  // data.mdb's length, and the blocks it takes
};
StoreSize store_size(const std::string& dir) {
    struct stat st {};
    if (::stat((dir + "/data.mdb").c_str(), &st) != 0) return {};
    return {uint64_t(st.st_size), uint64_t(st.st_blocks) * 512};
}

// The store's file out of the page cache (its pages are clean: LMDB syncs each commit).
void evict(const std::string& dir) {
    const int fd = ::open((dir + "/data.mdb").c_str(), O_RDONLY);
    if (fd < 0) fail("cannot open " + dir + "/data.mdb: " + std::strerror(errno));
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
}

// The mark the store holds for SA `id`, read straight from LMDB (no other handle on the
// store is open then): where the restore will resume its numbers.
// What the store says of one SA: its mark, its record and the store's last generation.
struct StoredState {
    std::optional<ctl::SeqMark> mark;
    ctl::SaInfo sa;
    uint32_t generation = 0;
    // Where the next start resumes it (ctl::resume_at, as SaManager::restore does).
    uint32_t resume(uint32_t interval) const { return ctl::resume_at(sa, mark, interval, generation + 1); }
};

StoredState stored_state(const std::string& dir, ctl::SaId id) {
    MDB_env* env = nullptr;
    StoredState st;
    MDB_txn* txn = nullptr;
    MDB_dbi dbi = 0;
    if (mdb_env_create(&env) != 0) fail("lmdb: cannot create an environment");
    if (mdb_env_set_mapsize(env, size_t{4} << 30) != 0 || mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0600) != 0 ||
        mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) != 0)
        fail("lmdb: cannot read the store in " + dir);
    const auto get = [&](std::string k) -> std::optional<std::string_view> {
        MDB_val key{k.size(), k.data()}, data{};
        if (mdb_get(txn, dbi, &key, &data) != 0) return std::nullopt;
        return std::string_view(static_cast<const char*>(data.mv_data), data.mv_size);
    };
    if (mdb_dbi_open(txn, nullptr, 0, &dbi) == 0) {
        if (auto v = get(ctl::seq_record_key(id)))
            if (auto m = ctl::decode_seq(*v)) st.mark = *m;
        if (auto v = get(ctl::sa_record_key(id)))
            if (auto sa = ctl::decode_sa(*v)) st.sa = sa->info;
        if (auto v = get(std::string(ctl::kGenerationKey)))
            if (auto g = ctl::decode_generation(*v)) st.generation = *g;
    }
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return st;
}

// ---- UEs ----------------------------------------------------------------------------

net::IpAddr v4(uint32_t host_order) {
    const uint32_t a = htonl(host_order);
    return net::IpAddr::v4(&a);
}
const net::IpAddr kPcscf = v4(0xc0000201);  // 192.0.2.1

// A registered UE as sec-agree knows it: address, its side of the SA set, IK, IMPI.
struct Ue {
    net::IpAddr addr;
    sip::Ipsec3gpp side;
    std::array<uint8_t, 16> ik{};
    std::string impi;
};

Ue make_ue(uint32_t k) {
    Ue u;
    u.addr = v4(0x0a000001u + k);  // 10.0.0.1 + k
    u.side.alg = sip::IntegrityAlg::hmac_sha_1_96;
    u.side.spi_c = 0x20000000u + 2 * k;  // the UE's SPIs: our outbound SAs'
    u.side.spi_s = u.side.spi_c + 1;
    u.side.port_c = uint16_t(30000 + (k % 10000) * 2);
    u.side.port_s = uint16_t(u.side.port_c + 1);
    for (size_t i = 0; i < u.ik.size(); ++i) u.ik[i] = uint8_t((k >> (8 * (i % 4))) ^ (37 * i + 11));
    char impi[80];
    std::snprintf(impi, sizeof impi, "%015llu@ims.mnc001.mcc001.3gppnetwork.org",
                  static_cast<unsigned long long>(1010000000000ull + k));
    u.impi = impi;
    return u;
}

// ---- one start of the datapath --------------------------------------------------------

// What Daemon::run creates before the store is read: a dp::Dataplane (one worker on its
// own lcore; the access port a net_ring port whose RX ring this program feeds; a net_tap)
// and the ControlPlane on its rings, no SIP. Each Node's rings, port and tap get names of
// their own, so that none meets what an earlier Node left behind.
class Node {
public:
    Node(uint32_t sas, unsigned lcore, uint32_t checkpoint) {
        const std::string n = std::to_string(++created_);
        for (rte_ring** r : {&rx_, &tx_}) {
            const std::string name = (r == &rx_ ? "sr_rx" : "sr_tx") + n;
            *r = rte_ring_create(name.c_str(), 1024, int(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
            if (*r == nullptr) fail("ring " + name + ": " + rte_strerror(rte_errno));
        }
        const std::string port = "sr_access" + n;
        const int id = rte_eth_from_rings(port.c_str(), &rx_, 1, &tx_, 1, rte_socket_id());
        char name[RTE_ETH_NAME_MAX_LEN];
        if (id < 0 || rte_eth_dev_get_name_by_port(uint16_t(id), name) != 0)
            fail("net_ring port " + port + ": " + rte_strerror(rte_errno));
        dp::ServiceConfig cfg;
        cfg.access_port = name;  // net_ring_<port>
        cfg.tap_name = "sr_tap" + n;
        cfg.local_addrs = {kPcscf};
        cfg.workers = 1;
        cfg.worker_lcores = {lcore};
        cfg.engine.spi = esp::SpiLayout{kSpiBase, 1, std::max<uint32_t>(sas / 2, 1024)};
        cfg.engine.outbound_capacity = std::max<uint32_t>(sas / 2, 1024);
        cfg.engine.seq_checkpoint = checkpoint;  // pcscf-espd: with a store only
        const auto t0 = Clock::now();
        auto d = dp::Dataplane::create(cfg);
        if (!d) fail("Dataplane::create: " + d.error() + (geteuid() != 0 ? " (a net_tap needs root)" : ""));
        dp = std::move(*d);
        auto p = ctl::ControlPlane::create(dp->rings().control(), dp->config().engine.spi, sip_config(), {},
                                           [this](const ctl::SaInfo& sa, const esp::SaEvent& e) { on_event(sa, e); });
        if (!p) fail("ControlPlane::create: " + p.error().message);
        plane = std::move(*p);
        create_ms = ms(Clock::now() - t0);
    }
    ~Node() {
        plane.reset();  // its writer flushes first; its SaManager uses the rings
        dp->stop();
        for (void* m; rte_ring_dequeue(tx_, &m) == 0;) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
        for (void* m; rte_ring_dequeue(rx_, &m) == 0;) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
        dp.reset();  // closes the ports
        rte_ring_free(rx_);
        rte_ring_free(tx_);
    }
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    // Offers a frame on the access port, as the NIC would.
    void receive(rte_mbuf* m) {
        if (rte_ring_enqueue(rx_, m) != 0) fail("the access port's RX ring is full");
    }
    // The worker's and its engine's counters, for a failure message.
    std::string counters() const {
        const dp::Worker& w = dp->worker(0);
        std::string s = "access rx " + std::to_string(w.stats().access_rx) + ", verified " +
                        std::to_string(w.stats().esp_in) + "; drops:";
        for (const net::DropCounters* c : {&w.stats().drops, &w.engine().drops()})
            for (size_t i = 0; i < net::kDropReasonCount; ++i)
                if (c->count[i] != 0)
                    s += " " + std::string(net::name(net::DropReason(i))) + " " + std::to_string(c->count[i]);
        return s;
    }
    // After stop(): every SA in the worker's tables.
    void check_tables(uint32_t sas, const char* after) const {
        const esp::Engine& e = dp->worker(0).engine();
        if (e.inbound_sas().count() != sas / 2 || e.outbound_sas().count() != sas / 2)
            fail(std::string("after ") + after + " the worker holds " + count(e.inbound_sas().count()) +
                 " inbound and " + count(e.outbound_sas().count()) + " outbound SAs, not " + count(sas / 2) +
                 " of each");
    }

    std::unique_ptr<dp::Dataplane> dp;
    std::unique_ptr<ctl::ControlPlane> plane;
    double create_ms = 0;  // Dataplane::create and ControlPlane::create
    uint64_t added = 0, refused = 0;
    ctl::SaId watch = 0;  // the SA whose first use is waited for
    std::optional<Clock::time_point> first_use;

private:
    void on_event(const ctl::SaInfo& sa, const esp::SaEvent& e) {
        if (e.kind == esp::EventKind::applied && e.op == esp::SaOp::add) ++(e.result == 0 ? added : refused);
        else if (e.kind == esp::EventKind::first_use && sa.id == watch && !first_use) first_use = Clock::now();
    }

    // The sec-agree terminator as pcscf-espd runs it with --core, its sockets on loopback
    // (ports of this Node's own): the Registrar takes the registrations back.
    static ctl::SipConfig sip_config() {
        const uint32_t lo = htonl(INADDR_LOOPBACK);
        ctl::SipConfig c;
        c.proxy.access = {net::IpAddr::v4(&lo)};
        c.proxy.sip_port = uint16_t(20000 + 4 * created_);
        c.proxy.core = {net::IpAddr::v4(&lo), uint16_t(c.proxy.sip_port + 1)};
        c.proxy.core_local = {net::IpAddr::v4(&lo), uint16_t(c.proxy.sip_port + 2)};
        return c;
    }

    static inline uint32_t created_ = 0;
    rte_ring *rx_ = nullptr, *tx_ = nullptr;
};

// Installs every UE's SA set as the Registrar does at a registration (install_sa_set
// through SaManager, the workers' acknowledgements read after each as the control loop
// reads them (SaManager::pump: no SIP to wait for here), within the command ring's room),
// until the worker has acknowledged every SA. Returns the milliseconds taken and
// every UE's set, in the order of `ues`.
std::pair<double, std::vector<secagree::SaSet>> install_all(Node& n, const std::vector<Ue>& ues) {
    const uint64_t before = n.added + n.refused;
    auto acked = [&] { return n.added + n.refused - before; };
    uint64_t sent = 0;
    std::vector<secagree::SaSet> sets;
    sets.reserve(ues.size());
    const auto t0 = Clock::now();
    for (const Ue& u : ues) {
        while (sent - acked() > 8192) n.plane->sas().pump();  // the ring holds 16,384
        auto set =
            secagree::install_sa_set(n.plane->sas(), kAlg, u.addr, kPcscf, u.side, kPortPc, kPortPs, u.ik, u.impi);
        if (!set) fail("installing the SAs of " + u.impi + ": " + set.error().message);
        sets.push_back(*set);
        sent += 4;
        n.plane->sas().pump();
    }
    while (acked() < sent) {
        n.plane->sas().pump();
        if (Clock::now() - t0 > 600s) fail("the worker acknowledged " + count(acked()) + " of " + count(sent) + " SAs");
    }
    const double took = ms(Clock::now() - t0);
    if (n.refused != 0) fail("the worker refused " + count(n.refused) + " SAs");
    return {took, std::move(sets)};
}

// ---- one SA count ---------------------------------------------------------------------

struct Size {
    uint32_t sas = 0;
    std::string dir;  // its store
    std::vector<Ue> ues;
    // The SA whose first packet is timed: the last UE's inbound SA to port_ps.
    ctl::SaId target = 0;
    uint32_t target_spi = 0;
    esp::HmacKey target_key;
    // The fill, and reading the store outside any restore.
    double fill_ms = 0, fill_flush_ms = 0, read_ms = 0, decode_ms = 0;
    size_t records = 0;
    uint64_t record_bytes = 0;
    StoreSize filled, after;
    // By round.
    std::map<std::string, std::vector<double>> fig;
    void note(const std::string& name, double v) { fig[name].push_back(v); }
    Spread of(const std::string& name) const {
        const auto it = fig.find(name);
        return it == fig.end() ? Spread{} : spread(it->second);
    }
};

// Each UE's registration record, as the Registrar writes it at the 200 to its REGISTER
// (secagree::encode of a StoredRegistration: IMPI, address, IMPU, its current SA set
// and when it expires), into the store `dir` (no other handle on it open).
void store_registrations(const std::string& dir, const std::vector<Ue>& ues, const std::vector<secagree::SaSet>& sets) {
    auto store = ctl::state::LmdbBackend::open(dir);
    if (!store) fail("opening " + dir + ": " + store.error().message);
    ctl::state::Batch batch;
    batch.puts.reserve(ues.size());
    const auto expiry = std::chrono::system_clock::now() + 1h;
    for (size_t i = 0; i < ues.size(); ++i) {
        secagree::StoredRegistration r;
        r.impi = ues[i].impi;
        r.ue = ues[i].addr;
        r.impus = {"sip:" + ues[i].impi};
        r.current = sets[i];
        r.current_expiry = expiry;
        r.next_port_pc = kPortPc + 2;
        batch.puts.emplace_back(secagree::registration_key(r.impi, r.ue), secagree::encode(r));
    }
    if (auto w = (*store)->write(batch); !w) fail("writing the registrations: " + w.error().message);
}

// The SAs and their checkpoints through a ControlPlane attached to the store (its
// StateWriter), as pcscf-espd writes them; every UE's set returned.
std::vector<secagree::SaSet> fill_sas(const Options& o, Size& s, Node& n) {
    auto store = ctl::state::LmdbBackend::open(s.dir);
    if (!store) fail("opening " + s.dir + ": " + store.error().message);
    std::vector<std::string> warnings;
    auto r = n.plane->attach_state(
        std::move(*store), o.checkpoint, false,
        [&](uint32_t w, const esp::SaRecord& rec, int32_t& h) { return n.dp->preload(w, rec, h); },
        [&](const std::string& line) { warnings.push_back(line); });
    if (!r) fail("attaching the empty store: " + r.error().message);
    n.dp->start();
    auto [took, sets] = install_all(n, s.ues);
    s.fill_ms = took;
    s.target = sets.back().ids[secagree::SaSet::in_ps];
    s.target_spi = sets.back().spi_ps;
    // A checkpoint for every SA, as the workers report them under traffic (multiples of
    // the interval; the target's is what its restored numbers resume from).
    const auto t0 = Clock::now();
    for (ctl::SaId id = 1; id < ctl::SaId{s.sas} + 1; ++id) {
        esp::SaEvent e;
        e.kind = esp::EventKind::seq_checkpoint;
        e.cookie = id;
        e.seq = uint64_t{o.checkpoint} * (1 + id % 16);
        n.plane->sas().handle(e);
    }
    if (!n.plane->close_state([](const ctl::SaInfo&) { return std::optional<uint32_t>(); }, 600s))
        fail("the store did not take the fill within 600 s");
    s.fill_flush_ms = ms(Clock::now() - t0);
    n.dp->stop();
    n.check_tables(s.sas, "the fill");
    if (!warnings.empty()) fail("filling: " + warnings.front());
    return std::move(sets);
}

void fill(const Options& o, Size& s, unsigned lcore) {
    std::vector<secagree::SaSet> sets;
    {
        Node n(s.sas, lcore, o.checkpoint);
        sets = fill_sas(o, s, n);
    }
    store_registrations(s.dir, s.ues, sets);
}

// The store read and its records decoded as attach_state does first, outside any
// restore: where a restore's time goes.
void read_alone(Size& s) {
    const auto t0 = Clock::now();
    auto store = ctl::state::LmdbBackend::open(s.dir);
    if (!store) fail("opening " + s.dir + ": " + store.error().message);
    auto records = (*store)->load();
    if (!records) fail("reading " + s.dir + ": " + records.error().message);
    const auto t1 = Clock::now();
    std::vector<ctl::StoredSa> sas;
    std::unordered_map<ctl::SaId, ctl::SeqMark> marks;
    std::vector<secagree::StoredRegistration> regs;
    for (const auto& [k, v] : *records) {
        s.record_bytes += k.size() + v.size();
        if (ctl::id_of(k, "sa/")) {
            if (auto d = ctl::decode_sa(v)) sas.push_back(std::move(*d));
        } else if (auto id = ctl::id_of(k, "seq/")) {
            if (auto m = ctl::decode_seq(v)) marks.emplace(*id, *m);
        } else if (k.starts_with(secagree::kRegistrationPrefix)) {
            if (auto g = secagree::decode_registration(v)) regs.push_back(std::move(*g));
        }
    }
    s.decode_ms = ms(Clock::now() - t1);
    s.read_ms = ms(t1 - t0);
    s.records = records->size();
    if (sas.size() != s.sas || marks.size() != s.sas || regs.size() != s.ues.size())
        fail("the store holds " + count(sas.size()) + " SAs, " + count(marks.size()) + " marks and " +
             count(regs.size()) + " registrations, not " + count(s.sas) + ", " + count(s.sas) + " and " +
             count(s.ues.size()));
}

// The next packet of the target's UE to port_ps, numbered `seq`: built from what the UE
// knows (its address and ports, our SPI, the key from its IK), not from the store.
rte_mbuf* esp_frame(const Size& s, uint32_t seq, IMB_MGR* imb, rte_mempool* pool) {
    const Ue& u = s.ues.back();
    test::Flow f;
    f.src = u.addr;
    f.dst = kPcscf;
    f.sport = u.side.port_c;
    f.dport = kPortPs;
    test::Seal seal;
    seal.spi = s.target_spi;
    seal.seq = seq;
    seal.alg = kAlg;
    seal.key = s.target_key;
    const auto frame = test::with_ethernet(test::seal(imb, test::make_packet(f, 400), seal));
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) fail("no mbuf for the ESP packet");
    char* p = rte_pktmbuf_append(m, uint16_t(frame.size()));
    if (p == nullptr) fail("the ESP packet does not fit an mbuf");
    std::memcpy(p, frame.data(), frame.size());
    return m;
}

void restore(const Options& o, Size& s, unsigned lcore, IMB_MGR* imb, rte_mempool* pool) {
    const uint32_t resume = stored_state(s.dir, s.target).resume(o.checkpoint);
    rte_mbuf* packet = esp_frame(s, resume + 1, imb, pool);
    Node n(s.sas, lcore, o.checkpoint);
    n.watch = s.target;
    if (o.cold) evict(s.dir);
    malloc_trim(0);  // what earlier runs freed goes back, so the RSS growth is this one's
    const Rss before = rss();
    reset_peak();
    std::vector<std::string> warnings;

    const Usage u0 = usage_of(RUSAGE_THREAD), all0 = usage_of(RUSAGE_SELF);
    const auto t0 = Clock::now();
    auto store = ctl::state::LmdbBackend::open(s.dir);
    if (!store) fail("opening " + s.dir + ": " + store.error().message);
    auto r = n.plane->attach_state(
        std::move(*store), o.checkpoint, false,
        [&](uint32_t w, const esp::SaRecord& rec, int32_t& h) { return n.dp->preload(w, rec, h); },
        [&](const std::string& line) { warnings.push_back(line); });
    const auto t1 = Clock::now();
    const Usage used = usage_of(RUSAGE_THREAD) - u0, others = usage_of(RUSAGE_SELF) - all0 - used;
    const Rss after = rss();
    if (!r) fail("restoring: " + r.error().message);
    if (!warnings.empty()) fail("restoring: " + warnings.front());
    if (r->sas != s.sas || r->dropped != 0 || r->registrations != s.ues.size())
        fail("restored " + count(r->sas) + " SAs of " + count(s.sas) + " (" + count(r->dropped) + " dropped) and " +
             count(r->registrations) + " registrations of " + count(s.ues.size()));
    if (const auto sa = n.plane->sas().find(s.target); !sa || sa->cfg.seq_start != resume)
        fail("the target SA " + std::to_string(s.target) + " resumes at " +
             (sa ? std::to_string(sa->cfg.seq_start) : std::string("nothing")) + ", not " + std::to_string(resume));

    n.dp->start();
    n.receive(packet);
    while (!n.first_use) {
        n.plane->round(Clock::now());
        if (Clock::now() - t1 > 10s) fail("no first-use event for the restored SA within 10 s: " + n.counters());
    }
    const auto t2 = *n.first_use;
    const size_t pending = n.plane->state_stats()->pending;
    if (!n.plane->close_state([](const ctl::SaInfo&) { return std::optional<uint32_t>(); }, 600s))
        fail("the writer did not catch up within 600 s");
    const auto t3 = Clock::now();
    n.dp->stop();
    n.check_tables(s.sas, "the restore");
    if (n.dp->worker(0).stats().esp_in != 1) fail("the packet was not verified: " + n.counters());
    s.after = store_size(s.dir);
    const double peak = rss().peak;  // the restore and the writer's rewrite
    malloc_trim(0);                  // what is left: the registry, the writer's, the stores' maps
    const double kept = rss().rss;

    const double took = ms(t1 - t0);
    s.note("restore_ms", took);
    s.note("attach_took_ms", double(r->took.count()));
    s.note("restore_sas_per_s", s.sas / (took / 1e3));
    s.note("first_verified_ms", ms(t2 - t0));
    s.note("create_ms", n.create_ms);
    s.note("rss_mib", mib(after.rss - before.rss));
    s.note("peak_mib", mib(std::max(after.peak, peak) - before.rss));
    s.note("kept_mib", mib(kept - before.rss));
    s.note("writer_pending", double(pending));
    s.note("restore_cpu_ms", used.cpu_ms);
    s.note("restore_runq_ms", used.runq_ms);
    s.note("restore_blocked_ms", std::max(0.0, took - used.cpu_ms - used.runq_ms));
    s.note("restore_faults", used.faults);
    s.note("restore_others_cpu_ms", std::max(0.0, others.cpu_ms));  // the two clocks tick apart
    s.note("writer_done_ms", ms(t3 - t1));
}

void install(Size& s, unsigned lcore) {
    Node n(s.sas, lcore, 0);
    n.dp->start();
    const Usage u0 = usage_of(RUSAGE_THREAD);
    const double took = install_all(n, s.ues).first;
    const Usage used = usage_of(RUSAGE_THREAD) - u0;
    n.dp->stop();
    n.check_tables(s.sas, "the install");
    s.note("install_ms", took);
    s.note("install_cpu_ms", used.cpu_ms);
    s.note("install_runq_ms", used.runq_ms);
    s.note("install_sas_per_s", s.sas / (took / 1e3));
}

// A warm standby's takeover of the same store, as pcscf-espd in a pair does it
// (control/daemon/daemon_pair.cpp) without the Redis claim and the feed's catch-up: the
// standby starts as Daemon::start_standby does (the store's records into a WarmSas on the
// workers' rings, each SA preloaded, ESP not passed: set_serving(false)), then its
// workers run; timed from opening the store, Daemon::take_over's steps: attach_state with
// the records the standby holds and WarmSas::take_over as the install (a resume per warm
// SA), the others' events to SaManager, release_unclaimed, settle; then serving. The
// store is read as the last checkpoints left it, so the target's numbers resume at its
// mark + 2K; its packet is numbered one above.
void takeover(const Options& o, Size& s, unsigned lcore, IMB_MGR* imb, rte_mempool* pool) {
    const StoredState st = stored_state(s.dir, s.target);
    if (!st.mark || st.mark->exact)
        fail("the target SA " + std::to_string(s.target) + " has " + (st.mark ? "an exact" : "no") +
             " mark in the store before the takeover");
    const uint32_t edge = st.resume(o.checkpoint);
    rte_mbuf* early = esp_frame(s, edge + 1, imb, pool);  // offered to the standby: dropped
    rte_mbuf* packet = esp_frame(s, edge + 1, imb, pool);
    Node n(s.sas, lcore, o.checkpoint);
    n.watch = s.target;
    std::vector<std::string> warnings;
    const auto warn = [&warnings](const std::string& line) { warnings.push_back(line); };

    // The standby's start (not part of the takeover).
    const auto w0 = Clock::now();
    ctl::state::Records records;
    {
        auto store = ctl::state::LmdbBackend::open(s.dir);
        if (!store) fail("opening " + s.dir + ": " + store.error().message);
        auto r = (*store)->load();
        if (!r) fail("reading " + s.dir + ": " + r.error().message);
        records = std::move(*r);
    }  // closed again: the takeover opens the store as Daemon::take_over opens Redis
    ctl::standby::WarmSas warm(n.dp->rings().control(), n.dp->config().engine.spi, warn);
    warm.load(records, [&n](uint32_t w, const esp::SaRecord& rec, int32_t& h) { return n.dp->preload(w, rec, h); });
    records = {};
    n.dp->set_serving(false);
    n.dp->start();
    const auto w1 = Clock::now();
    if (const ctl::standby::WarmStats ws = warm.stats(); ws.sas != s.sas || ws.refused != 0 || !warnings.empty())
        fail("the standby keeps " + count(ws.sas) + " SAs warm of " + count(s.sas) + " (" + count(ws.refused) +
             " refused)" + (warnings.empty() ? "" : ": " + warnings.front()));
    // It passes no ESP: the packet is dropped before the engine sees it.
    n.receive(early);
    const auto& standby_drops = n.dp->worker(0).stats().drops.count[size_t(net::DropReason::standby)];
    while (*static_cast<const volatile uint64_t*>(&standby_drops) == 0) {
        if (Clock::now() - w1 > 10s) fail("the standby did not drop the ESP packet: " + n.counters());
        std::this_thread::yield();
    }

    const Usage u0 = usage_of(RUSAGE_THREAD);
    const auto t0 = Clock::now();
    auto store = ctl::state::LmdbBackend::open(s.dir);
    if (!store) fail("opening " + s.dir + ": " + store.error().message);
    warm.forward_others([&n](const esp::SaEvent& e) { n.plane->sas().handle(e); });  // as the daemon
    auto r = n.plane->attach_state(
        std::move(*store), warm.take_records(), o.checkpoint, false,
        [&warm](uint32_t w, const esp::SaRecord& rec, int32_t& h) { return warm.take_over(w, rec, h); }, warn);
    if (!r) fail("taking over: " + r.error().message);
    const auto t1 = Clock::now();
    warm.release_unclaimed();
    const bool settled = warm.settle(600s);  // the daemon's waits 5 s
    n.dp->set_serving(true);
    const auto t2 = Clock::now();
    const Usage used = usage_of(RUSAGE_THREAD) - u0;
    if (!settled)
        fail("the worker did not acknowledge every resumption within 600 s: " + count(warm.stats().in_flight) +
             " in flight");
    if (!warnings.empty()) fail("taking over: " + warnings.front());
    if (r->sas != s.sas || r->dropped != 0 || r->registrations != s.ues.size())
        fail("took over " + count(r->sas) + " SAs of " + count(s.sas) + " (" + count(r->dropped) + " dropped) and " +
             count(r->registrations) + " registrations of " + count(s.ues.size()));
    if (const auto sa = n.plane->sas().find(s.target); !sa || sa->cfg.seq_start != edge)
        fail("the target SA " + std::to_string(s.target) + " resumes at " +
             (sa ? std::to_string(sa->cfg.seq_start) : std::string("nothing")) + ", not its mark + 2K " +
             std::to_string(edge));

    n.receive(packet);
    while (!n.first_use) {
        n.plane->round(Clock::now());
        if (Clock::now() - t2 > 10s) fail("no first-use event for the resumed SA within 10 s: " + n.counters());
    }
    const auto t3 = *n.first_use;
    if (!n.plane->close_state([](const ctl::SaInfo&) { return std::optional<uint32_t>(); }, 600s))
        fail("the writer did not catch up within 600 s after the takeover");
    const auto t4 = Clock::now();
    n.dp->stop();
    // Every SA resumed once, none installed again: the tables hold N/2 of each direction,
    // the worker applied one record per SA (the resumes; the standby's SAs were preloaded),
    // and each SA's numbers are where SaManager resumed them (the target's: its packet's).
    n.check_tables(s.sas, "the takeover");
    const dp::WorkerStats& ws = n.dp->worker(0).stats();
    if (ws.esp_in != 1) fail("the packet was not verified after the takeover: " + n.counters());
    if (ws.records_applied != s.sas || ws.records_failed != 0)
        fail("the takeover sent the worker " + count(ws.records_applied + ws.records_failed) + " records (" +
             count(ws.records_failed) + " refused), not one resume for each of the " + count(s.sas) + " SAs");
    const esp::Engine& engine = n.dp->worker(0).engine();
    size_t wrong = 0;
    std::string first;
    for (const ctl::SaInfo& sa : n.plane->sas().list(0, n.plane->sas().size())) {
        const uint32_t want = sa.id == s.target ? edge + 1 : sa.cfg.seq_start;
        const auto seq = engine.seq_at(sa.cfg.dir, sa.handle);
        if (sa.cfg.seq_start != 0 && seq == want) continue;
        if (wrong++ == 0)
            first = "SA " + std::to_string(sa.id) + " is at " + (seq ? std::to_string(*seq) : "nothing") + ", not " +
                    std::to_string(want);
    }
    if (wrong != 0) fail(count(wrong) + " SAs not resumed where SaManager put them after the takeover: " + first);
    if (warm.stats().sas != s.sas || warm.stats().refused != 0)
        fail("after the takeover the standby's WarmSas holds " + count(warm.stats().sas) + " SAs (" +
             count(warm.stats().refused) + " refused)");

    const double took = ms(t2 - t0);
    s.note("standby_warmup_ms", ms(w1 - w0));
    s.note("takeover_ms", took);
    s.note("takeover_attach_ms", ms(t1 - t0));
    s.note("takeover_settle_ms", ms(t2 - t1));
    s.note("takeover_sas_per_s", s.sas / (took / 1e3));
    s.note("takeover_first_verified_ms", ms(t3 - t0));
    s.note("takeover_cpu_ms", used.cpu_ms);
    s.note("takeover_writer_done_ms", ms(t4 - t2));
}

void measure(const Options& o, Size& s, unsigned lcore, IMB_MGR* imb, rte_mempool* pool) {
    std::printf("\n%s SAs (%s UEs, 4 SAs each); worker tables %s inbound, %s outbound\n", count(s.sas).c_str(),
                count(s.sas / 4).c_str(), count(std::max<uint32_t>(s.sas / 2, 1024)).c_str(),
                count(std::max<uint32_t>(s.sas / 2, 1024)).c_str());
    std::fflush(stdout);
    s.ues.reserve(s.sas / 4);
    for (uint32_t k = 0; k < s.sas / 4; ++k) s.ues.push_back(make_ue(k));
    const auto key = esp::expand_key(imb, kAlg, esp::ik_esp(kAlg, s.ues.back().ik).span());
    if (!key) fail("expanding a key: " + key.error());
    s.target_key = *key;

    fill(o, s, lcore);
    s.filled = store_size(s.dir);
    read_alone(s);
    std::printf(
        "  store filled: %s SAs installed with it attached in %.0f ms (%s SAs/s), a checkpoint for each and "
        "everything written %.0f ms later\n"
        "  store: %s records, %.1f MiB of keys and values; data.mdb %.1f MiB (%.1f MiB on disk)\n"
        "  the store alone: LmdbBackend::open + load %.0f ms, decode_sa / decode_seq of every record %.0f ms\n",
        count(s.sas).c_str(), s.fill_ms, count(uint64_t(s.sas / (s.fill_ms / 1e3))).c_str(), s.fill_flush_ms,
        count(s.records).c_str(), mib(double(s.record_bytes)), mib(double(s.filled.file)), mib(double(s.filled.disk)),
        s.read_ms, s.decode_ms);
    std::fflush(stdout);
    for (int round = 0; round < o.rounds; ++round) {
        // The takeover between the two: which of it and the restore goes first alternates too.
        if (round % 2 == 0) restore(o, s, lcore, imb, pool), takeover(o, s, lcore, imb, pool), install(s, lcore);
        else install(s, lcore), takeover(o, s, lcore, imb, pool), restore(o, s, lcore, imb, pool);
        auto last = [&](const char* f) { return s.fig[f].back(); };
        s.note("takeover_ratio", last("takeover_ms") / last("restore_ms"));
        s.note("ratio", last("restore_sas_per_s") / last("install_sas_per_s"));
        // The same by CPU time, less moved by other load on the machine: the restore's
        // control thread and the writer beside it, against the install's control thread
        // (which spins on the acknowledgements as the worker applies the records).
        s.note("ratio_cpu", last("install_cpu_ms") / (last("restore_cpu_ms") + last("restore_others_cpu_ms")));
        std::printf(
            "  round %d: restore %.0f ms (%s SAs/s; attach_state's own figure %.0f ms); first packet verified %.0f "
            "ms after the restore's start\n"
            "           the control thread in the restore: %.0f ms on CPU, %.0f ms waiting for it (other tasks had "
            "it), "
            "%.0f ms blocked (fsync, locks), %s page faults; the other threads (the state writer: the worker has "
            "not started) %.0f ms on CPU\n"
            "           RSS +%.1f MiB when it ends (peak +%.1f with the writer's rewrite; +%.1f once that is done and "
            "freed memory is returned)\n"
            "           before it: Dataplane + ControlPlane created in %.0f ms; after it: the writer rewrote %s "
            "records, done %.0f ms after the restore\n"
            "           install %.0f ms (%s SAs/s; the control thread %.0f ms on CPU, %.0f ms waiting for it); restore "
            "/ "
            "install %.2f (by CPU time %.2f)\n",
            round + 1, last("restore_ms"), count(uint64_t(last("restore_sas_per_s"))).c_str(), last("attach_took_ms"),
            last("first_verified_ms"), last("restore_cpu_ms"), last("restore_runq_ms"), last("restore_blocked_ms"),
            count(uint64_t(last("restore_faults"))).c_str(), last("restore_others_cpu_ms"), last("rss_mib"),
            last("peak_mib"), last("kept_mib"), last("create_ms"), count(uint64_t(last("writer_pending"))).c_str(),
            last("writer_done_ms"), last("install_ms"), count(uint64_t(last("install_sas_per_s"))).c_str(),
            last("install_cpu_ms"), last("install_runq_ms"), last("ratio"), last("ratio_cpu"));
        std::printf(
            "           standby: warm-up (the store read, every SA preloaded, workers started) %.0f ms; takeover "
            "%.0f ms (%s SAs/s: attach_state with the resumes %.0f ms, release_unclaimed + settle %.0f ms; the "
            "control thread %.0f ms on CPU); first packet verified %.0f ms after the takeover began; takeover / "
            "restore %.3f; the writer done %.0f ms after it\n",
            last("standby_warmup_ms"), last("takeover_ms"), count(uint64_t(last("takeover_sas_per_s"))).c_str(),
            last("takeover_attach_ms"), last("takeover_settle_ms"), last("takeover_cpu_ms"),
            last("takeover_first_verified_ms"), last("takeover_ratio"), last("takeover_writer_done_ms"));
        if (last("takeover_settle_ms") > 5000)
            std::printf("           note: pcscf-espd's take_over would have failed here: its settle waits 5 s\n");
        std::fflush(stdout);
    }
}

// ---- results ------------------------------------------------------------------------

std::string med(const Size& s, const char* f, const char* fmt, double scale = 1) {
    char b[64];
    std::snprintf(b, sizeof b, fmt, s.of(f).median * scale);
    return b;
}

void print_summary(const Options& o, const std::vector<Size>& sizes, double eal_ms) {
    std::printf(
        "\nMedian of %d round(s); restore / install: median [min-max] of the ratios taken round by round; first "
        "verified: from the restore's start; RSS: growth at the restore's end (peak with the writer's rewrite; kept "
        "once freed memory is returned)\n\n"
        "| SAs | restore ms | restored SAs/s | first verified ms | RSS + MiB (peak; kept) | store MiB | installed "
        "SAs/s | restore / install | the same by CPU time |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        o.rounds);
    for (const Size& s : sizes) {
        const Spread r = s.of("ratio"), c = s.of("ratio_cpu");
        std::printf("| %s | %s | %s | %s | %s (%s; %s) | %.1f | %s | %.2f [%.2f-%.2f] | %.2f [%.2f-%.2f] |\n",
                    count(s.sas).c_str(), med(s, "restore_ms", "%.0f").c_str(),
                    count(uint64_t(s.of("restore_sas_per_s").median)).c_str(),
                    med(s, "first_verified_ms", "%.0f").c_str(), med(s, "rss_mib", "%.1f").c_str(),
                    med(s, "peak_mib", "%.1f").c_str(), med(s, "kept_mib", "%.1f").c_str(), mib(double(s.filled.disk)),
                    count(uint64_t(s.of("install_sas_per_s").median)).c_str(), r.median, r.min, r.max, c.median, c.min,
                    c.max);
    }
    std::printf(
        "\nWhere a restore's time goes (medians; the store's open + load and the decoding measured apart, once; the "
        "control thread on its CPU, waiting for it, blocked; the state writer's CPU time, on the same CPU)\n\n"
        "| SAs | open + load ms | decode ms | rest ms | control CPU ms | waiting ms | blocked ms | writer CPU ms "
        "| page faults | writer done after ms | Dataplane create ms | store MiB after the restores |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const Size& s : sizes)
        std::printf("| %s | %.0f | %.0f | %.0f | %s | %s | %s | %s | %s | %s | %s | %.1f |\n", count(s.sas).c_str(),
                    s.read_ms, s.decode_ms, s.of("restore_ms").median - s.read_ms - s.decode_ms,
                    med(s, "restore_cpu_ms", "%.0f").c_str(), med(s, "restore_runq_ms", "%.0f").c_str(),
                    med(s, "restore_blocked_ms", "%.0f").c_str(), med(s, "restore_others_cpu_ms", "%.0f").c_str(),
                    count(uint64_t(s.of("restore_faults").median)).c_str(), med(s, "writer_done_ms", "%.0f").c_str(),
                    med(s, "create_ms", "%.0f").c_str(), mib(double(s.after.disk)));
    std::printf(
        "\nA warm standby's takeover of the same store (Daemon::take_over without the Redis claim and the feed's "
        "catch-up; the standby's warm-up before it, not included), medians; takeover / restore: median [min-max] of "
        "the ratios taken round by round; first verified: from the takeover's start\n\n"
        "| SAs | standby warm-up ms | takeover ms | attach_state ms | settle ms | taken over SAs/s | first verified "
        "ms | restore ms | takeover / restore |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const Size& s : sizes) {
        const Spread t = s.of("takeover_ratio");
        std::printf("| %s | %s | %s | %s | %s | %s | %s | %s | %.3f [%.3f-%.3f] |\n", count(s.sas).c_str(),
                    med(s, "standby_warmup_ms", "%.0f").c_str(), med(s, "takeover_ms", "%.0f").c_str(),
                    med(s, "takeover_attach_ms", "%.0f").c_str(), med(s, "takeover_settle_ms", "%.0f").c_str(),
                    count(uint64_t(s.of("takeover_sas_per_s").median)).c_str(),
                    med(s, "takeover_first_verified_ms", "%.0f").c_str(), med(s, "restore_ms", "%.0f").c_str(),
                    t.median, t.min, t.max);
    }

    std::printf("\n");
    const auto it = std::find_if(sizes.begin(), sizes.end(), [](const Size& s) { return s.sas == kTarget; });
    if (it == sizes.end()) {
        std::printf(
            "target: %s SAs back in service within 2 s of the start: not measured (add %s to --sizes)\n"
            "target: a standby serving within 1 s of the address moving, %s SAs: not measured\n",
            count(kTarget).c_str(), count(kTarget).c_str(), count(kTarget).c_str());
    } else {
        const double create = it->of("create_ms").median, first = it->of("first_verified_ms").median;
        const double total = eal_ms + create + first;
        // On a machine of its own the restore would take at least the CPU time it used on
        // the control thread's CPU (its own, and the writer's beside it).
        const double cpu = it->of("restore_cpu_ms").median + it->of("restore_others_cpu_ms").median;
        std::printf(
            "target: %s SAs (%s UEs) back in service within 2 s of the start: EAL start %.0f ms + Dataplane and "
            "ControlPlane created %.0f ms + restore to the first verified packet %.0f ms = %.0f ms: %s 2 s by %.0f "
            "ms (process exec, options, the tap's addresses and telemetry not included)\n"
            "        with the restore at the CPU time it used on the control thread's CPU (%.0f ms: its own %.0f, the "
            "writer's %.0f), as on an idle machine: %.0f ms\n",
            count(kTarget).c_str(), count(kTarget / 4).c_str(), eal_ms, create, first, total,
            total <= kTargetMs ? "within" : "over", std::abs(kTargetMs - total), cpu, it->of("restore_cpu_ms").median,
            it->of("restore_others_cpu_ms").median, eal_ms + create + cpu + (first - it->of("restore_ms").median));
        // The pair's target, as a figure: from keepalived's notify (the address moved) the
        // claim and the feed's catch-up come first, not measured here.
        std::printf(
            "target: a standby serving within 1 s of the address moving: %s SAs (%s UEs) taken over in %.0f ms, "
            "the first packet verified %.0f ms after the takeover began (the Redis claim and the feed's catch-up "
            "not included); a restart from the store: %.0f ms\n",
            count(kTarget).c_str(), count(kTarget / 4).c_str(), it->of("takeover_ms").median,
            it->of("takeover_first_verified_ms").median, it->of("restore_ms").median);
    }
    // One line per SA count for scripts: medians, the ratio's spread.
    for (const Size& s : sizes) {
        const Spread r = s.of("ratio"), t = s.of("takeover_ratio");
        std::printf(
            "state_restore sas=%u rounds=%d restore_ms=%.1f restore_sas_per_s=%.0f first_verified_ms=%.1f "
            "create_ms=%.1f rss_mib=%.1f peak_mib=%.1f kept_mib=%.1f store_mib=%.1f store_after_mib=%.1f "
            "writer_done_ms=%.0f install_sas_per_s=%.0f ratio=%.3f ratio_min=%.3f ratio_max=%.3f ratio_cpu=%.3f "
            "restore_cpu_ms=%.0f restore_waiting_ms=%.0f restore_blocked_ms=%.0f writer_cpu_ms=%.0f eal_ms=%.0f "
            "standby_warmup_ms=%.1f takeover_ms=%.1f takeover_attach_ms=%.1f takeover_settle_ms=%.1f "
            "takeover_sas_per_s=%.0f takeover_first_verified_ms=%.1f takeover_ratio=%.3f takeover_ratio_min=%.3f "
            "takeover_ratio_max=%.3f\n",
            s.sas, o.rounds, s.of("restore_ms").median, s.of("restore_sas_per_s").median,
            s.of("first_verified_ms").median, s.of("create_ms").median, s.of("rss_mib").median, s.of("peak_mib").median,
            s.of("kept_mib").median, mib(double(s.filled.disk)), mib(double(s.after.disk)),
            s.of("writer_done_ms").median, s.of("install_sas_per_s").median, r.median, r.min, r.max,
            s.of("ratio_cpu").median, s.of("restore_cpu_ms").median, s.of("restore_runq_ms").median,
            s.of("restore_blocked_ms").median, s.of("restore_others_cpu_ms").median, eal_ms,
            s.of("standby_warmup_ms").median, s.of("takeover_ms").median, s.of("takeover_attach_ms").median,
            s.of("takeover_settle_ms").median, s.of("takeover_sas_per_s").median,
            s.of("takeover_first_verified_ms").median, t.median, t.min, t.max);
    }
}

// One row per figure, SA count and round, as sa_scale_benchmark's: restore_sas_per_s has
// the same round's install_sas_per_s as its baseline, takeover_sas_per_s the same round's
// restore_sas_per_s; the others none (0).
void write_csv(const std::string& path, const std::vector<Size>& sizes) {
    std::ofstream f(path);
    f << "sas,figure,round,value,baseline,ratio\n";
    for (const Size& s : sizes)
        for (const auto& [name, v] : s.fig)
            for (size_t i = 0; i < v.size(); ++i) {
                const double base = name == "restore_sas_per_s"    ? s.fig.at("install_sas_per_s")[i]
                                    : name == "takeover_sas_per_s" ? s.fig.at("restore_sas_per_s")[i]
                                                                   : 0;
                f << s.sas << ',' << name << ',' << i << ',' << v[i] << ',' << base << ','
                  << (base > 0 ? v[i] / base : 0) << '\n';
            }
    if (!f) fail("cannot write " + path);
}

// ---- options and main -----------------------------------------------------------------

// "400k", "1M", "400000": a count of SAs, whole UEs of 4.
uint32_t size_arg(std::string_view option, std::string_view text) {
    uint64_t scale = 1;
    std::string_view digits = text;
    if (!digits.empty() && (digits.back() == 'k' || digits.back() == 'K')) scale = 1000, digits.remove_suffix(1);
    else if (!digits.empty() && (digits.back() == 'M' || digits.back() == 'm'))
        scale = 1'000'000, digits.remove_suffix(1);
    const uint64_t v = number_arg<uint32_t>(option, digits) * scale;
    if (v < 4 || v > kMaxSas || v % 4 != 0) {
        std::fprintf(stderr, "--sizes takes SA counts from 4 to %s in multiples of 4 (a UE has 4), not '%.*s'\n",
                     count(kMaxSas).c_str(), int(text.size()), text.data());
        std::exit(2);
    }
    return uint32_t(v);
}

Options parse(int argc, char** argv) {
    Options o;
    bool sizes = false, rounds = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick") o.quick = true;
        else if (a == "--no-huge") o.no_huge = true;
        else if (a == "--cold") o.cold = true;
        else if (const char* v = option_value(a, "--sizes=")) {
            sizes = true;
            o.sizes = list_arg(v, [&](std::string_view item) { return size_arg(a, item); });
        } else if (const char* v = option_value(a, "--rounds=")) {
            rounds = true;
            o.rounds = std::max(1, number_arg<int>(a, v));
        } else if (const char* v = option_value(a, "--seq-checkpoint=")) {
            o.checkpoint = number_arg<uint32_t>(a, v);
            if (o.checkpoint == 0 || o.checkpoint > 65536 || (o.checkpoint & (o.checkpoint - 1)) != 0) {
                std::fprintf(stderr, "--seq-checkpoint takes a power of 2, 1..65536 (as pcscf-espd), not '%s'\n", v);
                std::exit(2);
            }
        } else if (const char* v = option_value(a, "--dir=")) {
            o.dir = v;
            if (o.dir.empty() || !fs::is_directory(o.dir)) {
                std::fprintf(stderr, "--dir takes an existing directory, not '%s'\n", v);
                std::exit(2);
            }
        } else if (const char* v = option_value(a, "--csv=")) o.csv = v;
        else {
            std::fprintf(stderr, "unknown option %s (see the top of bench/state_restore_benchmark.cpp)\n", argv[i]);
            std::exit(2);
        }
    }
    if (o.quick) {  // a few minutes on a shared machine: two sizes, one round
        if (!sizes) o.sizes = {10'000, 100'000};
        if (!rounds) o.rounds = 1;
    }
    std::sort(o.sizes.begin(), o.sizes.end());
    o.sizes.erase(std::unique(o.sizes.begin(), o.sizes.end()), o.sizes.end());
    return o;
}

std::string g_root;  // the temporary directory of the stores, removed at exit

// A new network namespace's loopback is down (no 127.0.0.1 to bind to) until set up.
void loopback_up() {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (fd < 0 || ::ioctl(fd, SIOCGIFFLAGS, &ifr) != 0 ||
        (ifr.ifr_flags |= IFF_UP, ::ioctl(fd, SIOCSIFFLAGS, &ifr)) != 0)
        fail(std::string("cannot set the namespace's loopback up: ") + std::strerror(errno));
    ::close(fd);
}

int run(const char* prog, const Options& o) {
    const RunTimer timer;
    // The Dataplane's net_tap interfaces go into a namespace of this process's own, where
    // they meet nothing else on the machine.
    const bool own_netns = ::unshare(CLONE_NEWNET) == 0;
    if (own_netns) loopback_up();  // the SIP proxies' sockets
    bool huge = false;
    const auto eal0 = Clock::now();
    const unsigned worker_lcore = start_eal_two_lcores(prog, o.no_huge, &huge);
    if (worker_lcore >= RTE_MAX_LCORE) return 2;
    const double eal_ms = ms(Clock::now() - eal0);
    // net_tap says at every creation, at error level, what it does without: the multiq
    // qdisc (no kernel module), flow rules, a secondary process. Nothing measured here.
    rte_log_set_level_pattern("pmd.net.tap*", RTE_LOG_EMERG);

    g_root = (fs::path(o.dir.empty() ? fs::temp_directory_path() : fs::path(o.dir)) /
              ("pcscf_state_restore_" + std::to_string(::getpid())))
                 .string();
    std::error_code ec;
    fs::create_directories(g_root, ec);
    if (ec) fail("cannot create " + g_root + ": " + ec.message());
    fs::permissions(g_root, fs::perms::owner_all, ec);  // the stores hold SA keys
    std::atexit([] {
        std::error_code e;
        fs::remove_all(g_root, e);
    });

    auto imb = esp::ImbManager::create();
    if (!imb) fail("IPsec-MB: " + imb.error());
    rte_mempool* pool = rte_pktmbuf_pool_create("sr_inject", 63, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, int(rte_socket_id()));
    if (pool == nullptr) fail(std::string("mbuf pool: ") + rte_strerror(rte_errno));

    std::string list;
    for (uint32_t n : o.sizes) list += (list.empty() ? "" : ", ") + count(n);
    std::printf(
        "state_restore_benchmark: pcscf-espd's restart from its LMDB store against installing the same SAs, and a "
        "warm standby's takeover of the same store\n"
        "worker on lcore %u; control thread (and the state writer's thread, which inherits its CPUs) on CPU %s; "
        "EAL started in %.0f ms; DPDK's memory: %s; %s\n"
        "SAs: %s; %d round(s), alternating which goes first; --seq-checkpoint=%u; stores in %s (%s page cache)%s\n",
        worker_lcore, cpus_of_self().c_str(), eal_ms, huge ? "2 MiB hugepages" : "anonymous 4 KiB pages (--no-huge)",
        ctl::malloc_pages_summary().c_str(), list.c_str(), o.rounds, o.checkpoint, g_root.c_str(),
        o.cold ? "cold: the store's file dropped from the" : "warm",
        own_netns ? "" : "\nnote: no network namespace of its own (unshare failed): the taps are the host's");
    std::fflush(stdout);

    std::vector<Size> sizes;
    for (uint32_t n : o.sizes) {
        Size& s = sizes.emplace_back();
        s.sas = n;
        s.dir = g_root + "/" + std::to_string(n);
        measure(o, s, worker_lcore, imb->get(), pool);
        s.ues = {};
        fs::remove_all(s.dir, ec);
    }
    print_summary(o, sizes, eal_ms);
    if (!o.csv.empty()) write_csv(o.csv, sizes);
    rte_mempool_free(pool);
    timer.print_total();
    return 0;
}

}  // namespace
}  // namespace pcscf::bench

int main(int argc, char** argv) {
    const auto options = pcscf::bench::parse(argc, argv);
    pcscf::ctl::exec_with_huge_malloc_pages(argv);  // as pcscf-espd runs
    return pcscf::bench::run(argv[0], options);
}
