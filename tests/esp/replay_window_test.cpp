// The RFC 6479 bitmap window against a plain reference model (RFC 4303 3.4.3 written
// out with a set), at the edges, for duplicates, large jumps and near 2^32.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "dataplane/esp/replay_window.hpp"

namespace pcscf::test {
namespace {

using pcscf::esp::ReplayWindow;

// Accept seq if it is new and fewer than `size` behind the highest accepted.
struct Model {
    uint32_t size;
    uint64_t last = 0;
    std::set<uint64_t> seen;
    bool check(uint32_t seq) const {
        if (seq == 0) return false;
        if (seq > last) return true;
        if (last - seq >= size) return false;
        return !seen.contains(seq);
    }
    bool update(uint32_t seq) {
        if (!check(seq)) return false;
        last = std::max<uint64_t>(last, seq);
        seen.insert(seq);
        while (!seen.empty() && *seen.begin() + size <= last) seen.erase(seen.begin());
        return true;
    }
};

class Window {
public:
    explicit Window(uint32_t size) : w(size), map(w.words(), 0) {}
    bool check(uint32_t seq) const { return w.check(last, map.data(), seq); }
    bool update(uint32_t seq) { return w.update(last, map.data(), seq); }
    ReplayWindow w;
    uint32_t last = 0;
    std::vector<uint64_t> map;
};

class ReplayWindowSizes : public ::testing::TestWithParam<uint32_t> {};

TEST_P(ReplayWindowSizes, Edges) {
    const uint32_t size = GetParam();
    Window win(size);
    EXPECT_FALSE(win.check(0)) << "sequence number 0 is never valid";
    EXPECT_TRUE(win.update(1));
    EXPECT_FALSE(win.update(1)) << "duplicate";
    const uint32_t top = 10 * size + 5;
    EXPECT_TRUE(win.update(top));
    EXPECT_TRUE(win.check(top - size + 1)) << "the oldest position inside the window";
    EXPECT_FALSE(win.check(top - size)) << "just left of the window";
    EXPECT_TRUE(win.update(top - size + 1));
    EXPECT_FALSE(win.update(top - size + 1));
    EXPECT_TRUE(win.update(top - 1));
    EXPECT_FALSE(win.update(top));
    // A jump far beyond the window forgets everything before it.
    EXPECT_TRUE(win.update(top + 5 * size));
    EXPECT_FALSE(win.check(top));
    EXPECT_TRUE(win.check(top + 4 * size + 1));
    EXPECT_FALSE(win.check(top + 4 * size));
}

TEST_P(ReplayWindowSizes, NearTheEndOfTheSequenceSpace) {
    const uint32_t size = GetParam();
    Window win(size);
    const uint32_t max = UINT32_MAX;
    EXPECT_TRUE(win.update(max - size - 10));
    EXPECT_TRUE(win.update(max));
    EXPECT_FALSE(win.update(max)) << "the last number cannot be replayed";
    EXPECT_TRUE(win.update(max - 1));
    EXPECT_TRUE(win.update(max - size + 1));
    EXPECT_FALSE(win.check(max - size));
    EXPECT_FALSE(win.check(max - size - 10)) << "left of the window now";
    EXPECT_FALSE(win.check(1));
}

TEST_P(ReplayWindowSizes, MatchesTheModelOnRandomTraffic) {
    const uint32_t size = GetParam();
    std::mt19937_64 rng(size);
    int accepted = 0, refused = 0;
    for (uint32_t start : {1u, UINT32_MAX - 4 * size - 1000}) {
        Window win(size);
        Model model{size, 0, {}};
        uint64_t hi = start;
        for (int i = 0; i < 20000; ++i) {
            // Mostly near the top: reordering, duplicates, old packets, sometimes a jump.
            const uint64_t r = rng() % 100;
            uint64_t seq;
            if (r < 50) seq = hi + rng() % 3;
            else if (r < 90) seq = hi > 2 * size ? hi - rng() % (2 * size) : 1 + rng() % hi;
            else if (r < 97) seq = hi + rng() % (3 * size);
            else seq = hi + 64 * (rng() % 100);
            if (seq > UINT32_MAX) seq = UINT32_MAX - rng() % 3;
            hi = std::max(hi, seq);
            const auto s = uint32_t(seq);
            ASSERT_EQ(win.check(s), model.check(s)) << "check " << s << " at step " << i;
            const bool ok = win.update(s);
            ASSERT_EQ(ok, model.update(s)) << "update " << s << " at step " << i;
            accepted += ok;
            refused += !ok;
        }
    }
    // The mix must exercise both outcomes, or agreeing with the model proves little.
    EXPECT_GT(accepted, 4000);
    EXPECT_GT(refused, 4000);
}

INSTANTIATE_TEST_SUITE_P(Sizes, ReplayWindowSizes, ::testing::Values(64u, 65u, 128u, 1000u, 1024u, 4096u, 65536u));

TEST(ReplayWindow, SizeLimits) {
    EXPECT_FALSE(ReplayWindow::valid_size(0));
    EXPECT_FALSE(ReplayWindow::valid_size(63));
    EXPECT_TRUE(ReplayWindow::valid_size(64));
    EXPECT_TRUE(ReplayWindow::valid_size(4096));
    EXPECT_TRUE(ReplayWindow::valid_size(65536));
    EXPECT_FALSE(ReplayWindow::valid_size(65537));
    // A power of two, at least one word beyond the window (RFC 6479's ring).
    EXPECT_EQ(ReplayWindow(64).words(), 2u);
    EXPECT_EQ(ReplayWindow(65).words(), 4u);
    EXPECT_EQ(ReplayWindow(4096).words(), 128u);
    EXPECT_EQ(ReplayWindow(65536).words(), 2048u);
}

}  // namespace
}  // namespace pcscf::test
