#include "control/daemon/log.hpp"

#include <rte_log.h>
#include <syslog.h>

#include <array>
#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>

namespace pcscf::ctl {

namespace {

constexpr std::array<std::string_view, 4> kLevels = {"debug", "info", "warn", "error"};
constexpr std::array<std::string_view, kLogAreas> kAreas = {"daemon", "sip", "sa", "registration", "state", "eal"};
std::array<std::atomic<LogLevel>, kLogAreas> g_levels{LogLevel::info, LogLevel::info, LogLevel::info,
                                                      LogLevel::info, LogLevel::info, LogLevel::info};
std::atomic<uint64_t> g_generation{0};
std::atomic<LogTarget> g_target{LogTarget::stderr_stream};
std::mutex g_mu;

template <typename E, size_t N>
bool parse_name(std::string_view s, const std::array<std::string_view, N>& names, E& out) {
    for (size_t i = 0; i < N; ++i)
        if (s == names[i]) {
            out = E(i);
            return true;
        }
    return false;
}

int syslog_priority(LogLevel l) {
    switch (l) {
        case LogLevel::debug: return LOG_DEBUG;
        case LogLevel::info: return LOG_INFO;
        case LogLevel::warn: return LOG_WARNING;
        case LogLevel::error: return LOG_ERR;
    }
    return LOG_INFO;
}

// DPDK's levels (rte_log.h: 1 emergency .. 8 debug) as ours.
LogLevel from_dpdk(int level) {
    if (level <= int(RTE_LOG_ERR)) return LogLevel::error;
    if (level == int(RTE_LOG_WARNING)) return LogLevel::warn;
    if (level >= int(RTE_LOG_DEBUG)) return LogLevel::debug;
    return LogLevel::info;
}

// DPDK writes a line in pieces: each is kept until its newline.
ssize_t dpdk_write(void*, const char* buf, size_t size) {
    thread_local std::string line;
    for (size_t i = 0; i < size; ++i) {
        if (buf[i] != '\n') {
            line += buf[i];
            continue;
        }
        log(from_dpdk(rte_log_cur_msg_loglevel()), line, LogArea::eal);
        line.clear();
    }
    return ssize_t(size);
}

}  // namespace

std::string_view name(LogLevel l) { return kLevels[size_t(l)]; }
std::string_view name(LogArea a) { return kAreas[size_t(a)]; }
bool parse_log_level(std::string_view s, LogLevel& out) { return parse_name(s, kLevels, out); }
bool parse_log_area(std::string_view s, LogArea& out) { return parse_name(s, kAreas, out); }
bool parse_log_target(std::string_view s, LogTarget& out) {
    if (s == "stderr") out = LogTarget::stderr_stream;
    else if (s == "syslog") out = LogTarget::syslog;
    else return false;
    return true;
}

std::string set_log_levels(std::string_view spec, bool check_only) {
    std::array<LogLevel, kLogAreas> want;
    for (size_t i = 0; i < kLogAreas; ++i) want[i] = g_levels[i].load();
    while (!spec.empty()) {
        const size_t comma = spec.find(',');
        const std::string_view item = spec.substr(0, comma);
        spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
        const size_t eq = item.find('=');
        LogLevel l;
        if (!parse_log_level(eq == std::string_view::npos ? item : item.substr(eq + 1), l))
            return "'" + std::string(item) + "': the level must be debug, info, warn or error";
        if (eq == std::string_view::npos) {
            want.fill(l);
            continue;
        }
        LogArea a;
        if (!parse_log_area(item.substr(0, eq), a))
            return "'" + std::string(item) + "': the area must be daemon, sip, sa, registration, state or eal";
        want[size_t(a)] = l;
    }
    if (check_only) return "";
    for (size_t i = 0; i < kLogAreas; ++i) g_levels[i].store(want[i]);
    g_generation.fetch_add(1);
    return "";
}

std::string log_levels() {
    std::string out;
    for (size_t i = 0; i < kLogAreas; ++i)
        out += (i ? "," : "") + std::string(kAreas[i]) + "=" + std::string(name(g_levels[i].load()));
    return out;
}

LogLevel log_level(LogArea a) { return g_levels[size_t(a)].load(); }
uint64_t log_generation() { return g_generation.load(std::memory_order_relaxed); }

bool log_enabled(LogLevel l, LogArea a) { return l >= g_levels[size_t(a)].load(std::memory_order_relaxed); }

void set_log_target(LogTarget t) {
    if (t == LogTarget::syslog) ::openlog("pcscf-espd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    g_target.store(t);
}

std::string utc_timestamp() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t secs = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof buf - n, ".%03dZ", int(ms));
    return buf;
}

void log(LogLevel l, std::string_view msg, LogArea a) {
    if (!log_enabled(l, a)) return;
    // The daemon's own lines and DPDK's (which name their part: "EAL: ") go as they are;
    // the other areas' carry the area's name.
    const bool named = a != LogArea::daemon && a != LogArea::eal;
    const std::string_view area = named ? name(a) : std::string_view{};
    const char* sep = named ? ": " : "";
    if (g_target.load(std::memory_order_relaxed) == LogTarget::syslog) {
        ::syslog(syslog_priority(l), "%.*s%s%.*s", int(area.size()), area.data(), sep, int(msg.size()), msg.data());
        return;
    }
    const std::string ts = utc_timestamp();
    std::lock_guard lock(g_mu);
    std::fprintf(stderr, "%s %-5s %.*s%s%.*s\n", ts.c_str(), name(l).data(), int(area.size()), area.data(), sep,
                 int(msg.size()), msg.data());
}

FILE* dpdk_log_stream() {
    static FILE* f = [] {
        cookie_io_functions_t io{};
        io.write = dpdk_write;
        FILE* s = ::fopencookie(nullptr, "w", io);
        if (s != nullptr) std::setvbuf(s, nullptr, _IOLBF, 0);
        return s;
    }();
    return f;
}

}  // namespace pcscf::ctl
