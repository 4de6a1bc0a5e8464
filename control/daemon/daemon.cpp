#include "control/daemon/daemon.hpp"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <optional>
#include <thread>

#include "control/daemon/log.hpp"
#include "control/daemon/malloc_pages.hpp"
#include "control/daemon/service_notify.hpp"
#include "control/daemon/startup_checks.hpp"
#include "control/daemon/tap_setup.hpp"
#include "control/daemon/telemetry.hpp"
#include "control/state/lmdb_store.hpp"
#include "control/state/redis_store.hpp"

namespace pcscf::ctl {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};

namespace {

void on_signal(int) { g_stop.store(true); }
void on_hangup(int) { g_reload.store(true); }

}  // namespace

int Daemon::main(const DaemonOptions& opts, int argc, const char* const* argv) {
    std::signal(SIGHUP, on_hangup);  // from the start: a reload before serving waits for the loop
    LogTarget target = LogTarget::stderr_stream;
    parse_log_target(opts.log_target, target);
    set_log_target(target);
    set_log_levels(opts.log_level);
    Daemon d(opts, argc, argv);
    return d.run(argv[0]);
}

int Daemon::run(const char* prog) {
    if (::sched_getaffinity(0, sizeof allowed_, &allowed_) != 0) CPU_ZERO(&allowed_);
    std::vector<std::string> args = eal_arguments(opts_, prog);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    std::string line;
    for (const auto& a : args) line += (line.empty() ? "" : " ") + a;
    log_info(version_text());
    log_info(malloc_pages_summary());
    if (const std::string other = running_instance(opts_.file_prefix); !other.empty()) {
        log_error("another pcscf-espd runs with --file-prefix " + opts_.file_prefix + " (its telemetry answers at " +
                  other + "): give each instance its own --file-prefix");
        return 1;
    }
    log_info("starting EAL: " + line);
    rte_openlog_stream(dpdk_log_stream());  // DPDK's lines through our log, at their levels
    if (!start_eal(argv)) {
        const int err = rte_errno;
        std::string why = "EAL failed to start";
        if (err == EINVAL)
            why += ": it refused its arguments (its lines above say which): check --lcores, --vdev and --eal-args";
        else if (err != 0) why += std::string(": ") + rte_strerror(err);
        else why += " (its lines above say why)";
        if (!opts_.no_huge && (err == ENOMEM || err == EACCES || err == 0))
            why += "; are hugepages reserved (/proc/sys/vm/nr_hugepages)? --no-huge runs without them";
        log_error(why);
        return 1;
    }
    if (!opts_.telemetry_group.empty())
        if (auto shared = share_telemetry(opts_.telemetry_group); !shared) {
            log_error(shared.error().message);
            rte_eal_cleanup();
            return 1;
        }
    if (opts_.sip) {
        // Bound with IP_FREEBIND, a socket on an address no interface has takes no
        // traffic and says nothing; in a pair keepalived adds it on the primary only.
        const auto& local = opts_.sip->proxy.core_local.addr;
        if (!has_local_address(local)) {
            if (!opts_.redis) {
                log_error("--core-local " + local.to_string() + ": no interface has this address");
                rte_eal_cleanup();
                return 1;
            }
            log_warn("--core-local " + local.to_string() +
                     ": no interface has this address yet (in a pair keepalived adds it on the primary)");
        }
    }
    dp::ServiceConfig cfg = opts_.service;
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) cfg.worker_lcores.push_back(lcore);
    if (cfg.workers == 0) cfg.workers = uint32_t(cfg.worker_lcores.size());
    cfg.engine.spi.workers = cfg.workers;
    int rc = 0;
    {
        auto dp = dp::Dataplane::create(cfg);
        if (!dp) {
            log_error(dp.error());
            rte_eal_cleanup();
            return 1;
        }
        dp_ = std::move(*dp);
        log_info("ESP steering: " + dp_->esp_steering());
        if (const dp::AccessVlan& v = dp_->access_vlan(); v.id != 0)
            log_info("access VLAN " + std::to_string(v.id) + " (strip: " + std::string(v.strip_by()) +
                     ", insert: " + std::string(v.insert_by()) + ")");
        if (opts_.tap_setup) {
            // In a pair the access addresses are keepalived's: they move with the primary.
            const std::vector<LocalAddress> none;
            if (auto r = configure_tap(cfg.tap_name, opts_.standby ? none : opts_.local, cfg.tap_mtu); !r) {
                log_error("configuring the tap: " + r.error().message);
                rc = 1;
            }
        }
        if (rc == 0) {
            auto plane = ControlPlane::create(dp_->rings().control(), cfg.engine.spi, opts_.sip, sip_trace(),
                                              [this](const SaInfo& sa, const esp::SaEvent& e) { on_sa_event(sa, e); });
            if (!plane) {
                log_error(plane.error().message);
                rc = 1;
            } else {
                plane_ = std::move(*plane);
                if (const std::string why = register_telemetry(*plane_, *dp_, role_, events_); !why.empty()) {
                    log_error(why);
                    rc = 1;
                }
                if (auto* reg = plane_->registrar())
                    reg->set_notice([this](const std::string& impi, const net::IpAddr& ue, std::string_view what) {
                        if (!events_.watched() && !log_enabled(LogLevel::debug, LogArea::registration)) return;
                        const std::string line = impi + " at " + ue.to_string() + ": " + std::string(what);
                        if (events_.watched()) events_.add("registration of " + line);
                        log_debug(line, LogArea::registration);
                    });
                if (auto* reg = plane_->registrar())
                    reg->set_info([](const std::string& line) { log_info(line, LogArea::registration); });
                if (opts_.metrics_listen) {
                    auto m = MetricsServer::start(*opts_.metrics_listen,
                                                  {dp_.get(), &plane_->sas(), &plane_->sip_status(), &role_});
                    if (!m) {
                        log_error(m.error().message);
                        rc = 1;
                    } else {
                        metrics_ = std::move(*m);
                        log_info("metrics: http://" + opts_.metrics_listen->to_string() + "/metrics");
                    }
                }
                if (opts_.sip)
                    log_info("sec-agree: core " + opts_.sip->proxy.core.to_string() + " from " +
                             opts_.sip->proxy.core_local.to_string() + ", port_ps " +
                             std::to_string(opts_.sip->registrar.port_ps));
            }
        }
        if (rc == 0 && opts_.has_store()) {
            if (auto ready = opts_.standby ? start_standby() : attach_state(); !ready) {
                log_error(ready.error().message);
                rc = 1;
            }
        }
        if (rc == 0) {
            std::signal(SIGINT, on_signal);
            std::signal(SIGTERM, on_signal);
            dp_->start();
            const std::string running = "access port " + cfg.access_port + " (" + dp_->access_mac() + "), tap " +
                                        cfg.tap_name + ", " + std::to_string(cfg.workers) +
                                        " worker(s), telemetry prefix " + opts_.file_prefix;
            log_info("running: " + running);
            // The workers run and the store's SAs are back (or followed): serving.
            notify_ready(std::string(name(role_.role.load())) + ": " + running);
            control_loop();
            notify_stopping();
            log_info("stopping");
            dp_->stop();
            close_state();
            rc = exit_code_;
        }
        metrics_.reset();  // it reads the workers and the control plane
        dp_.reset();       // before EAL goes
    }
    rte_eal_cleanup();
    return rc;
}

// Each SIP message at debug level only: at info the log says what an operator needs
// without costing the registration rate (no line is built).
proxy::SipProxy::Trace Daemon::sip_trace() {
    if (!log_enabled(LogLevel::debug, LogArea::sip)) return {};
    return [](std::string_view line) { log_debug(line, LogArea::sip); };
}

void Daemon::on_sa_event(const SaInfo& sa, const esp::SaEvent& e) {
    if (e.kind == esp::EventKind::seq_checkpoint) return;  // one every few packets: for the state store only
    // Installs, deletions and first uses come with every registration: debug level only,
    // and the event stream while someone watches it.
    // A NAT port is logged at info by the registrar, once per UE and change.
    const bool routine = (e.kind == esp::EventKind::applied && e.result == 0) || e.kind == esp::EventKind::first_use ||
                         e.kind == esp::EventKind::encap_port;
    const bool watched = events_.watched();
    if (routine && !watched && !log_enabled(LogLevel::debug, LogArea::sa)) return;
    const std::string who = "SA " + std::to_string(sa.id) + " (" + std::string(esp::name(sa.cfg.dir)) + " spi " +
                            std::to_string(sa.cfg.spi) + ", " + sa.label + ")";
    // One text for the event stream and the log; the log adds what to do about it.
    std::string what, advice;
    LogLevel level = LogLevel::debug;
    switch (e.kind) {
        case esp::EventKind::applied:
            if (e.result != 0) {
                what = "refused by worker " + std::to_string(e.worker) + ": " + describe_result(e.result);
                level = LogLevel::warn;
            } else {
                what = std::string(e.op == esp::SaOp::remove   ? "deleted"
                                   : e.op == esp::SaOp::update ? "updated"
                                                               : "installed") +
                       " on worker " + std::to_string(e.worker);
            }
            break;
        case esp::EventKind::first_use: what = "first packet verified"; break;
        case esp::EventKind::encap_port:
            what = "verified packet from NAT port " + std::to_string(e.encap_port) + " (TS 33.203 Annex M)";
            break;
        case esp::EventKind::seq_near_end:
            what = "sequence number " + std::to_string(e.seq) + " nearing 2^32";
            advice = "; replace the SA";
            level = LogLevel::warn;
            break;
        case esp::EventKind::seq_exhausted:
            what = "sequence numbers exhausted";
            advice = "; packets are dropped until it is replaced";
            level = LogLevel::error;
            break;
        case esp::EventKind::seq_checkpoint: break;
    }
    if (watched) events_.add(who + ": " + what);
    log(level, who + ": " + what + advice, LogArea::sa);
}

Expected<std::unique_ptr<state::StateBackend>> Daemon::open_store() {
    if (!opts_.redis) return state::LmdbBackend::open(opts_.state_dir);
    auto redis = state::RedisBackend::open(*opts_.redis);
    if (!redis) return std::unexpected(redis.error());
    auto epoch = (*redis)->claim();
    if (!epoch) return std::unexpected(in_context(epoch.error(), "claiming " + (*redis)->describe()));
    role_.epoch = *epoch;
    role_.role = Role::primary;
    log_info("this node is the store's writer now (epoch " + std::to_string(*epoch) + ")", LogArea::state);
    return std::unique_ptr<state::StateBackend>(std::move(*redis));
}

Expected<void> Daemon::attach_state() {
    auto store = open_store();
    if (!store) return std::unexpected(store.error());
    log_info("state store: " + (*store)->describe());
    const auto r = plane_->attach_state(
        std::move(*store), opts_.seq_checkpoint, opts_.state_reset,
        [this](uint32_t worker, const esp::SaRecord& rec, int32_t& handle) {
            return dp_->preload(worker, rec, handle);
        },
        [](const std::string& line) { log_warn(line, LogArea::state); });
    if (!r) return std::unexpected(r.error());
    place_state_thread();
    log_info("restored " + std::to_string(r->sas) + " SA(s) and " + std::to_string(r->registrations) +
             " registration(s) in " + std::to_string(r->took.count()) + " ms" +
             (r->dropped ? " (" + std::to_string(r->dropped) + " SA(s) not kept)" : ""));
    return {};
}

void Daemon::place_state_thread() {
    const auto thread = plane_->state_thread();
    if (!thread) return;
    cpu_set_t spare = allowed_;
    unsigned lcore;
    RTE_LCORE_FOREACH(lcore) {
        const rte_cpuset_t taken = rte_lcore_cpuset(lcore);
        for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
            if (CPU_ISSET(cpu, &taken)) CPU_CLR(cpu, &spare);
    }
    if (CPU_COUNT(&spare) == 0) return;  // every CPU is an lcore's: it shares the control thread's
    if (int rc = ::pthread_setaffinity_np(*thread, sizeof spare, &spare); rc != 0)
        log_warn(std::string("the writer thread stays on the control thread's CPU: ") + std::strerror(rc),
                 LogArea::state);
}

void Daemon::close_state() {
    if (exit_code_ == kExitStoodDown) return;  // another node is primary: the store is its own now
    // The workers have stopped: their tables give each SA's exact sequence number.
    const bool written = plane_->close_state(
        [this](const SaInfo& sa) {
            return sa.handle >= 0 && sa.worker < dp_->workers()
                       ? dp_->worker(sa.worker).engine().seq_at(sa.cfg.dir, sa.handle)
                       : std::nullopt;
        },
        std::chrono::seconds(10));
    if (!written) log_error("the store did not take everything before the stop", LogArea::state);
}

void Daemon::control_loop() {
    const bool sip = opts_.sip.has_value();
    auto next_check = std::chrono::steady_clock::now();
    uint64_t log_seen = log_generation();
    Watchdog watchdog;  // fed each round: a control thread stuck past WatchdogSec= is restarted
    while (!g_stop.load()) {
        watchdog.feed(std::chrono::steady_clock::now());
        if (g_reload.exchange(false)) reload();
        if (const uint64_t g = log_generation(); g != log_seen && plane_->proxy() != nullptr) {
            log_seen = g;  // pcscf-espctl log changed a level: the SIP trace follows
            plane_->proxy()->set_trace(sip_trace());
        }
        const auto now = std::chrono::steady_clock::now();
        if (now >= next_check) {  // a few times a second: requests from keepalived are rare
            if (!check_role()) break;
            next_check = now + std::chrono::milliseconds(20);
        }
        if (follower_) {
            follower_->follow(now);
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            continue;
        }
        const auto r = plane_->round(now);
        if (!sip && r.sa_events == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (!follower_) plane_->sas().pump();
}

}  // namespace pcscf::ctl
