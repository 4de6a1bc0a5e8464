// The proxy's transactions expire a lifetime after they were added (RFC 3261 17: 64*T1),
// oldest first, each taking its sender's branch and its REGISTER-in-progress with it; a
// branch added again lives a lifetime from then.
#include <gtest/gtest.h>

#include "control/proxy/transactions.hpp"

namespace pcscf::proxy {
namespace {

using namespace std::chrono_literals;

Txn txn(const std::string& impi, const std::string& their, Clock::time_point created) {
    Txn t;
    t.kind = Kind::sm1;
    t.impi = impi;
    t.from.ue = *net::IpAddr::parse("10.0.0.7");
    t.their = their;
    t.created = created;
    return t;
}

TEST(Transactions, EachExpiresALifetimeAfterItWasAddedWithWhatItHeld) {
    Transactions txns(32s);
    const auto t0 = Clock::now();
    const UeKey alice{"alice@ims.example", *net::IpAddr::parse("10.0.0.7")};
    const std::string a = txns.new_branch(), b = txns.new_branch();
    ASSERT_NE(a, b);
    txns.add(a, txn("alice@ims.example", "za@10.0.0.7", t0));
    txns.registration_started(alice, a);
    txns.add(b, txn("bob@ims.example", "zb@10.0.0.8", t0 + 10s));

    txns.expire(t0 + 31s);
    EXPECT_EQ(txns.size(), 2u);
    txns.expire(t0 + 32s);
    EXPECT_EQ(txns.find(a), nullptr);
    EXPECT_EQ(txns.find_theirs("za@10.0.0.7"), nullptr);
    EXPECT_FALSE(txns.registering(alice));
    ASSERT_NE(txns.find(b), nullptr);
    ASSERT_NE(txns.find_theirs("zb@10.0.0.8"), nullptr);

    txns.add(b, txn("bob@ims.example", "zb@10.0.0.8", t0 + 40s));  // the same branch, anew
    txns.expire(t0 + 42s);
    EXPECT_NE(txns.find(b), nullptr) << "it lives 32 s from its second addition";
    txns.expire(t0 + 72s);
    EXPECT_EQ(txns.find(b), nullptr);
    EXPECT_EQ(txns.size(), 0u);
}

TEST(Transactions, ManyExpireInTheOrderTheyCame) {
    Transactions txns(32s);
    const auto t0 = Clock::now();
    std::vector<std::string> branches;
    for (int i = 0; i < 10000; ++i) {
        branches.push_back(txns.new_branch());
        txns.add(branches.back(), txn("ue" + std::to_string(i), "z" + std::to_string(i), t0 + i * 1ms));
    }
    txns.expire(t0 + 32s + 4999ms);  // the first 5,000
    EXPECT_EQ(txns.size(), 5000u);
    EXPECT_EQ(txns.find(branches[4999]), nullptr);
    EXPECT_NE(txns.find(branches[5000]), nullptr);
}

}  // namespace
}  // namespace pcscf::proxy
