// Runs the fuzz entry point over the fixture corpus and a deterministic stream of mutations
// of it (fixed seed), so that every build, the sanitizer one included, fuzzes a little.
// PCSCF_SIP_FUZZ_ITERATIONS overrides the number of mutated inputs (default 40000: a few
// seconds under ASan; raise it for a longer local run).

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "test_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace pcscf::sip {
namespace {

int run(const std::string& input) {
    return LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
}

// xorshift64*: small, fast and the same on every machine
class Rng {
public:
    explicit Rng(std::uint64_t seed) : s_(seed) {}
    std::uint64_t next() {
        s_ ^= s_ >> 12;
        s_ ^= s_ << 25;
        s_ ^= s_ >> 27;
        return s_ * 0x2545F4914F6CDD1DULL;
    }
    std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }

private:
    std::uint64_t s_;
};

// Pieces that matter to a SIP parser, spliced in by the mutator.
const std::string_view dictionary[] = {
    ",",
    ";",
    ":",
    "=",
    "\"",
    "\\",
    "<",
    ">",
    "[",
    "]",
    "@",
    "%",
    "%0",
    "/",
    "*",
    " ",
    "\t",
    "\r\n",
    "\r\n ",
    "\r\n\r\n",
    "\n",
    "\r",
    std::string_view("\0", 1),
    "\x7f",
    "\xff",
    "4294967295",
    "4294967296",
    "0000565817",
    "65535",
    "65536",
    "0",
    "-1",
    "0.1",
    "1.001",
    "99999999999999999999999",
    "ipsec-3gpp",
    "alg=hmac-md5-96",
    "alg=hmac-sha-1-96",
    "ealg=null",
    "spi-c=",
    "port-s=",
    "q=",
    "Digest ",
    "ik=\"",
    "ck=\"",
    "Content-Length: ",
    "l: ",
    "Via: ",
    "v: ",
    "SIP/2.0/UDP ",
    "SIP/2.0",
    "sip:",
    "tel:",
    "<sip:a@[::1]:5060;lr>",
    "Security-Verify: ",
    "Contact: *",
    "CSeq: 1 REGISTER",
    "branch=z9hG4bK",
    "rport",
    "received=",
    "expires=",
};

std::string mutate(std::string s, const std::vector<std::string>& corpus, Rng& rng) {
    const std::size_t rounds = 1 + rng.below(6);
    for (std::size_t r = 0; r < rounds; ++r) {
        const std::size_t at = rng.below(s.size() + 1);
        switch (rng.below(8)) {
            case 0:  // flip a bit
                if (!s.empty()) s[rng.below(s.size())] ^= static_cast<char>(1u << rng.below(8));
                break;
            case 1:  // random byte
                if (!s.empty()) s[rng.below(s.size())] = static_cast<char>(rng.next());
                break;
            case 2:  // insert a dictionary piece
                s.insert(at, dictionary[rng.below(std::size(dictionary))]);
                break;
            case 3:  // delete a run
                s.erase(at, rng.below(32));
                break;
            case 4:  // duplicate a run (repeated headers, parameters, list elements)
                s.insert(at, s.substr(rng.below(s.size() + 1), rng.below(200)));
                break;
            case 5:  // splice a piece of another fixture
            {
                const auto& other = corpus[rng.below(corpus.size())];
                s.insert(at, other.substr(rng.below(other.size() + 1), rng.below(400)));
                break;
            }
            case 6:  // cut short
                s.resize(at);
                break;
            default:  // a long run of one byte
                s.insert(at, std::string(rng.below(3000), static_cast<char>(rng.next())));
                break;
        }
    }
    return s;
}

std::vector<std::string> corpus() {
    std::vector<std::string> out;
    for (const auto& path : test::all_fixtures()) out.push_back(test::read_file(path));
    return out;
}

TEST(FuzzReplay, FixtureCorpus) {
    const auto inputs = corpus();
    ASSERT_GE(inputs.size(), 50u);
    for (const auto& input : inputs) EXPECT_EQ(run(input), 0);
    EXPECT_EQ(run(""), 0);
}

TEST(FuzzReplay, DeterministicMutations) {
    const auto inputs = corpus();
    std::size_t iterations = 40000;
    if (const char* env = std::getenv("PCSCF_SIP_FUZZ_ITERATIONS")) iterations = std::strtoull(env, nullptr, 10);
    Rng rng(0x5eed004);
    for (std::size_t i = 0; i < iterations; ++i) {
        auto input = mutate(inputs[rng.below(inputs.size())], inputs, rng);
        ASSERT_EQ(run(input), 0);
    }
}

}  // namespace
}  // namespace pcscf::sip
