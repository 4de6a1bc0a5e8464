#include "control/secagree/registrar.hpp"

#include <algorithm>

namespace pcscf::secagree {

using ctl::SaId;

Registrar::Registrar(ctl::SaManager& sas, RegistrarConfig cfg, net::IpAddr pcscf_v4, net::IpAddr pcscf_v6)
    : sas_(sas), cfg_(std::move(cfg)), v4_(pcscf_v4), v6_(pcscf_v6), retiring_(cfg_.delete_grace) {}

Registrar::Ue* Registrar::find(const std::string& impi, const net::IpAddr& ue) {
    auto it = ues_.find(key(impi, ue));
    return it == ues_.end() ? nullptr : &it->second;
}
const Registrar::Ue* Registrar::find(const std::string& impi, const net::IpAddr& ue) const {
    auto it = ues_.find(key(impi, ue));
    return it == ues_.end() ? nullptr : &it->second;
}

// TS 33.203 7.2: the P-CSCF chooses the pair by its own policy, whatever order (or q) the
// UE gave its offers in; among offers of the same pair, the UE's first. An offer of a pair
// Annex H does not allow (alg=null;ealg=aes-cbc) has no rank: it is passed over, and a UE
// offering nothing else gets the 494. Only offers of the mode the UE needs count (Annex M).
std::optional<std::pair<sip::Ipsec3gpp, AlgPair>> Registrar::choose(std::span<const sip::SecurityMechanism> offers,
                                                                    sip::Mode mod) const {
    std::optional<std::pair<sip::Ipsec3gpp, AlgPair>> best;
    size_t best_rank = SIZE_MAX;
    for (const auto& m : offers) {
        if (!m.ipsec || m.ipsec->mod != mod) continue;
        const AlgPair pair{to_esp(m.ipsec->alg), to_esp(m.ipsec->ealg)};
        const auto rank = cfg_.algorithms.rank(pair);
        if (rank && *rank < best_rank) {
            best_rank = *rank;
            best = std::pair{*m.ipsec, pair};
        }
    }
    return best;
}

std::vector<sip::SecurityMechanism> Registrar::mechanisms(sip::Mode mod) const {
    std::vector<sip::SecurityMechanism> out;
    const auto pairs = cfg_.algorithms.pairs();
    for (size_t i = 0; i < pairs.size(); ++i) {
        sip::SecurityMechanism m;
        m.name = "ipsec-3gpp";
        m.q = q_of(i);
        for (auto [name, value] :
             {std::pair<std::string_view, std::string_view>{"alg", sip::to_string(to_sip(pairs[i].alg))},
              {"ealg", sip::to_string(to_sip(pairs[i].ealg))},
              {"prot", "esp"},
              {"mod", sip::to_string(mod)}})
            m.params.push_back({std::string(name), std::string(value), true, false});
        out.push_back(std::move(m));
    }
    return out;
}

namespace {
// What the UE offered, for the 494's reason: "hmac-md5-96/aes-cbc, tls", at most a few.
std::string offered(std::span<const sip::SecurityMechanism> offers) {
    std::string out;
    size_t n = 0;
    for (const auto& m : offers) {
        if (n++ == 4) return out + ", ...";
        out += out.empty() ? "" : ", ";
        if (m.ipsec)
            out += std::string(sip::to_string(m.ipsec->alg)) + "/" + std::string(sip::to_string(m.ipsec->ealg)) +
                   (m.ipsec->mod == sip::Mode::trans ? "" : "/" + std::string(sip::to_string(m.ipsec->mod)));
        else out += m.name + (m.unsupported.empty() ? "" : " (" + m.unsupported + ")");
    }
    return out.empty() ? "nothing" : out;
}
}  // namespace

uint32_t Registrar::sas_of(const std::string& impi) const {
    // Each set holds two SAs per direction; a kept old set still holds one.
    uint32_t n = retiring_.sas_of(impi);
    for (auto it = ues_.lower_bound({impi, net::IpAddr{}}); it != ues_.end() && it->first.first == impi; ++it) {
        const Ue& u = it->second;
        n += (u.current ? 2 : 0) + (u.kept ? 1 : 0) + (u.pending && u.pending->temp ? 2 : 0);
    }
    return n;
}

bool Registrar::port_uc_in_use(const net::IpAddr& ue, uint16_t port_uc) const {
    // The first flow of (ue, port_uc, any P-CSCF port): one look-up, however many UEs share
    // the address (behind a NAT).
    const auto it = flows_.lower_bound({ue, port_uc, 0});
    if (it != flows_.end() && std::get<0>(it->first) == ue && std::get<1>(it->first) == port_uc) return true;
    return temp_ports_.contains({ue, port_uc}) || retiring_.port_in_use(ue, port_uc);
}

Refusal Registrar::no_offer(const Sm1& m, bool nat) {
    const auto has = [&](sip::Mode mod) {
        return std::any_of(m.security_client.begin(), m.security_client.end(),
                           [&](const sip::SecurityMechanism& s) { return s.ipsec && s.ipsec->mod == mod; });
    };
    const std::string what = " (offered " + offered(m.security_client) + ")";
    if (nat && !has(sip::Mode::udp_enc_tun)) {
        ++nat_.refused;
        return {494,
                "the UE is behind a NAT (Via names " + m.via.to_string() + ", the REGISTER came from " +
                    m.from.ue.to_string() +
                    ") and offered no mod=UDP-enc-tun: transport-mode ESP cannot cross a NAPT (TS 33.203 Annex M)" +
                    what,
                0, true};
    }
    if (!nat && has(sip::Mode::udp_enc_tun) && !has(sip::Mode::trans)) {
        const std::string why = !cfg_.nat_traversal  ? "NAT traversal is off on this P-CSCF"
                                : !m.from.ue.is_v4() ? "UDP-enc-tun is for IPv4 UEs behind a NAT (NAT44) only"
                                                     : "the UE is not behind a NAT (its Via names the packet's source)";
        return {494, "only mod=UDP-enc-tun offered, but " + why + ": mod=trans is required" + what};
    }
    // RFC 3329 2.3.1: the proxy lists in Security-Server what we accept
    return {494,
            "no acceptable ipsec-3gpp offer in Security-Client (offered " + offered(m.security_client) +
                "; the alg/ealg pairs accepted are in Security-Server)",
            0, nat};
}

std::expected<bool, Refusal> Registrar::on_sm1(const Sm1& m, Clock::time_point now) {
    if (m.impi.empty()) return std::unexpected(Refusal{403, "no IMPI (Authorization username)"});
    // TS 24.229 F.1, TS 33.203 Annex M: the UE is behind a NAT when the REGISTER's source is
    // not the address its Via names. Only NAT44: UDP-enc-tun carries IPv4 alone here. A
    // host name in the Via cannot be compared: no NAT is assumed (via stays unspecified).
    const bool nat = cfg_.nat_traversal && m.from.ue.is_v4() && m.via.is_v4() && m.via != m.from.ue;
    auto chosen = choose(m.security_client, nat ? sip::Mode::udp_enc_tun : sip::Mode::trans);
    if (!chosen) return std::unexpected(no_offer(m, nat));
    const sip::Ipsec3gpp& offer = chosen->first;
    if (offer.port_c == offer.port_s || offer.spi_c == offer.spi_s)
        return std::unexpected(Refusal{403, "Security-Client: port-c/port-s and spi-c/spi-s must differ"});
    if (offer.spi_c < 256 || offer.spi_s < 256)
        return std::unexpected(Refusal{403, "Security-Client: SPIs 1-255 are reserved (RFC 4303 2.1)"});
    const Key k = key(m.impi, m.from.ue);
    Ue* existing = find(m.impi, m.from.ue);
    // Protected SM1 must come over this UE's registered set (its in_ps: port_uc -> port_ps).
    bool over_registered = false;
    if (m.from.protected_) {
        const Key* owner = flow_owner(m.from);
        if (owner == nullptr || *owner != k)
            return std::unexpected(Refusal{403, "protected REGISTER over an SA that is not this UE's"});
        over_registered = true;
    }
    // Rule 3: (UE IP, port_uc) not in the SA table yet; at most six SAs per direction. The
    // UE's own temporary set is no obstacle: the new one replaces it below (a UE whose 401
    // was lost, or which was told to come back later, starts again on the same ports).
    const bool own_temp =
        existing && existing->pending && existing->pending->temp && existing->pending->temp->port_uc() == offer.port_c;
    if (own_temp) drop_temp(*existing);
    if (port_uc_in_use(m.from.ue, offer.port_c))
        return std::unexpected(
            Refusal{403, "port-c " + std::to_string(offer.port_c) + " of this UE is already in use"});
    Ue& u = existing ? *existing : ues_[k];
    if (!existing) {
        u.impi = m.impi;
        u.addr = m.from.ue;
    }
    // The new temporary set replaces this UE's earlier one, if any.
    const uint32_t after = sas_of(m.impi) - (u.pending && u.pending->temp ? 2 : 0) + 2;
    if (after > cfg_.max_sas_per_direction) {
        forget_if_empty(k);
        return std::unexpected(Refusal{403, "too many SAs for this IMPI (" + std::to_string(after) +
                                                " per direction, at most " +
                                                std::to_string(cfg_.max_sas_per_direction) + ")"});
    }
    drop_temp(u);  // an earlier incomplete negotiation is replaced (7.4.2a "registration SAs")
    Pending p;
    p.client = m.security_client;
    p.offer = offer;
    p.pair = chosen->second;
    if (nat) p.inner = m.via;
    p.allowed = cfg_.algorithms.pairs();
    p.impu = m.impu;
    p.sm1_protected = over_registered;
    p.pcscf = pcscf_of(m.from);
    p.deadline = now + cfg_.reg_await_auth;
    remind(k, p.deadline);
    u.pending = std::move(p);
    return over_registered;
}

// Annex I: CK_ESP is CK; the AES-GCM and AES-GMAC salts come from CK and IK both. Only
// HMAC without encryption does without CK.
static bool pair_needs_ck(AlgPair p) { return esp::cipher_key_len(p.alg, p.ealg) != 0; }

bool Registrar::needs_ck(const std::string& impi, const net::IpAddr& ue) const {
    const Ue* u = find(impi, ue);
    return u != nullptr && u->pending && pair_needs_ck(u->pending->pair);
}

std::expected<std::pair<std::vector<sip::SecurityMechanism>, Route>, Refusal> Registrar::on_sm6(
    const std::string& impi, const net::IpAddr& ue, std::span<const uint8_t, 16> ik, Clock::time_point now,
    std::optional<std::span<const uint8_t, 16>> ck) {
    Ue* u = find(impi, ue);
    if (u == nullptr || !u->pending) return std::unexpected(Refusal{500, "401 for a registration we did not see"});
    Pending& p = *u->pending;
    // The cipher key first: a refusal here leaves nothing behind (TS 33.203 Annex I).
    esp::CipherKey cipher_key;
    if (pair_needs_ck(p.pair)) {
        if (!ck)
            return std::unexpected(Refusal{
                500, "the IMS core's 401 carries no cipher key (ck) for alg=" + std::string(esp::name(p.pair.alg)) +
                         ", ealg=" + std::string(esp::name(p.pair.ealg))});
        auto k = sas_.cipher_key(p.pair.alg, p.pair.ealg, *ck, ik);
        if (!k) return std::unexpected(Refusal{500, "cannot derive the cipher key: " + k.error().message, 1});
        cipher_key = *k;
    }
    drop_temp(*u);  // a new 401 replaces the earlier temporary set
    // Our client port changes with every registration; the server port stays. A retiring
    // set of this UE may still hold (port_us, port_pc) for an outbound SA.
    uint16_t port_pc = 0;
    for (size_t i = 0; i < cfg_.port_pc.size() && port_pc == 0; ++i) {
        const uint16_t c = cfg_.port_pc[(u->next_port_pc + i) % cfg_.port_pc.size()];
        if ((!u->current || u->current->port_pc != c) && (!u->kept || u->kept->port_pc != c) &&
            !retiring_.flow_in_use(ue, p.offer.port_s, c)) {
            port_pc = c;
            u->next_port_pc = (u->next_port_pc + i + 1) % cfg_.port_pc.size();
        }
    }
    if (port_pc == 0) return std::unexpected(Refusal{500, "no free protected client port"});
    auto set =
        install_sa_set(sas_, p.pair, ue, p.pcscf, p.offer, port_pc, cfg_.port_ps, ik, cipher_key.span(), impi, p.inner);
    std::fill(cipher_key.bytes.begin(), cipher_key.bytes.end(), 0);  // SaManager keeps its own copy
    if (!set) return std::unexpected(Refusal{500, "cannot install the SAs: " + set.error().message});
    p.temp = *set;
    p.acked = 0;
    for (ctl::SaId id : set->ids) awaiting_[id] = key(impi, ue);
    temp_ports_[{ue, set->port_uc()}] = key(impi, ue);
    p.server = set->security_server(p.allowed);
    p.deadline = now + cfg_.reg_await_auth;
    remind(key(impi, ue), p.deadline);
    return std::pair{p.server, sm1_route(*u)};  // back the way SM1 came
}

std::expected<void, Refusal> Registrar::on_sm7(const std::string& impi, const Arrival& from,
                                               std::span<const sip::SecurityMechanism> client,
                                               std::span<const sip::SecurityMechanism> verify) {
    Ue* u = find(impi, from.ue);
    if (u == nullptr || !u->pending || !u->pending->temp)
        return std::unexpected(Refusal{403, "no registration awaiting authentication"});
    std::string why;
    if (!over_temporary(impi, from)) why = "SM7 did not arrive over the new inbound SA";
    else if (!sip::same_mechanisms(verify, u->pending->server))
        why = "Security-Verify differs from the Security-Server sent";
    else if (!sip::same_mechanisms(client, u->pending->client))
        why = "Security-Client differs from the first REGISTER's";
    if (why.empty()) return {};
    return std::unexpected(Refusal{403, why});
}

std::expected<Route, Refusal> Registrar::on_sm12(const std::string& impi, const net::IpAddr& ue,
                                                 std::chrono::seconds expires, Clock::time_point now, bool over_tcp,
                                                 std::vector<std::string> service_route) {
    Ue* u = find(impi, ue);
    if (u == nullptr || !u->pending) return std::unexpected(Refusal{500, "200 for a registration we did not see"});
    dirty_.insert(key(impi, ue));
    u->tcp = over_tcp;
    u->service_route = std::move(service_route);
    if (!u->pending->temp) {
        if (!u->current || !u->pending->sm1_protected)
            return std::unexpected(Refusal{500, "200 without a challenge for a UE with no SAs"});
        u->pending.reset();  // not challenged: the offered ports are obsolete (TS 33.203 7.1)
        u->current_expiry = std::max(u->current_expiry, now + expires);
        remind(key(impi, ue), u->current_expiry);
        notify(impi, ue, "refreshed");
        return route_over(*u->current);
    }
    const Key k = key(impi, ue);
    Pending p = std::move(*u->pending);
    u->pending.reset();
    temp_ports_.erase({ue, p.temp->port_uc()});  // promoted: flows_ has it now
    for (ctl::SaId id : p.temp->ids) awaiting_.erase(id);
    // 7.4.2a after SM12: SM1 over an old SA keeps that inbound SA and its outbound partner;
    // everything else old goes. SM1 unprotected: the UE has lost the old SAs, all go.
    drop_kept(*u);
    Clock::time_point old_expiry = now;
    if (u->current) {
        old_expiry = u->current_expiry;
        SaSet old = *u->current;
        unindex(old);
        u->current.reset();
        if (p.sm1_protected) {
            static constexpr SaSet::Slot kOther[] = {SaSet::out_us, SaSet::in_pc};
            remove_sa_set(sas_, old, kOther);
            for (SaSet::Slot s : kOther) old.ids[s] = 0;
            u->kept = old;
            u->kept_expiry = old_expiry;
            remind(k, u->kept_expiry);
            index(k, old, false);
        } else {
            remove_sa_set(sas_, old);
        }
    }
    u->current = *p.temp;
    u->current_expiry = std::max(now + expires, old_expiry);
    remind(k, u->current_expiry);
    index(k, *u->current, true);
    if (!p.impu.empty() && std::find(u->impus.begin(), u->impus.end(), p.impu) == u->impus.end())
        u->impus.push_back(p.impu);
    for (const auto& i : u->impus) impus_[i] = k;
    notify(impi, ue, "registered");
    return route_over(*u->current);
}

Route Registrar::failure_route(const std::string& impi, const net::IpAddr& ue) const {
    const Ue* u = find(impi, ue);
    if (u == nullptr || !u->pending) return {};
    // Protected SM1: failures go over the old set; otherwise unprotected, except the
    // authentication failure itself, which answers SM7 over the new set.
    if (u->pending->sm1_protected && u->current) return sm1_route(*u);
    if (u->pending->temp) return route_over(*u->pending->temp);
    return {};
}

Route Registrar::sm1_route(const Ue& u) const {
    return u.pending->sm1_protected && u.current ? route_over(*u.current) : Route{};
}

bool Registrar::over_temporary(const std::string& impi, const Arrival& from) const {
    const Ue* u = find(impi, from.ue);
    if (u == nullptr || !u->pending || !u->pending->temp) return false;
    const SaSet& t = *u->pending->temp;
    return from.protected_ && from.ue_port == t.port_uc() && from.local_port == t.port_ps && pcscf_of(from) == t.pcscf;
}

void Registrar::abort(const std::string& impi, const net::IpAddr& ue, Clock::time_point now) {
    Ue* u = find(impi, ue);
    if (u == nullptr) return;
    if (u->pending) notify(impi, ue, "failed");
    retire_temp(*u, now);
    forget_if_empty(key(impi, ue));
}

void Registrar::deregistered(const std::string& impi, const net::IpAddr& ue, Clock::time_point now) {
    Ue* u = find(impi, ue);
    if (u == nullptr) return;
    retire_temp(*u, now);
    for (auto* set : {&u->kept, &u->current})
        if (*set) {
            unindex(**set);
            retiring_.add(impi, **set, now);
            set->reset();
        }
    for (const auto& i : u->impus) impus_.erase(i);
    u->impus.clear();
    notify(impi, ue, "de-registered");
    forget_if_empty(key(impi, ue));
}

void Registrar::retire_temp(Ue& u, Clock::time_point now) {
    if (u.pending && u.pending->temp) {
        const SaSet& t = *u.pending->temp;
        for (ctl::SaId id : t.ids) awaiting_.erase(id);
        temp_ports_.erase({u.addr, t.port_uc()});
        retiring_.add(u.impi, t, now);
    }
    u.pending.reset();
}

void Registrar::on_sa_event(const ctl::SaInfo& sa, const esp::SaEvent& e) {
    if (e.kind == esp::EventKind::applied && e.op == esp::SaOp::add) {
        auto a = awaiting_.find(sa.id);
        if (a == awaiting_.end()) return;
        const Key k = a->second;
        awaiting_.erase(a);
        auto it = ues_.find(k);
        if (it == ues_.end() || !it->second.pending || !it->second.pending->temp) return;
        Ue& u = it->second;
        if (e.result != 0) {
            drop_temp(u);
            u.pending.reset();
            forget_if_empty(k);
            settled_.push_back(
                {k.first, k.second, Refusal{500, "the datapath refused an SA: " + ctl::describe_result(e.result)}});
        } else if (++u.pending->acked == u.pending->temp->ids.size()) {
            settled_.push_back({k.first, k.second, std::nullopt});
        }
        return;
    }
    if (e.kind == esp::EventKind::encap_port) return on_encap_port(sa, e.encap_port);
    if (e.kind != esp::EventKind::first_use) return;
    auto f = flows_.find({sa.cfg.ue_addr, sa.cfg.ue_port, sa.cfg.pcscf_port});
    if (f == flows_.end()) return;
    Ue& u = ues_.at(f->second);
    // A message over the new set: the kept old pair has served its purpose.
    if (u.current && u.current->has(sa.id) && u.kept) drop_kept(u);
}

std::pair<Registrar::Ue*, SaSet*> Registrar::set_of(const ctl::SaInfo& sa) {
    const auto& c = sa.cfg;
    const Key* k = nullptr;
    if (auto f = flows_.find({c.ue_addr, c.ue_port, c.pcscf_port}); f != flows_.end()) k = &f->second;
    else if (auto t = temp_ports_.find({c.ue_addr, c.ue_port}); t != temp_ports_.end()) k = &t->second;
    auto it = k ? ues_.find(*k) : ues_.end();
    if (it == ues_.end()) return {nullptr, nullptr};
    Ue& u = it->second;
    for (auto* s : {&u.current, &u.kept, u.pending ? &u.pending->temp : nullptr})
        if (s && *s && (*s)->has(sa.id)) return {&u, &**s};
    return {nullptr, nullptr};
}

// TS 33.203 Annex M, RFC 3948: the datapath learnt the NAT's port for the UE's 4500 from a
// verified packet (first SM7, later a NAT rebinding) and the inbound SA took it; the
// outbound SAs must send there, and the other inbound SA knows it too. A port already known
// (the other inbound SA reporting it as well) changes nothing.
void Registrar::on_encap_port(const ctl::SaInfo& sa, uint16_t port) {
    auto [u, set] = set_of(sa);
    if (set == nullptr || set->mode() != esp::Mode::udp_enc_tun || set->encap_port == port) return;
    const uint16_t was = set->encap_port;
    set->encap_port = port;
    for (ctl::SaId id : set->ids)
        if (id != 0 && id != sa.id) (void)sas_.set_encap_port(id, port);  // a gone SA: nothing to move
    const bool temporary = u->pending && u->pending->temp && &*u->pending->temp == set;
    if (!temporary) dirty_.insert(key(u->impi, u->addr));  // the stored registration holds it
    ++nat_.port_changes;
    if (info_)
        info_(u->impi + " at " + u->addr.to_string() + " (inner " + set->ue_inner.to_string() + "): NAT port " +
              (was == 0 ? "learnt: " : std::to_string(was) + " -> ") + std::to_string(port));
}

const SaSet* Registrar::set_over(const Arrival& from) const {
    if (!from.protected_) return nullptr;
    const Key* k = flow_owner(from);
    if (k == nullptr) {
        auto t = temp_ports_.find({from.ue, from.ue_port});
        if (t == temp_ports_.end()) return nullptr;
        k = &t->second;
    }
    auto it = ues_.find(*k);
    if (it == ues_.end()) return nullptr;
    const Ue& u = it->second;
    if (over_current(u, from)) return &*u.current;
    if (u.kept && from.ue_port == u.kept->port_uc() && from.local_port == u.kept->port_ps) return &*u.kept;
    if (u.pending && u.pending->temp && from.ue_port == u.pending->temp->port_uc() &&
        from.local_port == u.pending->temp->port_ps)
        return &*u.pending->temp;
    return nullptr;
}

bool Registrar::awaits_nat_port(const net::IpAddr& ue, uint16_t ue_port, uint16_t pcscf_port) const {
    const SaSet* s = set_over({.ue = ue, .ue_port = ue_port, .local_port = pcscf_port, .protected_ = true});
    if (s == nullptr || s->mode() != esp::Mode::udp_enc_tun) return false;
    if (s->encap_port == 0) return true;
    for (ctl::SaId id : {s->ids[SaSet::out_uc], s->ids[SaSet::out_us]})
        if (id != 0 && sas_.updating(id)) return true;
    return false;
}

std::optional<net::IpAddr> Registrar::nat_inner(const Arrival& from, const net::IpAddr& sent_by,
                                                bool is_register) const {
    if (from.protected_) {
        const SaSet* s = set_over(from);
        if (s && s->mode() == esp::Mode::udp_enc_tun) return s->ue_inner;
        return std::nullopt;
    }
    if (is_register && cfg_.nat_traversal && from.ue.is_v4() && sent_by.is_v4()) return sent_by;
    return std::nullopt;
}

void Registrar::on_protected_message(const Arrival& from) {
    const Key* k = flow_owner(from);
    if (k == nullptr) return;
    Ue& u = ues_.at(*k);
    if (u.kept && over_current(u, from)) drop_kept(u);
}

// The flow names no access address: a UE address's ports are in one set only, whichever
// of our addresses it is at, and the datapath lets ESP reach only its SA's address.
const Registrar::Key* Registrar::flow_owner(const Arrival& from) const {
    auto f = flows_.find({from.ue, from.ue_port, from.local_port});
    return from.protected_ && f != flows_.end() ? &f->second : nullptr;
}

// By both ports: the new set's port_us may be the kept pair's port_uc, and a message over
// the kept pair must not be taken for one over the new set.
bool Registrar::over_current(const Ue& u, const Arrival& from) {
    if (!u.current) return false;
    const SaSet& c = *u.current;
    return (from.ue_port == c.port_uc() && from.local_port == c.port_ps) ||
           (from.ue_port == c.port_us() && from.local_port == c.port_pc);
}

void Registrar::tick(Clock::time_point now) {
    // Only the UEs with something due, in time order: no walk over every UE (a reminder
    // whose deadline has moved on since is read and passed over).
    while (!due_.empty() && due_.begin()->first <= now) {
        const Key k = std::move(due_.begin()->second);
        due_.erase(due_.begin());
        auto it = ues_.find(k);
        if (it == ues_.end()) continue;
        Ue& u = it->second;
        if (u.pending && now >= u.pending->deadline) {
            drop_temp(u);
            u.pending.reset();
            notify(k.first, k.second, "not completed");
        }
        if (u.kept && now >= u.kept_expiry) drop_kept(u);
        if (u.current && now >= u.current_expiry) {
            drop_current(u);
            notify(k.first, k.second, "expired");
        }
        if (!u.current && !u.kept && !u.pending) {
            ues_.erase(it);
            dirty_.insert(k);
        }
    }
    retiring_.tick(sas_, now);
}

void Registrar::remind(const Key& k, Clock::time_point at) { due_.emplace(at, k); }

std::expected<std::string, Refusal> Registrar::check_protected(const Arrival& from, const std::string& impu) const {
    const Key* k = flow_owner(from);
    if (k == nullptr) return std::unexpected(Refusal{403, "not over a registered SA"});
    const Ue& u = ues_.at(*k);
    if (std::find(u.impus.begin(), u.impus.end(), impu) == u.impus.end())
        return std::unexpected(Refusal{403, "IMPU " + impu + " is not registered over this SA"});
    return u.impi;
}

std::optional<Route> Registrar::route_back(const Arrival& from) const {
    const Key* k = flow_owner(from);
    if (k == nullptr) return std::nullopt;
    const Ue& u = ues_.at(*k);
    if (over_current(u, from)) return route_over(*u.current);
    if (u.kept) return Route{true, u.kept->port_ps, 0, u.kept->port_uc(), 0, false, u.kept->pcscf};
    return std::nullopt;
}

std::span<const std::string> Registrar::service_route(const Arrival& from) const {
    const Key* k = flow_owner(from);
    if (k == nullptr) return {};
    return ues_.at(*k).service_route;
}

std::optional<std::pair<net::IpAddr, Route>> Registrar::route_to(const std::string& impu) const {
    auto it = impus_.find(impu);
    if (it == impus_.end()) return std::nullopt;
    const Ue& u = ues_.at(it->second);
    if (!u.current) return std::nullopt;
    Route r = route_over(*u.current);
    r.tcp = u.tcp;
    return std::pair{u.addr, r};
}

namespace {

template <typename Ue>
Registrar::View view_of(const Ue& u) {
    Registrar::View v;
    v.impi = u.impi;
    v.ue = u.addr;
    v.current = u.current;
    v.kept = u.kept;
    if (u.pending) v.temporary = u.pending->temp;
    v.impus = u.impus;
    if (u.current) v.expiry = u.current_expiry;
    v.tcp = u.tcp;
    v.service_route = u.service_route;
    return v;
}

}  // namespace

std::optional<Registrar::View> Registrar::view(const std::string& impi, const net::IpAddr& ue) const {
    const Ue* u = find(impi, ue);
    if (u == nullptr) return std::nullopt;
    return view_of(*u);
}

std::vector<Registrar::View> Registrar::views(size_t offset, size_t max) const {
    std::vector<View> out;
    if (offset >= ues_.size()) return out;
    for (auto it = std::next(ues_.begin(), std::ptrdiff_t(offset)); it != ues_.end() && out.size() < max; ++it)
        out.push_back(view_of(it->second));
    return out;
}

std::vector<Registrar::View> Registrar::views_of(const std::string& impi) const {
    std::vector<View> out;
    for (auto it = ues_.lower_bound({impi, net::IpAddr{}}); it != ues_.end() && it->first.first == impi; ++it)
        out.push_back(view_of(it->second));
    return out;
}

void Registrar::drop_temp(Ue& u) {
    if (!u.pending || !u.pending->temp) return;
    for (ctl::SaId id : u.pending->temp->ids) awaiting_.erase(id);
    remove_sa_set(sas_, *u.pending->temp);
    temp_ports_.erase({u.addr, u.pending->temp->port_uc()});
    u.pending->temp.reset();
}

void Registrar::drop_kept(Ue& u) {
    if (!u.kept) return;
    dirty_.insert(key(u.impi, u.addr));
    unindex(*u.kept);
    remove_sa_set(sas_, *u.kept);  // only its in_ps / out_uc ids are left
    u.kept.reset();
}

void Registrar::drop_current(Ue& u) {
    if (!u.current) return;
    dirty_.insert(key(u.impi, u.addr));
    unindex(*u.current);
    remove_sa_set(sas_, *u.current);
    u.current.reset();
    for (const auto& i : u.impus) impus_.erase(i);
    u.impus.clear();
}

void Registrar::forget_if_empty(const Key& k) {
    auto it = ues_.find(k);
    if (it != ues_.end() && !it->second.current && !it->second.kept && !it->second.pending) {
        ues_.erase(it);
        dirty_.insert(k);
    }
}

namespace {
// Steady time does not survive a restart; the store keeps wall-clock time.
std::chrono::system_clock::time_point wall(Clock::time_point t, Clock::time_point now) {
    return std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(t - now);
}
Clock::time_point steady(std::chrono::system_clock::time_point t, Clock::time_point now) {
    return now + std::chrono::duration_cast<Clock::duration>(t - std::chrono::system_clock::now());
}
}  // namespace

void Registrar::flush_state(Clock::time_point now) {
    if (state_ == nullptr) {
        dirty_.clear();
        return;
    }
    for (const Key& k : dirty_) {
        const Ue* u = find(k.first, k.second);
        if (u == nullptr || (!u->current && !u->kept)) {  // gone, or only an attempt under way
            state_->del(registration_key(k.first, k.second));
            continue;
        }
        StoredRegistration r{u->impi,
                             u->addr,
                             u->impus,
                             u->current,
                             wall(u->current_expiry, now),
                             u->kept,
                             wall(u->kept_expiry, now),
                             uint32_t(u->next_port_pc),
                             u->tcp,
                             u->service_route};
        state_->put(registration_key(k.first, k.second), encode(r));
    }
    dirty_.clear();
}

size_t Registrar::restore(std::vector<StoredRegistration> regs, std::span<const ctl::SaId> back, Clock::time_point now,
                          const std::function<void(const std::string&)>& warn) {
    // A search of the ids that came back: far fewer cache misses than SaManager's registry.
    auto whole = [&](const SaSet& s) {
        return std::all_of(s.ids.begin(), s.ids.end(),
                           [&](ctl::SaId id) { return id == 0 || std::binary_search(back.begin(), back.end(), id); });
    };
    size_t restored = 0;
    for (StoredRegistration& r : regs) {
        const Key k = key(r.impi, r.ue);
        if (!r.current || !whole(*r.current)) {
            dirty_.insert(k);  // deleted from the store
            warn("registration of " + r.impi + " at " + r.ue.to_string() +
                 " not restored: its SAs did not all come back");
            if (r.current) remove_sa_set(sas_, *r.current);
            if (r.kept) remove_sa_set(sas_, *r.kept);
            continue;
        }
        if (r.kept && !whole(*r.kept)) {
            remove_sa_set(sas_, *r.kept);
            r.kept.reset();
            dirty_.insert(k);  // written again without it
        }
        // The store's order is nearly the map's: each goes in at its end.
        Ue& u = ues_.try_emplace(ues_.end(), k)->second;
        u.impi = r.impi;
        u.addr = r.ue;
        u.impus = std::move(r.impus);
        u.current = r.current;
        u.current_expiry = steady(r.current_expiry, now);
        u.kept = r.kept;
        u.kept_expiry = steady(r.kept_expiry, now);
        remind(k, u.current_expiry);
        if (u.kept) remind(k, u.kept_expiry);
        u.next_port_pc = r.next_port_pc;
        u.tcp = r.tcp;
        u.service_route = std::move(r.service_route);
        index(k, *u.current, true);
        if (u.kept) index(k, *u.kept, false);
        for (const auto& i : u.impus) impus_[i] = k;
        ++restored;
    }
    return restored;
}

std::vector<ctl::SaId> Registrar::referenced_sas() const {
    std::vector<ctl::SaId> out;
    for (const auto& [k, u] : ues_)
        for (const auto* s : {&u.current, &u.kept, u.pending ? &u.pending->temp : nullptr})
            if (s && *s)
                for (ctl::SaId id : (*s)->ids)
                    if (id != 0) out.push_back(id);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

void Registrar::index(const Key& k, const SaSet& set, bool both_pairs) {
    flows_[{set.ue, set.port_uc(), set.port_ps}] = k;
    if (both_pairs) flows_[{set.ue, set.port_us(), set.port_pc}] = k;
}

void Registrar::unindex(const SaSet& set) {
    flows_.erase({set.ue, set.port_uc(), set.port_ps});
    flows_.erase({set.ue, set.port_us(), set.port_pc});
}

}  // namespace pcscf::secagree
