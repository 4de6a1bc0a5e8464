#include "bench/terminator_rig.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "bench/sip_load.hpp"
#include "control/secagree/sa_set.hpp"
#include "control/state/redis_client.hpp"

namespace pcscf::bench {

using Clock = std::chrono::steady_clock;

std::expected<std::unique_ptr<Terminator>, std::string> Terminator::create(const TerminatorConfig& cfg,
                                                                           unsigned worker_lcore) {
    std::unique_ptr<Terminator> t(new Terminator(cfg));
    auto rig = PipelineRig::create(64);
    if (!rig) return std::unexpected(rig.error());
    t->rig_ = std::move(*rig);
    // pcscf-espd's engine defaults (65,536 inbound SPIs and outbound SAs per worker), or
    // more where the UEs registered at once need them (2 SAs each way, and room to spare).
    esp::EngineConfig engine;
    engine.spi.workers = 1;
    engine.spi.slots_per_worker = std::max<uint32_t>(1 << 16, 2 * cfg.max_ues + (1 << 14));
    engine.outbound_capacity = engine.spi.slots_per_worker;
    uint16_t lo = cfg.port_ps, hi = cfg.port_ps;
    for (uint16_t p : cfg.port_pc) {
        lo = std::min(lo, p);
        hi = std::max(hi, p);
    }
    auto worker = t->rig_->make_worker(engine, cfg.access, {lo, hi});
    if (!worker) return std::unexpected(worker.error());
    t->worker_ = std::move(*worker);
    t->lcore_ = std::make_unique<WorkerLcore>(worker_lcore);
    t->lcore_->start(*t->worker_, false);

    t->layout_ = engine.spi;
    t->sip_.registrar.port_ps = cfg.port_ps;
    t->sip_.registrar.port_pc = cfg.port_pc;
    t->sip_.proxy.access = {cfg.access};
    t->sip_.proxy.sip_port = cfg.sip_port;
    t->sip_.proxy.core = cfg.core;
    t->sip_.proxy.core_local = cfg.core_local;
    auto plane = t->make_plane();
    if (!plane) return std::unexpected(plane.error());
    t->plane_ = std::move(*plane);
    return t;
}

// pcscf-espd's own wiring, at its default --log-level info: no trace of each message.
std::expected<std::unique_ptr<ctl::ControlPlane>, std::string> Terminator::make_plane() {
    auto plane =
        ctl::ControlPlane::create(rig_->rings().control(), layout_, sip_, {},
                                  [this](const ctl::SaInfo& sa, const esp::SaEvent& e) { on_sa_event(sa, e); });
    if (!plane) return std::unexpected(plane.error().message);
    return std::move(*plane);
}

namespace {
std::set<pid_t> threads_of_self() {
    std::set<pid_t> tids;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/task", ec)) {
        pid_t tid = 0;
        const std::string name = e.path().filename().string();
        std::from_chars(name.data(), name.data() + name.size(), tid);
        if (tid > 0) tids.insert(tid);
    }
    return tids;
}
}  // namespace

std::expected<void, std::string> Terminator::replace_plane(std::unique_ptr<ctl::state::StateBackend> store,
                                                           uint32_t checkpoint_interval) {
    if (plane_->sas().size() != 0 || plane_->registrar()->ues() != 0)
        return std::unexpected("the control plane is replaced only once it holds no SA and no UE");
    plane_->sas().pump();
    plane_.reset();  // its sockets closed; its state writer's last changes written, its store closed
    writer_tid_ = 0;
    sent_.clear();
    next_id_ = 1;  // a new SaManager hands its ids out from 1 again
    auto plane = make_plane();
    if (!plane) return std::unexpected(plane.error());
    plane_ = std::move(*plane);
    if (!store) return {};
    const std::string where = store->describe();
    const auto before = threads_of_self();
    // The store is new: nothing to restore, so nothing for `install` (which would put an SA
    // straight into a worker that already runs) to do.
    auto restored = plane_->attach_state(
        std::move(store), checkpoint_interval, false, [](uint32_t, const esp::SaRecord&, int32_t&) { return -EBUSY; },
        [this](const std::string& line) {
            std::lock_guard lock(warn_mu_);
            state_warnings_.push_back(line);
        });
    if (!restored) return std::unexpected(restored.error().message);
    if (restored->sas > 0 || restored->registrations > 0 || restored->dropped > 0)
        return std::unexpected(where + " was not empty");
    for (pid_t tid : threads_of_self())
        if (!before.contains(tid)) writer_tid_ = tid;
    return {};
}

bool Terminator::flush_state(std::chrono::milliseconds timeout) {
    return plane_->close_state([](const ctl::SaInfo&) { return std::optional<uint32_t>(); }, timeout);
}

std::vector<std::string> Terminator::take_state_warnings() {
    std::lock_guard lock(warn_mu_);
    return std::exchange(state_warnings_, {});
}

Terminator::~Terminator() {
    if (lcore_) lcore_->stop();
    plane_.reset();
    worker_.reset();
    rig_.reset();
}

void Terminator::on_sa_event(const ctl::SaInfo& sa, const esp::SaEvent& e) {
    if (e.kind == esp::EventKind::applied) {
        if (e.result != 0) ++refused_;
        else if (e.op == esp::SaOp::add) ++adds_acked_;
        else if (e.op == esp::SaOp::remove) ++removes_acked_;
        if (e.op == esp::SaOp::add) {
            if (auto it = sent_.find(sa.id); it != sent_.end()) {
                if (install_us_ != nullptr && e.result == 0)
                    install_us_->push_back(
                        float(std::chrono::duration<double, std::micro>(Clock::now() - it->second).count()));
                sent_.erase(it);
            }
        }
    }
}

// The SAs the last poll added: SaIds are consecutive, and an SA stays in the registry at
// least until the next pump reads its acknowledgement.
void Terminator::note_new_sas(Clock::time_point round) {
    while (plane_->sas().find(next_id_)) sent_.emplace(next_id_++, round);
}

ServeResult Terminator::serve(const std::function<int()>& phase, const std::function<bool()>& done) {
    ServeResult r;
    int seen = 0;
    double cpu0 = 0;
    uint64_t adds0 = 0, removes0 = 0, refused0 = 0, iterations = 0, iterations0 = 0;
    auto close = [&] {
        r.cpu_s = thread_cpu_seconds() - cpu0;
        r.adds_acked = adds_acked_ - adds0;
        r.removes_acked = removes_acked_ - removes0;
        r.refused_by_worker = refused_ - refused0;
        r.iterations = iterations - iterations0;
        install_us_ = nullptr;
        seen = 2;
    };
    while (!done()) {
        // The window: 0 -> 1 opens it, 1 -> 2 closes it (a 2 left from the last pass is not
        // a close: the load resets it to 0 when it starts).
        if (const int ph = phase(); seen == 0 && ph == 1) {
            cpu0 = thread_cpu_seconds();
            adds0 = adds_acked_;
            removes0 = removes_acked_;
            refused0 = refused_;
            iterations0 = iterations;
            install_us_ = &r.install_us;
            seen = 1;
        } else if (seen == 1 && ph == 2) {
            close();
        }
        if (seen == 1) r.max_queued = std::max(r.max_queued, rig_->rings().control().pending(0));
        // From here to the end of the round: Daemon::control_loop.
        const auto now = Clock::now();
        if (plane_->round(now).sip > 0) note_new_sas(now);
        ++iterations;
    }
    // The load may finish between two rounds right after closing its window.
    if (seen == 1 && phase() == 2) close();
    plane_->sas().pump();
    install_us_ = nullptr;
    return r;
}

bool Terminator::settle(std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    auto empty = [&] { return plane_->sas().size() == 0 && plane_->registrar()->ues() == 0; };
    serve([] { return 0; }, [&] { return empty() || Clock::now() > deadline; });
    return empty();
}

void Terminator::deregister(const std::vector<std::pair<std::string, net::IpAddr>>& ues) {
    // Paced by the command ring: a removal SaManager refuses as "busy" is dropped by
    // remove_sa_set, and the SA would stay installed with no UE owning it. Reading the
    // events meanwhile keeps the worker from waiting on a full event ring.
    constexpr uint32_t kRoom = 16;  // records one UE's removal takes, and some
    const uint32_t limit = dp::RingSizes{}.commands - kRoom;
    for (const auto& [impi, addr] : ues) {
        while (rig_->rings().control().pending(0) > limit) plane_->sas().pump();
        plane_->registrar()->deregistered(impi, addr, Clock::now());
    }
}

RawSaResult Terminator::raw_sa_rate(uint32_t sets, uint32_t live) {
    RawSaResult r;
    const uint64_t acked0 = adds_acked_ + removes_acked_, refused0 = refused_;
    auto acked = [&] { return adds_acked_ + removes_acked_ + refused_ - acked0 - refused0; };
    uint64_t sent = 0;
    ctl::SaId last = 0;
    std::deque<secagree::SaSet> installed;
    auto remove_oldest = [&] {
        secagree::remove_sa_set(plane_->sas(), installed.front());
        installed.pop_front();
        sent += 4;
    };
    const auto t0 = Clock::now();
    for (uint32_t i = 0; i < sets; ++i) {
        // Within the command ring's room (16,384 records): never "try again".
        while (sent - acked() > 8192) plane_->sas().pump();
        const uint32_t a = htonl(0x0a000000u | (i & 0xffffffu));  // a UE per set: 10.x.y.z
        sip::Ipsec3gpp ue_side;
        ue_side.alg = sip::IntegrityAlg::hmac_sha_1_96;
        ue_side.spi_c = 1000 + 2 * i;
        ue_side.spi_s = ue_side.spi_c + 1;
        ue_side.port_c = 20000;
        ue_side.port_s = 20001;
        std::array<uint8_t, 16> ik{};
        std::memcpy(ik.data(), &i, sizeof i);
        auto set = secagree::install_sa_set(plane_->sas(), esp::Alg::hmac_sha1_96, net::IpAddr::v4(&a), cfg_.access,
                                            ue_side, cfg_.port_pc.front(), cfg_.port_ps, ik, "raw");
        if (!set) throw std::runtime_error("raw SA installs: " + set.error().message);
        last = std::max(last, *std::max_element(set->ids.begin(), set->ids.end()));
        installed.push_back(*set);
        sent += 4;
        if (installed.size() > live) remove_oldest();
        plane_->sas().pump();  // the control loop reads the events between requests
    }
    while (!installed.empty()) remove_oldest();
    while (acked() < sent) plane_->sas().pump();
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    r.records = acked();
    r.refused = refused_ - refused0;
    next_id_ = std::max(next_id_, last + 1);
    return r;
}

// ---- CPU time of other threads and processes ---------------------------------------------

namespace {
// The first field of a schedstat file: nanoseconds spent on a CPU.
double schedstat_seconds(const std::string& path) {
    std::ifstream f(path);
    uint64_t ns = 0;
    f >> ns;
    return double(ns) * 1e-9;
}
}  // namespace

double cpu_seconds_of_thread(pid_t tid) {
    return tid > 0 ? schedstat_seconds("/proc/self/task/" + std::to_string(tid) + "/schedstat") : 0;
}

double cpu_seconds_of_process(pid_t pid) {
    return pid > 0 ? schedstat_seconds("/proc/" + std::to_string(pid) + "/schedstat") : 0;
}

// ---- StandbyWatch ------------------------------------------------------------------------

// The standby's workers: every record acknowledged as applied at once.
class StandbyWatch::InstantChannel final : public esp::SaChannel {
public:
    explicit InstantChannel(uint32_t workers) : workers_(workers) {}
    uint32_t workers() const noexcept override { return workers_; }
    bool send(uint32_t worker, const esp::SaRecord& rec) noexcept override {
        esp::SaEvent e;
        e.kind = esp::EventKind::applied;
        e.dir = rec.sa.dir;
        e.op = rec.op;
        e.worker = worker;
        e.spi = rec.sa.spi;
        e.request_id = rec.request_id;
        e.handle = next_handle_++;
        e.cookie = rec.sa.cookie;
        events_.push_back(e);
        return true;
    }
    bool send_all(uint32_t worker, std::span<const esp::SaRecord> recs) noexcept override {
        for (const esp::SaRecord& r : recs) send(worker, r);
        return true;
    }
    uint32_t receive_events(std::span<esp::SaEvent> out) noexcept override {
        uint32_t n = 0;
        for (; n < out.size() && !events_.empty(); ++n) {
            out[n] = events_.front();
            events_.pop_front();
        }
        return n;
    }
    uint32_t pending(uint32_t) const noexcept override { return 0; }

private:
    uint32_t workers_;
    int32_t next_handle_ = 0;
    std::deque<esp::SaEvent> events_;
};

namespace {
// A feed id, "<millis>-<seq>", as a pair that compares as Redis compares them.
std::pair<uint64_t, uint64_t> feed_id(std::string_view id) {
    std::pair<uint64_t, uint64_t> out{0, 0};
    const auto dash = id.find('-');
    const auto ms = id.substr(0, dash);
    std::from_chars(ms.data(), ms.data() + ms.size(), out.first);
    if (dash != std::string_view::npos) {
        const auto seq = id.substr(dash + 1);
        std::from_chars(seq.data(), seq.data() + seq.size(), out.second);
    }
    return out;
}
}  // namespace

std::expected<std::unique_ptr<StandbyWatch>, std::string> StandbyWatch::start(const ctl::state::RedisUrl& url,
                                                                              const esp::SpiLayout& layout,
                                                                              const cpu_set_t& cpus) {
    std::unique_ptr<StandbyWatch> w(new StandbyWatch());
    w->channel_ = std::make_unique<InstantChannel>(layout.workers);
    StandbyWatch* self = w.get();
    auto f = ctl::standby::Follower::open(url, *w->channel_, layout, [self](const std::string& line) {
        std::lock_guard lock(self->mu_);
        self->warnings_.push_back(line);
    });
    if (!f) return std::unexpected(f.error().message);
    w->follower_ = std::move(*f);
    auto started = w->follower_->start([](uint32_t, const esp::SaRecord&, int32_t& handle) {
        handle = 0;
        return 0;
    });
    if (!started) return std::unexpected(started.error().message);
    w->thread_ = std::thread([self] { self->run(); });
    ::pthread_setaffinity_np(w->thread_.native_handle(), sizeof cpus, &cpus);
    return w;
}

StandbyWatch::~StandbyWatch() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
}

void StandbyWatch::run() {
    uint64_t entries = 0;
    while (!stop_.load()) {
        follower_->follow(Clock::now());
        const auto st = follower_->status();
        const auto now = Clock::now();
        max_sas_.store(std::max(max_sas_.load(), st.warm.sas));
        {
            std::lock_guard lock(mu_);
            if (st.entries != entries) {
                lags_.push_back(float(st.lag_ms));
                entries = st.entries;
            }
            if (!target_.empty() && !reached_ && feed_id(st.position) >= feed_id(target_)) reached_ = now - since_;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));  // as pcscf-espd's standby loop
    }
}

std::vector<float> StandbyWatch::take_lags() {
    std::lock_guard lock(mu_);
    return std::exchange(lags_, {});
}

void StandbyWatch::aim(const std::string& position, Clock::time_point since) {
    std::lock_guard lock(mu_);
    target_ = position;
    since_ = since;
    reached_.reset();
}

std::optional<std::chrono::duration<double, std::milli>> StandbyWatch::reached() const {
    std::lock_guard lock(mu_);
    return reached_;
}

std::optional<std::chrono::duration<double, std::milli>> StandbyWatch::wait_for(const std::string& position,
                                                                                std::chrono::milliseconds limit) {
    const auto t0 = Clock::now();
    aim(position, t0);
    while (Clock::now() - t0 < limit) {
        if (auto r = reached()) return r;
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return reached();
}

std::vector<std::string> StandbyWatch::warnings() const {
    std::lock_guard lock(mu_);
    return warnings_;
}

}  // namespace pcscf::bench
