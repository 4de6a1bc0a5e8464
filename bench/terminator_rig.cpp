#include "bench/terminator_rig.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <stdexcept>

#include "bench/sip_load.hpp"
#include "control/secagree/sa_set.hpp"

namespace pcscf::bench {

using Clock = std::chrono::steady_clock;

std::expected<std::unique_ptr<Terminator>, std::string> Terminator::create(const TerminatorConfig& cfg,
                                                                           unsigned worker_lcore) {
    std::unique_ptr<Terminator> t(new Terminator(cfg));
    auto rig = PipelineRig::create(64);
    if (!rig) return std::unexpected(rig.error());
    t->rig_ = std::move(*rig);
    // pcscf-espd's engine defaults: 65,536 inbound SPIs and outbound SAs per worker.
    esp::EngineConfig engine;
    engine.spi.workers = 1;
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

    // pcscf-espd's own wiring; it logs each line at info, the benchmark drops them (as
    // --log-level warn).
    ctl::SipConfig sip;
    sip.registrar.port_ps = cfg.port_ps;
    sip.registrar.port_pc = cfg.port_pc;
    sip.proxy.access = {cfg.access};
    sip.proxy.sip_port = cfg.sip_port;
    sip.proxy.core = cfg.core;
    sip.proxy.core_local = cfg.core_local;
    Terminator* self = t.get();
    auto plane = ctl::ControlPlane::create(
        t->rig_->rings().control(), engine.spi, sip, [](std::string_view) {},
        [self](const ctl::SaInfo& sa, const esp::SaEvent& e) { self->on_sa_event(sa, e); });
    if (!plane) return std::unexpected(plane.error().message);
    t->plane_ = std::move(*plane);
    return t;
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

}  // namespace pcscf::bench
