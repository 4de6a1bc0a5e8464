// docs/operations.md is where an operator looks up a counter: every datapath drop reason,
// every worker counter and every SIP proxy drop reason has a row there that starts with
// what the code says it means.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "control/proxy/proxy_drops.hpp"
#include "dataplane/service/worker_stats.hpp"
#include "net/drop_reason.hpp"

namespace pcscf::dp {
namespace {

std::string operations_md() {
    std::ifstream f(PCSCF_OPERATIONS_MD);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

void expect_row(const std::string& doc, std::string_view name, std::string_view meaning) {
    const std::string row = "| `" + std::string(name) + "` | " + std::string(meaning);
    EXPECT_NE(doc.find(row), std::string::npos) << "docs/operations.md has no row starting\n" << row;
}

TEST(DocumentedCounters, EveryDropReasonHasItsRow) {
    const std::string doc = operations_md();
    ASSERT_FALSE(doc.empty());
    for (size_t i = 0; i < net::kDropReasonCount; ++i)
        expect_row(doc, net::kDropReasonNames[i], net::kDropReasonText[i]);
}

TEST(DocumentedCounters, EveryWorkerCounterHasItsRow) {
    const std::string doc = operations_md();
#define PCSCF_X(name, text) expect_row(doc, #name, text);
    PCSCF_WORKER_COUNTERS(PCSCF_X)
#undef PCSCF_X
}

TEST(DocumentedCounters, EverySipProxyDropReasonHasItsRow) {
    const std::string doc = operations_md();
    for (size_t i = 0; i < proxy::kProxyDropCount; ++i)
        expect_row(doc, proxy::kProxyDropNames[i], proxy::kProxyDropText[i]);
}

}  // namespace
}  // namespace pcscf::dp
