#pragma once
// pcscf-espd's configuration: command line and/or a config file (Boost.Program_options;
// the file takes the same names, one "name = value" per line). Every option is in
// --help and in docs/operations.md.
#include <sched.h>

#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <optional>
#include <variant>

#include "control/control_plane.hpp"
#include "control/error.hpp"
#include "control/state/redis_url.hpp"
#include "dataplane/service/service_config.hpp"

namespace pcscf::ctl {

struct LocalAddress {
    net::IpAddr addr;
    unsigned prefix = 0;
    std::string text;  // as given, "10.0.0.1/24"
};

struct DaemonOptions {
    dp::ServiceConfig service;
    std::optional<SipConfig> sip;  // the sec-agree terminator, when --core is given
    std::vector<LocalAddress> local;
    std::string lcores = "0-1";
    std::vector<std::string> vdevs;
    std::string file_prefix = "pcscf";
    bool no_huge = false;
    unsigned memory_mb = 1024;
    std::string eal_extra;
    bool tap_setup = true;
    std::string log_level = "info";  // a level, then per area: "info,sip=debug"
    std::string log_target = "stderr";
    std::optional<proxy::Endpoint> metrics_listen;  // Prometheus' scrape endpoint
    std::string telemetry_group;                    // may use the telemetry socket too
    std::string state_dir;                          // empty: nothing survives a restart
    std::optional<state::RedisUrl> redis;           // the store in Redis instead (a pair's shared state)
    bool standby = false;                           // follow the store; serve once told to take over
    uint32_t seq_checkpoint = 2;                    // with a store: at most 4 packets lost per SA after a crash
    bool state_reset = false;
    bool has_store() const { return !state_dir.empty() || redis.has_value(); }
    // Every option's value as given or defaulted, as text: what a reload compares.
    std::map<std::string, std::string> given;
};

// The options a reload (SIGHUP) may change while the daemon runs.
bool changes_live(const std::string& option);

// What the command line asks for: run with these options, or show the help text or the
// version.
struct ShowHelp {
    std::string text;
};
struct ShowVersion {};
using Invocation = std::variant<DaemonOptions, ShowHelp, ShowVersion>;

// Bad values are an Error (Errc::invalid) naming the option.
// `cpus`: the CPUs --lcores may name (default: those this thread may run on).
Expected<Invocation> parse_options(int argc, const char* const* argv, const cpu_set_t* cpus = nullptr);
std::vector<std::string> eal_arguments(const DaemonOptions& o, const char* prog);
// The version: meson's project version and the git revision it was built from.
std::string version_text();  // "pcscf-espd 0.1.0 (git 1a2b3c4d5e6f)"
std::string_view project_version();
std::string_view git_revision();

}  // namespace pcscf::ctl
