#include "control/proxy/transactions.hpp"

#include <array>
#include <random>

namespace pcscf::proxy {

std::string_view name(Kind k) {
    static constexpr std::array<std::string_view, 6> names{"SM1",     "SM7",     "de-REGISTER",
                                                           "request", "request", "reg SUBSCRIBE"};
    return names[size_t(k)];
}

Transactions::Transactions(std::chrono::milliseconds lifetime, size_t expected) : lifetime_(lifetime) {
    txns_.reserve(expected);
    by_their_branch_.reserve(expected);
    std::random_device rd;
    branch_prefix_ = "z9hG4bK" + std::to_string(rd() % 1000000) + "pc";
}

std::string Transactions::new_branch() { return branch_prefix_ + std::to_string(next_branch_++); }

Txn& Transactions::add(const std::string& branch, Txn t) {
    by_their_branch_[t.their] = branch;
    by_age_.emplace_back(t.created, branch);
    return txns_.insert_or_assign(branch, std::move(t)).first->second;
}

Txn* Transactions::find(std::string_view branch) {
    auto it = txns_.find(branch);
    return it == txns_.end() ? nullptr : &it->second;
}

std::pair<const std::string, Txn>* Transactions::find_theirs(const std::string& their) {
    auto it = by_their_branch_.find(their);
    if (it == by_their_branch_.end()) return nullptr;
    auto t = txns_.find(it->second);
    return t == txns_.end() ? nullptr : &*t;
}

void Transactions::registration_done(const UeKey& k, const std::string& branch) {
    if (auto it = registering_.find(k); it != registering_.end() && it->second == branch) registering_.erase(it);
}

void Transactions::expire(Clock::time_point now) {
    while (!by_age_.empty() && now - by_age_.front().first >= lifetime_) {
        // A branch added again later (a newer transaction under it) is that one's to expire.
        if (auto it = txns_.find(by_age_.front().second);
            it != txns_.end() && it->second.created == by_age_.front().first) {
            if (!it->second.done && now < it->second.ringing_until) {  // still ringing: looked at again later
                it->second.created = now;
                by_age_.emplace_back(now, it->first);
                by_age_.pop_front();
                if (looked_ > 0) --looked_;
                continue;
            }
            by_their_branch_.erase(it->second.their);
            registration_done({it->second.impi, it->second.from.ue}, it->first);
            txns_.erase(it);
        }
        by_age_.pop_front();
        if (looked_ > 0) --looked_;
    }
}

}  // namespace pcscf::proxy
