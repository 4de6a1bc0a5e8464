// Replays one fuzz target's corpus (PCSCF_FUZZ_CORPUS: tests/fuzz/corpus/<target>/)
// through its LLVMFuzzerTestOneInput, then deterministic mutations of it (fixed seed), so
// that every build, the sanitizer one included, runs the fuzzer's code and checks. A
// broken property traps, which fails the test. PCSCF_FUZZ_ITERATIONS sets the number of
// mutated inputs (default 2000); PCSCF_FUZZ_CORPUS=<dir> replays another directory (a
// crash libFuzzer kept, say); with PCSCF_FUZZ_LAST=<file>, each input is written there
// before it runs, so that the one that failed is left behind to replay.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#ifndef PCSCF_FUZZ_CORPUS
#error "PCSCF_FUZZ_CORPUS must name the target's corpus directory"
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using Input = std::vector<uint8_t>;

const char* corpus_dir() {
    const char* env = std::getenv("PCSCF_FUZZ_CORPUS");
    return env != nullptr ? env : PCSCF_FUZZ_CORPUS;
}

std::vector<Input> corpus() {
    std::vector<std::filesystem::path> paths;
    for (const auto& e : std::filesystem::directory_iterator(corpus_dir()))
        if (e.is_regular_file()) paths.push_back(e.path());
    std::sort(paths.begin(), paths.end());
    std::vector<Input> out;
    for (const auto& p : paths) {
        std::ifstream in(p, std::ios::binary);
        out.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    return out;
}

int run(const Input& input) {
    static const char* last = std::getenv("PCSCF_FUZZ_LAST");
    if (last != nullptr)
        std::ofstream(last, std::ios::binary)
            .write(reinterpret_cast<const char*>(input.data()), std::streamsize(input.size()));
    return LLVMFuzzerTestOneInput(input.data(), input.size());
}

// A few of libFuzzer's own mutations, driven by mt19937_64 (the same on every machine).
Input mutate(Input s, const std::vector<Input>& all, std::mt19937_64& rng) {
    auto below = [&](size_t n) { return n == 0 ? size_t(0) : size_t(rng() % n); };
    for (size_t rounds = 1 + below(4); rounds > 0; --rounds) {
        const size_t at = below(s.size() + 1);
        switch (below(6)) {
            case 0:  // flip a bit
                if (!s.empty()) s[below(s.size())] ^= uint8_t(1u << below(8));
                break;
            case 1:  // a random byte
                if (!s.empty()) s[below(s.size())] = uint8_t(rng());
                break;
            case 2:  // insert random bytes
                for (size_t n = 1 + below(8); n > 0; --n) s.insert(s.begin() + ptrdiff_t(at), uint8_t(rng()));
                break;
            case 3:  // erase a run
                s.erase(s.begin() + ptrdiff_t(at), s.begin() + ptrdiff_t(std::min(s.size(), at + 1 + below(16))));
                break;
            case 4: {  // splice in a piece of another input
                const Input& o = all[below(all.size())];
                const size_t from = below(o.size() + 1), n = std::min(o.size() - from, below(64));
                s.insert(s.begin() + ptrdiff_t(at), o.begin() + ptrdiff_t(from), o.begin() + ptrdiff_t(from + n));
                break;
            }
            default:  // cut short
                s.resize(at);
                break;
        }
    }
    return s;
}

TEST(CorpusReplay, EveryFile) {
    const auto inputs = corpus();
    ASSERT_FALSE(inputs.empty()) << "no corpus in " << corpus_dir();
    for (const Input& input : inputs) EXPECT_EQ(run(input), 0);
    EXPECT_EQ(run({}), 0);
}

TEST(CorpusReplay, DeterministicMutations) {
    const auto inputs = corpus();
    ASSERT_FALSE(inputs.empty());
    size_t iterations = 2000;
    if (const char* env = std::getenv("PCSCF_FUZZ_ITERATIONS")) iterations = std::strtoull(env, nullptr, 10);
    std::mt19937_64 rng(0x5eed0f2);
    for (size_t i = 0; i < iterations; ++i) ASSERT_EQ(run(mutate(inputs[i % inputs.size()], inputs, rng)), 0);
}

}  // namespace
