// The benchmarks' option numbers and words: values of the option's type are taken, anything else
// stops the program with exit code 2 and names the option and the value.
#include <gtest/gtest.h>

#include "bench/bench_args.hpp"

namespace pcscf::bench {
namespace {

using ::testing::ExitedWithCode;

TEST(BenchArgs, TakesNumbersOfTheOptionsType) {
    EXPECT_EQ(number_arg<uint32_t>("--sas=", "4000000"), 4'000'000u);
    EXPECT_EQ(number_arg<uint32_t>("--sas=", "4294967295"), 4'294'967'295u);
    EXPECT_EQ(number_arg<int>("--lcore=", "-1"), -1);
    EXPECT_EQ(number_arg<uint64_t>("--max-ues=", "10000000000"), 10'000'000'000u);
    EXPECT_DOUBLE_EQ(number_arg<double>("--churn=", "1e5"), 100000.0);
    EXPECT_DOUBLE_EQ(number_arg<double>("--seconds=", "0.25"), 0.25);
    EXPECT_EQ(number_list_arg<uint32_t>("--sizes=", "64,512,1400"), (std::vector<uint32_t>{64, 512, 1400}));
    EXPECT_EQ(number_list_arg<int>("--ip=", "6"), std::vector<int>{6});
}

TEST(BenchArgsDeathTest, RefusesWhatIsNotANumberOfTheOptionsType) {
    const auto refused = ExitedWithCode(2);
    EXPECT_EXIT(number_arg<uint32_t>("--sas=", "-1"), refused,
                "--sas takes a whole number in range, not '-1'");  // stoul took it as 2^32-1
    EXPECT_EXIT(number_arg<uint32_t>("--sas=", "4294967296"), refused, "not '4294967296'");
    EXPECT_EXIT(number_arg<int>("--rounds=x", "x"), refused, "^--rounds takes");
    EXPECT_EXIT(number_arg<uint32_t>("--packets=", "16k"), refused, "not '16k'");
    EXPECT_EXIT(number_arg<uint32_t>("--window=", ""), refused, "--window takes .*not ''");
    EXPECT_EXIT(number_arg<uint32_t>("--window=", " 8"), refused, "not ' 8'");
    EXPECT_EXIT(number_arg<double>("--churn=", "1e5x"), refused, "--churn takes a number, not");
    EXPECT_EXIT(number_list_arg<uint32_t>("--sizes=", "64,,512"), refused, "--sizes .*not ''");
    EXPECT_EXIT(number_list_arg<uint32_t>("--sizes=", "64,512,"), refused, "--sizes .*not ''");
}

TEST(BenchArgs, TakesTheListedWords) {
    EXPECT_EQ(word_arg("--alg=", "md5", {"sha1", "md5"}), 1u);
    EXPECT_EQ(word_list_arg("--algs=", "md5,sha1", {"sha1", "md5"}), (std::vector<size_t>{1, 0}));
}

TEST(BenchArgsDeathTest, RefusesOtherWords) {
    const auto refused = ExitedWithCode(2);
    // ipsec_compare and sa_scale_benchmark took any other word as SHA-1.
    EXPECT_EXIT(word_arg("--alg=", "sha256", {"sha1", "md5"}), refused, "--alg takes sha1 md5, not 'sha256'");
    EXPECT_EXIT(word_arg("--alg=", "MD5", {"sha1", "md5"}), refused, "not 'MD5'");
    // pipeline_benchmark took any list containing "sha1" somewhere.
    EXPECT_EXIT(word_list_arg("--algs=sha1x", "sha1x", {"sha1", "md5"}), refused, "^--algs takes");
    EXPECT_EXIT(word_list_arg("--algs=", "sha1,", {"sha1", "md5"}), refused, "not ''");
}

TEST(BenchArgs, TakesIpVersions) {
    EXPECT_EQ(ip_versions_arg("--ip=", "6,4"), (std::vector<int>{6, 4}));
    EXPECT_EQ(ip_versions_arg("--ip=", "4"), (std::vector<int>{4}));
}

TEST(BenchArgsDeathTest, RefusesOtherIpVersions) {
    // ipsec_compare took any number but 6 as IPv4.
    EXPECT_EXIT(ip_versions_arg("--ip=", "4,5"), ExitedWithCode(2), "--ip takes 4 6, not '5'");
    EXPECT_EXIT(ip_versions_arg("--ip=", "v6"), ExitedWithCode(2), "not 'v6'");
}

}  // namespace
}  // namespace pcscf::bench
