#include "control/daemon/daemon.hpp"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>

#include <fcntl.h>
#include <grp.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <thread>

#include "control/daemon/log.hpp"
#include "control/daemon/malloc_pages.hpp"
#include "control/daemon/service_notify.hpp"
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

// EAL prints a page of usage text on stdout when it refuses its arguments; its own lines
// on stderr say which, and ours says what to check.
bool start_eal(std::vector<char*>& argv) {
    std::fflush(stdout);
    const int saved = ::dup(STDOUT_FILENO);
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved >= 0 && null >= 0) ::dup2(null, STDOUT_FILENO);
    const int rc = rte_eal_init(int(argv.size()), argv.data());
    const int err = rte_errno;
    std::fflush(stdout);
    if (saved >= 0) {
        ::dup2(saved, STDOUT_FILENO);
        ::close(saved);
    }
    if (null >= 0) ::close(null);
    rte_errno = err;
    return rc >= 0;
}

// Where EAL keeps its runtime files, as it chooses (eal_create_runtime_dir): under
// /var/run for root, else under $XDG_RUNTIME_DIR or /tmp.
std::string dpdk_runtime_dir(const std::string& prefix) {
    const char* xdg = ::getenv("XDG_RUNTIME_DIR");
    const std::string base = ::getuid() == 0 ? "/var/run" : (xdg != nullptr && *xdg ? xdg : "/tmp");
    return base + "/dpdk/" + prefix;
}

// The telemetry socket of a pcscf-espd already running with this prefix, or "".
std::string running_instance(const std::string& prefix) {
    const std::string path = dpdk_runtime_dir(prefix) + "/dpdk_telemetry.v2";
    sockaddr_un sun{};
    if (path.size() >= sizeof sun.sun_path) return "";
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) return "";
    const bool answers = ::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0;
    ::close(fd);
    return answers ? path : "";
}

// --telemetry-group: EAL makes its runtime directories 0700; the group may read them and
// use the telemetry socket (pcscf-espctl) too.
Expected<void> share_telemetry(const std::string& group) {
    const ::group* g = ::getgrnam(group.c_str());
    if (g == nullptr) return fail(Errc::invalid, "--telemetry-group: no group " + group);
    const std::string dir = rte_eal_get_runtime_dir();
    const std::string parent = dir.substr(0, dir.rfind('/'));
    for (const auto& [path, mode] :
         {std::pair{parent, 0750}, std::pair{dir, 0750}, std::pair{dir + "/dpdk_telemetry.v2", 0660}})
        if (::chown(path.c_str(), uid_t(-1), g->gr_gid) != 0 || ::chmod(path.c_str(), mode_t(mode)) != 0)
            return fail(Errc::io, "--telemetry-group " + group + ": " + path + ": " + std::strerror(errno));
    return {};
}

bool has_local_address(const net::IpAddr& a) {
    if (a.is_v4() && a.v4_bytes()[0] == 127) return true;  // the kernel's local route holds all of 127/8
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return true;  // cannot tell: do not refuse
    bool found = false;
    for (const ifaddrs* i = list; i != nullptr && !found; i = i->ifa_next) {
        if (i->ifa_addr == nullptr) continue;
        if (i->ifa_addr->sa_family == AF_INET && a.is_v4())
            found = net::IpAddr::v4(&reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr) == a;
        else if (i->ifa_addr->sa_family == AF_INET6 && !a.is_v4())
            found = net::IpAddr::v6(reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr.s6_addr) == a;
    }
    ::freeifaddrs(list);
    return found;
}

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
                register_telemetry(*plane_, *dp_, role_, events_);
                if (auto* reg = plane_->registrar())
                    reg->set_notice([this](const std::string& impi, const net::IpAddr& ue, std::string_view what) {
                        if (!events_.watched() && !log_enabled(LogLevel::debug, LogArea::registration)) return;
                        const std::string line = impi + " at " + ue.to_string() + ": " + std::string(what);
                        if (events_.watched()) events_.add("registration of " + line);
                        log_debug(line, LogArea::registration);
                    });
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
    const bool routine = (e.kind == esp::EventKind::applied && e.result == 0) || e.kind == esp::EventKind::first_use;
    const bool watched = events_.watched();
    if (routine && !watched && !log_enabled(LogLevel::debug, LogArea::sa)) return;
    const std::string who = "SA " + std::to_string(sa.id) + " (" + std::string(esp::name(sa.cfg.dir)) + " spi " +
                            std::to_string(sa.cfg.spi) + ", " + sa.label + ")";
    if (watched) {
        std::string what;
        switch (e.kind) {
            case esp::EventKind::applied:
                what = e.result != 0
                           ? "refused by worker " + std::to_string(e.worker) + ": " + describe_result(e.result)
                           : std::string(e.op == esp::SaOp::remove ? "deleted" : "installed") + " on worker " +
                                 std::to_string(e.worker);
                break;
            case esp::EventKind::first_use: what = "first packet verified"; break;
            case esp::EventKind::seq_near_end:
                what = "sequence number " + std::to_string(e.seq) + " nearing 2^32";
                break;
            case esp::EventKind::seq_exhausted: what = "sequence numbers exhausted"; break;
            case esp::EventKind::seq_checkpoint: break;
        }
        events_.add(who + ": " + what);
    }
    if (routine && !log_enabled(LogLevel::debug, LogArea::sa)) return;
    switch (e.kind) {
        case esp::EventKind::applied:
            if (e.result != 0)
                log_warn(who + ": worker " + std::to_string(e.worker) + " refused it: " + describe_result(e.result),
                         LogArea::sa);
            else
                log_debug(who + ": " + (e.op == esp::SaOp::remove ? "deleted" : "installed") + " on worker " +
                              std::to_string(e.worker),
                          LogArea::sa);
            break;
        case esp::EventKind::first_use: log_debug(who + ": first packet verified", LogArea::sa); break;
        case esp::EventKind::seq_near_end:
            log_warn(who + ": sequence number " + std::to_string(e.seq) + " nearing 2^32; replace the SA", LogArea::sa);
            break;
        case esp::EventKind::seq_exhausted:
            log_error(who + ": sequence numbers exhausted; packets are dropped until it is replaced", LogArea::sa);
            break;
        case esp::EventKind::seq_checkpoint: break;
    }
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

void Daemon::reload() {
    notify_reloading();
    std::vector<const char*> argv;
    for (const auto& a : argv_) argv.push_back(a.c_str());
    const auto parsed = parse_options(int(argv.size()), argv.data(), &allowed_);  // EAL pinned this thread
    const DaemonOptions* now = parsed ? std::get_if<DaemonOptions>(&*parsed) : nullptr;
    if (now == nullptr) {
        log_error("reload: " + (parsed ? std::string("no options to run with") : parsed.error().message) +
                  "; the running configuration is kept");
        notify_ready("reload refused: the configuration does not parse");
        return;
    }
    std::vector<std::string> applied, refused;
    for (const auto& [name, value] : now->given) {
        const auto was = opts_.given.find(name);
        if (was != opts_.given.end() && was->second == value) continue;
        const std::string from = was == opts_.given.end() ? "(none)" : was->second;
        if (!changes_live(name) || (name != "log-level" && !opts_.sip)) {
            refused.push_back(name);
            log_warn("reload: --" + name + " cannot change while running (" + from + " kept; restart to apply " +
                     value + ")");
            continue;
        }
        applied.push_back("--" + name + " " + from + " -> " + value);
        opts_.given[name] = value;
    }
    for (const auto& a : applied)
        if (a.starts_with("--log-level ")) set_log_levels(now->log_level);
    if (opts_.sip && now->sip) {
        opts_.sip->proxy.core = now->sip->proxy.core;
        opts_.sip->proxy.overload_queue = now->sip->proxy.overload_queue;
        opts_.sip->proxy.max_transactions = now->sip->proxy.max_transactions;
        opts_.sip->proxy.retry_after = now->sip->proxy.retry_after;
        opts_.sip->proxy.max_connections = now->sip->proxy.max_connections;
        opts_.sip->registrar.alg_priority = now->sip->registrar.alg_priority;
        opts_.sip->registrar.reg_await_auth = now->sip->registrar.reg_await_auth;
        // Only what the reload applied: a refused change left opts_.given as it was.
        plane_->reconfigure_sip(*opts_.sip);
    }
    std::string summary;
    for (const auto& a : applied) summary += (summary.empty() ? "" : ", ") + a;
    log_info("reload: " + (applied.empty() ? std::string("nothing to change") : summary) +
             (refused.empty() ? "" : "; " + std::to_string(refused.size()) + " change(s) refused (above)"));
    notify_ready("reloaded: " + std::to_string(applied.size()) + " change(s) applied, " +
                 std::to_string(refused.size()) + " refused");
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
