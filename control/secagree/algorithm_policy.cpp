#include "control/secagree/algorithm_policy.hpp"

#include <algorithm>
#include <tuple>

namespace pcscf::secagree {

namespace {

using ctl::Errc;
using ctl::fail;

// One Annex H name of either family.
struct Name {
    std::string text;
    std::optional<esp::Alg> alg;
    std::optional<esp::Ealg> ealg;
    bool integrity() const { return alg.has_value(); }
};

constexpr std::string_view kAllNames =
    "hmac-sha-256-128, hmac-sha-1-96, hmac-md5-96, aes-gmac, aes-gcm, aes-cbc, des-ede3-cbc, null";
constexpr std::string_view kIntegrityNames = "hmac-sha-256-128, hmac-sha-1-96, hmac-md5-96, aes-gmac";

// "null" names the ealg only: alg=null comes with aes-gcm and is never chosen by name.
std::optional<esp::Alg> integrity_alg(std::string_view w) {
    const auto a = esp::parse_alg(w);
    return a == esp::Alg::null ? std::nullopt : a;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// integrity_only: --alg-priority, which names integrity algorithms alone.
ctl::Expected<std::vector<Name>> names(std::string_view option, std::string_view text, bool integrity_only = false) {
    std::vector<Name> out;
    if (trim(text).empty()) return out;
    while (true) {
        const size_t comma = text.find(',');
        const std::string_view w = trim(text.substr(0, comma));
        Name n{std::string(w), integrity_alg(w), esp::parse_ealg(w)};
        if (w.empty()) return fail(Errc::invalid, std::string(option) + ": an empty name in the list");
        if (integrity_only && !n.alg)
            return fail(Errc::invalid, std::string(option) + ": '" + n.text + "' is not an integrity algorithm (" +
                                           std::string(kIntegrityNames) + ")" +
                                           (n.ealg ? " (encryption algorithms go in --allowed-algorithms and "
                                                     "--preferred-algorithms)"
                                                   : ""));
        if (!n.alg && !n.ealg)
            return fail(Errc::invalid, std::string(option) + ": '" + n.text +
                                           "' is not an algorithm of TS 33.203 Annex H (" + std::string(kAllNames) +
                                           ")");
        if (std::any_of(out.begin(), out.end(), [&](const Name& x) { return x.text == n.text; }))
            return fail(Errc::invalid, std::string(option) + ": '" + n.text + "' is named twice");
        out.push_back(std::move(n));
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
    return out;
}

bool named(const std::vector<Name>& list, const Name& n) {
    return std::any_of(list.begin(), list.end(), [&](const Name& x) { return x.text == n.text; });
}

// What an allowed name needs beside it to form a pair (esp::transform), for the error.
std::string_view partners(const Name& n) {
    if (n.alg == esp::Alg::aes_gmac) return "null (RFC 4543)";
    if (n.alg) return "null, aes-cbc or des-ede3-cbc";
    if (n.ealg == esp::Ealg::null) return "hmac-sha-256-128, hmac-sha-1-96, hmac-md5-96 or aes-gmac";
    return "hmac-sha-256-128, hmac-sha-1-96 or hmac-md5-96";
}

bool in_a_pair(const Name& n, const std::vector<AlgPair>& pairs) {
    return std::any_of(pairs.begin(), pairs.end(),
                       [&](AlgPair p) { return n.alg ? p.alg == *n.alg : p.ealg == *n.ealg; });
}

}  // namespace

std::optional<size_t> AlgorithmPolicy::rank(AlgPair p) const {
    const auto all = pairs();  // a handful; SM1 asks once per offer
    const auto it = std::find(all.begin(), all.end(), p);
    if (it == all.end()) return std::nullopt;
    return size_t(it - all.begin());
}

std::vector<AlgPair> AlgorithmPolicy::pairs() const {
    std::vector<AlgPair> out;
    for (esp::Ealg e : ealgs) {
        if (esp::transform(esp::Alg::null, e)) out.push_back({esp::Alg::null, e});  // aes-gcm: its one alg
        for (esp::Alg a : algs)
            if (esp::transform(a, e)) out.push_back({a, e});
    }
    return out;
}

ctl::Expected<AlgorithmPolicy> parse_algorithm_policy(const AlgorithmOptions& o) {
    auto allowed = names("--allowed-algorithms", o.allowed.value_or(std::string(kDefaultAllowedAlgorithms)));
    if (!allowed) return std::unexpected(allowed.error());
    auto preferred = names("--preferred-algorithms", o.preferred.value_or(std::string(kDefaultPreferredAlgorithms)));
    if (!preferred) return std::unexpected(preferred.error());

    // --alg-priority gives the integrity family whole: allowed and order.
    std::optional<std::vector<Name>> priority;
    if (o.alg_priority) {
        auto p = names("--alg-priority", *o.alg_priority, true);
        if (!p) return std::unexpected(p.error());
        if (p->empty()) return fail(Errc::invalid, "--alg-priority needs at least one algorithm");
        for (const auto& [option, given, list] :
             {std::tuple{"--allowed-algorithms", o.allowed.has_value(), &*allowed},
              std::tuple{"--preferred-algorithms", o.preferred.has_value(), &*preferred}}) {
            const auto in = std::find_if(list->begin(), list->end(), [](const Name& n) { return n.integrity(); });
            if (given && in != list->end())
                return fail(Errc::invalid, std::string(option) + ": '" + in->text +
                                               "': with --alg-priority, which orders the integrity algorithms, "
                                               "name only encryption algorithms here (or drop --alg-priority)");
            std::erase_if(*list, [](const Name& n) { return n.integrity(); });  // the defaults'
        }
        allowed->insert(allowed->end(), p->begin(), p->end());
        preferred->insert(preferred->begin(), p->begin(), p->end());
        priority = std::move(*p);
    }

    AlgorithmPolicy policy;
    policy.algs.clear();
    policy.ealgs.clear();
    // The default preference orders what is allowed; a name given that is not is a mistake.
    if (!o.preferred) std::erase_if(*preferred, [&](const Name& n) { return !named(*allowed, n); });
    for (const Name& n : *preferred)
        if (!named(*allowed, n))
            return fail(Errc::invalid, "--preferred-algorithms: '" + n.text + "' is not allowed (" +
                                           (n.integrity() && priority ? "--alg-priority" : "--allowed-algorithms") +
                                           " leaves it out)");
    // The preferred order, then the allowed names it leaves out, in their own order.
    for (const auto* list : {&*preferred, &*allowed})
        for (const Name& n : *list) {
            if (n.alg && std::find(policy.algs.begin(), policy.algs.end(), *n.alg) == policy.algs.end())
                policy.algs.push_back(*n.alg);
            if (n.ealg && std::find(policy.ealgs.begin(), policy.ealgs.end(), *n.ealg) == policy.ealgs.end())
                policy.ealgs.push_back(*n.ealg);
        }
    if (allowed->empty())
        return fail(Errc::invalid, "--allowed-algorithms names no algorithm (" + std::string(kAllNames) + ")");
    // A name allowed that pairs with nothing allowed is a policy that does not do what it says.
    const auto pairs = policy.pairs();
    for (const Name& n : *allowed)
        if (!in_a_pair(n, pairs))
            return fail(Errc::invalid,
                        std::string(n.integrity() && priority ? "--alg-priority" : "--allowed-algorithms") + ": '" +
                            n.text +
                            "' forms no pair TS 33.203 Annex H allows with the "
                            "others allowed (it goes with " +
                            std::string(partners(n)) + ")");
    return policy;
}

std::string integrity_order(const AlgorithmPolicy& p) {
    std::string out;
    for (esp::Alg a : p.algs) out += (out.empty() ? "" : ",") + std::string(esp::name(a));
    return out;
}

std::string encryption_order(const AlgorithmPolicy& p) {
    std::string out;
    for (esp::Ealg e : p.ealgs) out += (out.empty() ? "" : ",") + std::string(esp::name(e));
    return out;
}

}  // namespace pcscf::secagree
