#include "control/secagree/retiring_sets.hpp"

namespace pcscf::secagree {

namespace {
constexpr SaSet::Slot kInbound[] = {SaSet::in_ps, SaSet::in_pc};
constexpr SaSet::Slot kOutbound[] = {SaSet::out_uc, SaSet::out_us};

uint32_t outbound_sas(const SaSet& s) { return (s.ids[SaSet::out_uc] != 0) + (s.ids[SaSet::out_us] != 0); }
}  // namespace

void RetiringSets::add(const std::string& impi, const SaSet& set, Clock::time_point now) {
    if (outbound_sas(set) == 0 && set.ids[SaSet::in_ps] == 0 && set.ids[SaSet::in_pc] == 0) return;
    per_impi_[impi] += outbound_sas(set);
    if (set.ids[SaSet::out_uc] != 0) flows_.insert({set.ue, set.port_uc(), set.port_ps});
    if (set.ids[SaSet::out_us] != 0) flows_.insert({set.ue, set.port_us(), set.port_pc});
    inbound_.push_back({impi, set, now + grace_});
}

void RetiringSets::tick(ctl::SaManager& sas, Clock::time_point now) {
    // Entries are added in time order with one grace each, so each queue is sorted by due.
    while (!inbound_.empty() && inbound_.front().due <= now) {
        Entry e = std::move(inbound_.front());
        inbound_.pop_front();
        remove_sa_set(sas, e.set, kInbound);
        for (SaSet::Slot s : kInbound) e.set.ids[s] = 0;
        e.due = now + grace_;
        outbound_.push_back(std::move(e));
    }
    while (!outbound_.empty() && outbound_.front().due <= now) {
        remove_sa_set(sas, outbound_.front().set, kOutbound);
        forget(outbound_.front());
        outbound_.pop_front();
    }
}

void RetiringSets::forget(const Entry& e) {
    if (auto it = per_impi_.find(e.impi); it != per_impi_.end() && (it->second -= outbound_sas(e.set)) == 0)
        per_impi_.erase(it);
    const SaSet& s = e.set;
    if (s.ids[SaSet::out_uc] != 0) flows_.erase(flows_.find({s.ue, s.port_uc(), s.port_ps}));
    if (s.ids[SaSet::out_us] != 0) flows_.erase(flows_.find({s.ue, s.port_us(), s.port_pc}));
}

uint32_t RetiringSets::sas_of(const std::string& impi) const {
    auto it = per_impi_.find(impi);
    return it == per_impi_.end() ? 0 : it->second;
}

bool RetiringSets::port_in_use(const net::IpAddr& ue, uint16_t ue_port) const {
    auto it = flows_.lower_bound({ue, ue_port, 0});
    return it != flows_.end() && std::get<0>(*it) == ue && std::get<1>(*it) == ue_port;
}

bool RetiringSets::flow_in_use(const net::IpAddr& ue, uint16_t ue_port, uint16_t pcscf_port) const {
    return flows_.contains({ue, ue_port, pcscf_port});
}

}  // namespace pcscf::secagree
