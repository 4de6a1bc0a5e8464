// pcscf-espd's reload on SIGHUP (docs/operations.md, "Reloading the configuration").
#include "control/daemon/daemon.hpp"
#include "control/daemon/log.hpp"
#include "control/daemon/service_notify.hpp"

namespace pcscf::ctl {

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
        // The core's address may change, not its transport (the sockets are made at start).
        const bool transport =
            name == "core" && opts_.sip && now->sip && now->sip->proxy.core_tcp != opts_.sip->proxy.core_tcp;
        if (!changes_live(name) || (name != "log-level" && !opts_.sip) || transport) {
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
        opts_.sip->proxy.core_timeout = now->sip->proxy.core_timeout;
        opts_.sip->proxy.reg_event = now->sip->proxy.reg_event;
        opts_.sip->registrar.algorithms = now->sip->registrar.algorithms;
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

}  // namespace pcscf::ctl
