#pragma once
// Min / median / max of a figure over a benchmark's rounds, and ratios taken round by
// round (a figure against its baseline of the same round, so slow drifts of a shared
// machine cancel).
#include <algorithm>
#include <vector>

namespace pcscf::bench {

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

// num[i] / den[i] for each round i where both were measured.
inline Spread ratio(const std::vector<double>& num, const std::vector<double>& den) {
    std::vector<double> r;
    for (size_t i = 0; i < std::min(num.size(), den.size()); ++i)
        if (den[i] > 0) r.push_back(num[i] / den[i]);
    return spread(r);
}

}  // namespace pcscf::bench
