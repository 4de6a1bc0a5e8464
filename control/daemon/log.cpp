#include "control/daemon/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace pcscf::ctl {

namespace {
std::atomic<LogLevel> g_level{LogLevel::info};
std::mutex g_mu;
constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
}  // namespace

void set_log_level(LogLevel l) { g_level = l; }
bool log_enabled(LogLevel l) { return l >= g_level.load(std::memory_order_relaxed); }

bool parse_log_level(std::string_view s, LogLevel& out) {
    for (int i = 0; i < 4; ++i)
        if (s == kNames[i]) {
            out = LogLevel(i);
            return true;
        }
    return false;
}

void log(LogLevel l, std::string_view msg) {
    if (l < g_level.load(std::memory_order_relaxed)) return;
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char ts[32];
    std::strftime(ts, sizeof ts, "%H:%M:%S", &tm);
    std::lock_guard lock(g_mu);
    std::fprintf(stderr, "%s.%03d %-5s %.*s\n", ts, int(ms.count()), kNames[int(l)], int(msg.size()), msg.data());
}

}  // namespace pcscf::ctl
