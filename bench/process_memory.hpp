#pragma once
// The benchmark process's own memory, from /proc/self/status (proc(5)).
#include <fstream>
#include <string>

namespace pcscf::bench {

struct Rss {
    double rss = 0, peak = 0;  // VmRSS, VmHWM in bytes
};

inline Rss rss() {
    std::ifstream f("/proc/self/status");
    Rss r;
    for (std::string key; f >> key;) {
        double kib = 0;
        if (key == "VmRSS:" && f >> kib) r.rss = kib * 1024;
        else if (key == "VmHWM:" && f >> kib) r.peak = kib * 1024;
        f.ignore(1 << 16, '\n');
    }
    return r;
}

// VmHWM starts again from the current RSS (proc(5), clear_refs).
inline void reset_peak() { std::ofstream("/proc/self/clear_refs") << "5"; }

}  // namespace pcscf::bench
