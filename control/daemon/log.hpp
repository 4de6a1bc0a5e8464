#pragma once
// The control plane's log: one line per event on stderr, with a timestamp and a level.
// Never used on the data path (workers count; they do not log).
#include <string_view>

namespace pcscf::ctl {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

void set_log_level(LogLevel l);
bool log_enabled(LogLevel l);
bool parse_log_level(std::string_view s, LogLevel& out);
void log(LogLevel l, std::string_view msg);
inline void log_info(std::string_view m) { log(LogLevel::info, m); }
inline void log_warn(std::string_view m) { log(LogLevel::warn, m); }
inline void log_error(std::string_view m) { log(LogLevel::error, m); }
inline void log_debug(std::string_view m) { log(LogLevel::debug, m); }

}  // namespace pcscf::ctl
