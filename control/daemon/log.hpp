#pragma once
// The control plane's log: one line per event, with the date and time (UTC) and a level,
// on stderr or to syslog (journald reads either). Each area has its own level, changeable
// while the daemon runs (pcscf-espctl log). DPDK's own lines (EAL, drivers) come through
// here too. Never used on the data path (workers count; they do not log).
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace pcscf::ctl {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };
// daemon: start, stop, roles; sip: each SIP message (debug); sa: SA events; registration:
// registrations beginning and ending; state: the store and the pair; eal: DPDK's lines.
enum class LogArea : uint8_t { daemon, sip, sa, registration, state, eal };
inline constexpr size_t kLogAreas = 6;
enum class LogTarget { stderr_stream, syslog };

std::string_view name(LogLevel l);
std::string_view name(LogArea a);
bool parse_log_level(std::string_view s, LogLevel& out);
bool parse_log_area(std::string_view s, LogArea& out);
bool parse_log_target(std::string_view s, LogTarget& out);

// "info", "info,sip=debug", "sa=debug": a level for every area, then for some. Returns
// what is wrong with the text ("" when it was applied); `check_only` applies nothing.
std::string set_log_levels(std::string_view spec, bool check_only = false);
// "daemon=info,sip=debug,..."
std::string log_levels();
LogLevel log_level(LogArea a);
// Changes whenever a level does: the control thread polls it to switch its SIP trace.
uint64_t log_generation();
bool log_enabled(LogLevel l, LogArea a = LogArea::daemon);
void set_log_target(LogTarget t);

void log(LogLevel l, std::string_view msg, LogArea a = LogArea::daemon);
inline void log_info(std::string_view m, LogArea a = LogArea::daemon) { log(LogLevel::info, m, a); }
inline void log_warn(std::string_view m, LogArea a = LogArea::daemon) { log(LogLevel::warn, m, a); }
inline void log_error(std::string_view m, LogArea a = LogArea::daemon) { log(LogLevel::error, m, a); }
inline void log_debug(std::string_view m, LogArea a = LogArea::daemon) { log(LogLevel::debug, m, a); }

// A stream for rte_openlog_stream(): DPDK's lines, each at the level DPDK gave it, in the
// eal area. Set before rte_eal_init.
FILE* dpdk_log_stream();

// "2026-12-05T01:02:03.123Z"
std::string utc_timestamp();

}  // namespace pcscf::ctl
