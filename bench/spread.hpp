#pragma once
// Min / median / max of a figure over a benchmark's rounds, and ratios taken round by
// round (a figure against its baseline of the same round, so slow drifts of a shared
// machine cancel).
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace pcscf::bench {

// A count for a table: 4000000 -> "4,000,000".
inline std::string count(uint64_t v) {
    std::string s;  // backwards
    for (int digit = 0; digit == 0 || v > 0; ++digit, v /= 10) {
        if (digit > 0 && digit % 3 == 0) s += ',';
        s += char('0' + v % 10);
    }
    return {s.rbegin(), s.rend()};
}

struct Spread {
    double min = 0, median = 0, max = 0;
};

inline Spread spread(std::vector<double> v) {
    if (v.empty()) return {};
    std::sort(v.begin(), v.end());
    const size_t m = v.size() / 2;
    const double median = v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
    return {v.front(), median, v.back()};
}

// f(a[i], b[i]) for each round i where both were measured (b[i] > 0).
template <class F>
Spread per_round(const std::vector<double>& a, const std::vector<double>& b, F f) {
    std::vector<double> r;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
        if (b[i] > 0) r.push_back(f(a[i], b[i]));
    return spread(r);
}

// num[i] / den[i] for each round i where both were measured.
inline Spread ratio(const std::vector<double>& num, const std::vector<double>& den) {
    return per_round(num, den, [](double n, double d) { return n / d; });
}

}  // namespace pcscf::bench
