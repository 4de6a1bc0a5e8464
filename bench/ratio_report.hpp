#pragma once
// Google Benchmark reporter that also keeps every run's packet rate, and prints at the end
// the ratios the ESP engine is judged by (all figures from the same run).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace pcscf::bench {

class RatioReporter : public benchmark::ConsoleReporter {
public:
    explicit RatioReporter(uint32_t many_sas) : many_(std::to_string(many_sas) + "sa") {}

    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& r : runs) {
            if (r.run_type != Run::RT_Iteration || r.error_occurred) continue;
            const auto it = r.counters.find("items_per_second");
            if (it != r.counters.end()) rates_[r.benchmark_name()].push_back(it->second.value);
        }
    }

    // Min, median and max Mpps of a benchmark over its rounds; zeros if it did not run.
    struct Spread {
        double min = 0, median = 0, max = 0;
    };
    Spread spread(const std::string& name) const {
        const auto it = rates_.find(name);
        if (it == rates_.end()) return {};
        auto v = it->second;
        std::sort(v.begin(), v.end());
        return {v.front() / 1e6, v[v.size() / 2] / 1e6, v.back() / 1e6};
    }
    double mpps(const std::string& name) const { return spread(name).median; }

    void print_summary() const {
        if (rates_.empty()) return;  // nothing ran (--benchmark_list_tests, a filter that matched none)
        std::printf("\nMpps per benchmark over its rounds (min / median / max)\n");
        for (const auto& [name, v] : rates_) {
            const Spread s = spread(name);
            std::printf("  %-40s %7.2f %7.2f %7.2f\n", name.c_str(), s.min, s.median, s.max);
        }
        std::printf("\nRatios (medians, same run, same buffers)\n");
        std::printf("%-34s %8s %8s %8s %9s %9s %9s\n", "engine", "Mpps", "ceiling", "single", "/ceiling", "/single",
                    "many/1SA");
        for (const char* dir : {"inbound", "outbound"})
            for (const char* alg : {"sha1", "md5"})
                for (const char* size : {"64B", "512B", "1400B"}) {
                    const std::string tail = std::string("/") + alg + "/" + size + "/";
                    const double one = mpps(dir + tail + "1sa");
                    if (one == 0) continue;
                    const double ceil = mpps("hash_only" + tail + "1sa");
                    const double single = mpps("single_buffer" + tail + "1sa");
                    const double many = mpps(dir + tail + many_);
                    std::printf("%-34s %8.2f %8.2f %8.2f %9.2f %9.2f %9s\n", (dir + tail + "1sa").c_str(), one, ceil,
                                single, ceil > 0 ? one / ceil : 0, single > 0 ? one / single : 0,
                                many > 0 ? fmt(many / one).c_str() : "-");
                }
        const std::string key = "/sha1/512B/";
        const double in1 = mpps("inbound" + key + "1sa");
        if (in1 == 0) return;
        const double ceil = mpps("hash_only" + key + "1sa"), single = mpps("single_buffer" + key + "1sa");
        const double many = mpps("inbound" + key + many_);
        std::printf("\nTargets, inbound HMAC-SHA-1-96 at 512 bytes:\n");
        check(">= 0.70 of the hash-only ceiling", ceil > 0 ? in1 / ceil : 0, 0.70);
        check(">= 3x the single-buffer baseline", single > 0 ? in1 / single : 0, 3.0);
        if (many > 0) check((">= 0.80 of its 1-SA speed with " + many_).c_str(), many / in1, 0.80);
    }

private:
    static std::string fmt(double v) {
        char b[32];
        std::snprintf(b, sizeof b, "%.2f", v);
        return b;
    }
    static void check(const char* what, double value, double target) {
        std::printf("  %-48s %6.2f  %s\n", what, value, value >= target ? "met" : "NOT MET");
    }

    std::string many_;
    std::map<std::string, std::vector<double>> rates_;
};

}  // namespace pcscf::bench
