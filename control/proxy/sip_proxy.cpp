#include "control/proxy/sip_proxy.hpp"

#include <algorithm>
#include <cstdio>

namespace pcscf::proxy {

using secagree::Arrival;
using secagree::Refusal;
using secagree::Route;
using sip::HeaderKind;

namespace {

std::string_view reason_phrase(int status) {
    switch (status) {
        case 200: return "OK";
        case 400: return "Bad Request";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 408: return "Request Timeout";
        case 481: return "Call/Transaction Does Not Exist";
        case 483: return "Too Many Hops";
        case 494: return "Security Agreement Required";
        case 503: return "Service Unavailable";
        default: return "Server Internal Error";
    }
}

std::string what(const sip::Message& m) {
    return m.is_request() ? std::string(m.method()) : std::to_string(m.status_code()) + " " + std::string(m.reason());
}

std::string where(const Arrival& a) {
    return Endpoint{a.ue, a.ue_port}.to_string() + " -> " + Endpoint{a.pcscf, a.local_port}.to_string() +
           (a.protected_ ? " (ESP" : " (plain") + (a.conn ? ", TCP)" : ")");
}

// A request's identity for retransmissions: the sender's branch at its address.
std::string their_key(const sip::Via& via, const Endpoint& from) {
    return std::string(via.branch) + "@" + from.to_string();
}

// Where an unprotected answer goes (RFC 3261 18.2.2, RFC 3581): the source address, and
// the source port with rport, else the Via port (5060 when it has none). From behind a NAT
// (the Via names another address than the source) the Via port is the UE's own, of no use
// at the NAT's address: the source port then, as with rport (TS 24.229 Annex F).
Endpoint reply_to(const sip::Via& via, const Arrival& a) {
    const auto sent_by = net::IpAddr::parse(via.host.address());
    const bool nat = sent_by && !(*sent_by == a.ue);
    return {a.ue, via.has_rport || nat ? a.ue_port : via.port.value_or(5060)};
}

// A route over no SA set leaves from the access address the request reached.
Route from_where_it_came(Route r, const Arrival& a) {
    if (!r.protected_) r.pcscf = a.pcscf;
    return r;
}

// The To tag of an answer we make ourselves: the same for a retransmitted request (RFC
// 3261 8.2.7), so the UE's transaction sees the same response again, not a new one.
std::string answer_tag(const sip::Message& request) {
    const auto via = sip::top_via(request);
    const auto call = sip::call_id(request);
    const std::string id = std::string(via ? via->branch : "") + "/" + std::string(call ? *call : "");
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016zx", std::hash<std::string>{}(id));
    return "pc" + std::string(hex);
}

// The registration's lifetime in a 200: the first Contact's expires, else Expires.
std::chrono::seconds granted(const sip::Message& m) {
    if (auto c = sip::contacts(m); c && !c->contacts.empty())
        if (const auto* p = sip::find_param(c->contacts.front().params, "expires"))
            return std::chrono::seconds(std::strtoul(std::string(p->value).c_str(), nullptr, 10));
    if (auto e = sip::expires(m); e && *e) return std::chrono::seconds(**e);
    return std::chrono::seconds(3600);
}

// The Service-Route values of a 200 to REGISTER, in order (RFC 3608).
std::vector<std::string> service_route(const sip::Message& m) {
    std::vector<std::string> out;
    if (auto l = sip::name_addrs(m, HeaderKind::service_route))
        for (const auto& n : *l) out.emplace_back(n.text);
    return out;
}

// A de-registration: Contact "*", or every contact (else Expires) at zero.
bool deregisters(const sip::Message& m) {
    auto c = sip::contacts(m);
    if (!c) return false;
    if (c->star) return true;
    auto e = sip::expires(m);
    const bool header_zero = e && *e && **e == 0;
    if (c->contacts.empty()) return false;
    return std::all_of(c->contacts.begin(), c->contacts.end(), [&](const sip::NameAddr& n) {
        const auto* p = sip::find_param(n.params, "expires");
        return p ? p->value == "0" : header_zero;
    });
}

}  // namespace

ctl::Expected<std::unique_ptr<SipProxy>> SipProxy::create(ProxyConfig cfg, const secagree::RegistrarConfig& ports,
                                                          secagree::Registrar& reg, Trace trace) {
    std::unique_ptr<SipProxy> p(new SipProxy(std::move(cfg), ports.port_ps, reg, std::move(trace)));
    TransportConfig tc{p->cfg_.access,     p->cfg_.sip_port,        ports.port_ps,   ports.port_pc,
                       p->cfg_.core_local, p->cfg_.max_connections, p->cfg_.core_tcp};
    auto net = SipTransport::create(std::move(tc), p->counters_,
                                    [q = p.get()](ProxyDrop r, std::string_view detail) { q->drop(r, detail); });
    if (!net) return std::unexpected(net.error());
    p->net_ = std::move(*net);
    return p;
}

void SipProxy::reconfigure(const ProxyConfig& c) {
    cfg_.core = c.core;
    cfg_.overload_queue = c.overload_queue;
    cfg_.max_transactions = c.max_transactions;
    cfg_.retry_after = c.retry_after;
    cfg_.core_timeout = c.core_timeout;
    cfg_.reg_event = c.reg_event;
    cfg_.max_connections = c.max_connections;
    net_->set_max_connections(c.max_connections);
}

int SipProxy::poll(int timeout_ms, Clock::time_point now) {
    now_ = now;
    release_challenges(now);
    release_waiting(now);
    const int n = net_->poll(timeout_ms, [&](const Inbound& in) { handle(in, now); });
    for (const Endpoint& e : net_->take_unreachable())
        if (e == cfg_.core) core_unreachable(now);
    return n;
}

// The core refused a datagram (ICMP unreachable; RFC 3261 18.4: a transport error is a
// 503). What was just sent to it gets a 503 now, and so does what comes for it during
// retry_after (its Retry-After): the next request after that finds out whether it is
// back. A message from the core ends it sooner.
void SipProxy::core_unreachable(Clock::time_point now) {
    const bool news = now >= core_down_until_;
    core_down_until_ = now + cfg_.retry_after;
    if (news && trace_) trace_("the IMS core " + cfg_.core.to_string() + " is unreachable");
    txns_.recent(now, std::chrono::seconds(1), [&](const std::string& branch, Txn& t) {
        if (t.kind != Kind::core_request && give_up(branch, t, core_down(now), now)) ++counters_.core_unreachable;
    });
}

Refusal SipProxy::core_down(Clock::time_point now) const {
    const auto left = std::chrono::ceil<std::chrono::seconds>(core_down_until_ - now).count();
    return {503, "the IMS core " + cfg_.core.to_string() + " is unreachable", uint32_t(std::max<int64_t>(left, 1))};
}

void SipProxy::handle(const Inbound& in, Clock::time_point now) {
    auto m = sip::parse_message(in.bytes, in.framing);
    if (!m) return drop(ProxyDrop::malformed, "from " + in.src.to_string() + ": " + m.error().message);
    if (in.side == Side::core) {
        ++counters_.from_core;
        core_down_until_ = {};  // heard from
        return from_core(*m, in.src, now);
    }
    ++counters_.from_ue;
    const Arrival a{in.src.addr, in.src.port, in.local.port, in.local.port != cfg_.sip_port, in.conn, in.local.addr};
    if (!a.protected_ && shed(in, *m, a, now)) return;
    const bool ack = m->method() == "ACK";
    if (auto v = sip::validate(*m); !v) {
        if (m->is_request() && !ack) return refuse(*m, a, {400, v.error().message});
        return drop(ProxyDrop::malformed, "from " + where(a) + ": " + v.error().message);
    }
    const auto via = sip::top_via(*m);  // validate() made sure there is one
    from_ue({*m, *via, a}, now);
}

// Overload control, before any other work on a new registration (RFC 3261 21.5.4): one
// that waited in the socket past overload_queue, or that finds the transaction table 3/4
// full, is answered 503 at once. Over TCP, where no wait is known, SM1s are shed while
// the last UDP one was late.
bool SipProxy::shed(const Inbound& in, const sip::Message& m, const Arrival& a, Clock::time_point now) {
    if (!m.is_request() || m.method() != "REGISTER") return false;
    bool late = now < late_until_;
    if (in.conn == 0) {
        counters_.sm1_queued_us = uint64_t(in.queued.count());
        late = in.queued > cfg_.overload_queue;
        if (late) late_until_ = now + cfg_.overload_queue;
    }
    const bool full = txns_.size() >= cfg_.max_transactions / 4 * 3;
    if (!late && !full) return false;
    const auto via = sip::top_via(m);
    if (!via) return false;  // malformed: validate() answers it
    std::string their = their_key(*via, in.src);
    if (txns_.find_theirs(their)) return false;  // a retransmission: answered as before
    if (late) ++counters_.shed_late;
    // The 503 is kept as the transaction's answer: a retransmission of this SM1 gets it
    // again (RFC 3261 17.2.2) instead of starting a registration the UE gave up.
    ToUe sent;
    refuse(m, a,
           late ? Refusal{503, "overloaded: the request waited " + std::to_string(in.queued.count() / 1000) + " ms",
                          retry_after()}
                : table_full(),
           std::nullopt, &sent);
    Txn t{.kind = Kind::sm1, .from = a, .created = now, .their = std::move(their), .done = true};
    t.settle({std::move(sent), std::nullopt, {}});
    txns_.add(txns_.new_branch(), std::move(t));
    return true;
}

uint32_t SipProxy::retry_after() {
    const auto base = uint32_t(cfg_.retry_after.count());
    return base + uint32_t(rng_() % std::max(base, 1u));
}

Refusal SipProxy::table_full() {
    ++counters_.shed_full;
    return {503, "overloaded: " + std::to_string(txns_.size()) + " transactions under way", retry_after()};
}

void SipProxy::from_ue(const FromUe& u, Clock::time_point now) {
    const sip::Message& m = u.m;
    const Arrival& a = u.a;
    const bool ack = m.method() == "ACK";
    if (!m.is_request()) return ue_response(u, now);
    // A retransmission of a request we relayed goes out again, unexamined.
    if (auto* t = txns_.find_theirs(their_key(u.via, {a.ue, a.ue_port}))) {
        if (t->second.done) {
            if (t->second.answer && t->second.answer->ue) to_ue(*t->second.answer->ue);
            return;
        }
        send_core(t->second.relayed, cfg_.core);
        return;
    }
    // Behind a NAT the Via names the UE's own address (TS 24.229 F.1, TS 33.203 Annex M).
    const auto sent_by = net::IpAddr::parse(u.via.host.address());
    const auto inner = sent_by ? reg_.nat_inner(a, *sent_by, m.method() == "REGISTER") : std::nullopt;
    if (auto c = secagree::check_via_sent_by(u.via, a, inner); !c)
        return ack ? drop(ProxyDrop::via, c.error().reason) : refuse(m, a, c.error());
    // TS 33.203 7.1: only REGISTER may arrive on the unprotected port; the rest is discarded.
    if (!a.protected_ && m.method() != "REGISTER")
        return drop(ProxyDrop::unprotected, what(m) + " from " + where(a) + " is not a REGISTER");
    if (a.protected_) reg_.on_protected_message(a);
    if (m.method() == "REGISTER") return ue_register(u, now);
    const auto impi = claimed_identities(u);
    if (!impi) {
        if (impi.error().status == 400) return refuse(m, a, impi.error());
        return drop(ProxyDrop::wrong_sa, what(m) + " from " + where(a) + ": " + impi.error().reason);
    }
    to_core(u, Kind::ue_request, impi->impi, true, now, impi->asserted);
}

std::expected<SipProxy::Claimed, Refusal> SipProxy::claimed_identities(const FromUe& u) const {
    const std::string from(sip::from(u.m)->uri.text);
    auto impi = reg_.check_protected(u.a, from);
    if (!impi) return std::unexpected(impi.error());
    auto preferred = sip::name_addrs(u.m, HeaderKind::p_preferred_identity);
    if (!preferred) return std::unexpected(Refusal{400, preferred.error().message});
    for (const auto& p : *preferred)
        if (auto r = reg_.check_protected(u.a, std::string(p.uri.text)); !r)
            return std::unexpected(Refusal{403, "P-Preferred-Identity: " + r.error().reason});
    return Claimed{*impi, "<" + (preferred->empty() ? from : std::string(preferred->front().uri.text)) + ">"};
}

void SipProxy::ue_register(const FromUe& u, Clock::time_point now) {
    const sip::Message& m = u.m;
    const Arrival& a = u.a;
    std::string impi;
    if (auto creds = sip::auth_values(m, HeaderKind::authorization); creds && !creds->empty())
        if (auto name = creds->front().username()) impi = *name;
    const std::string impu(sip::to(m)->uri.text);
    if (txns_.registering({impi, a.ue})) return refuse(m, a, {500, "a REGISTER of this UE is still in progress", 1});
    auto client = sip::security_mechanisms(m, HeaderKind::security_client);
    auto verify = sip::security_mechanisms(m, HeaderKind::security_verify);
    if (!client) return refuse(m, a, {400, client.error().message});
    if (!verify) return refuse(m, a, {400, verify.error().message});
    if (reg_.over_temporary(impi, a)) {  // SM7
        if (auto r = reg_.on_sm7(impi, a, *client, *verify); !r) {
            refuse(m, a, r.error(), reg_.failure_route(impi, a.ue));
            return reg_.abort(impi, a.ue, now);
        }
        return to_core(u, Kind::sm7, impi, true, now);
    }
    if (deregisters(m)) {
        if (auto r = reg_.check_protected(a, impu); !r) return refuse(m, a, r.error());
        return to_core(u, Kind::deregister, impi, true, now);
    }
    const auto sent_by = net::IpAddr::parse(u.via.host.address());  // a host name: no NAT assumed
    auto r = reg_.on_sm1({a, impi, impu, *client, sent_by.value_or(net::IpAddr{})}, now);
    if (!r) return refuse(m, a, r.error());
    to_core(u, Kind::sm1, impi, *r, now);
}

void SipProxy::ue_response(const FromUe& u, Clock::time_point now) {
    const sip::Message& m = u.m;
    if (!u.a.protected_) return drop(ProxyDrop::unprotected, what(m) + " from " + where(u.a) + " is not a REGISTER");
    Txn* t = txns_.find(u.via.branch);
    if (t == nullptr || t->kind != Kind::core_request)
        return drop(ProxyDrop::no_transaction, what(m) + " from " + where(u.a));
    if (t->done) return;  // the UE sent its final answer again: the core has it
    auto out = secagree::response_to_core(m);
    if (!out) return drop(ProxyDrop::malformed, out.error().message);
    if (!send_core(*out, t->core_from)) return;
    if (trace_) trace_("UE " + where(u.a) + "  " + what(m) + "  -> core " + t->core_from.to_string());
    t->answered_provisionally(now);
    if (m.status_code() >= 200) {
        t->done = true;
        t->settle({std::nullopt, t->core_from, std::move(*out)});
    }
}

void SipProxy::to_core(const FromUe& u, Kind kind, const std::string& impi, bool integrity_protected,
                       Clock::time_point now, const std::string& asserted) {
    const sip::Message& m = u.m;
    const Arrival& a = u.a;
    if (txns_.size() >= cfg_.max_transactions) return refuse(m, a, table_full());
    if (now < core_down_until_) {
        ++counters_.core_unreachable;
        refuse(m, a, core_down(now));
        if (kind == Kind::sm1 || kind == Kind::sm7) reg_.abort(impi, a.ue, now);  // nothing left behind
        return;
    }
    const std::string branch = txns_.new_branch();
    secagree::RelayEdits edits{.from_ue = true, .ours = ours(), .record_route = faces(m, a.pcscf, a.conn != 0)};
    if (secagree::initial(m)) {  // TS 24.229 5.2.6.3: asserted, and routed as registered
        edits.asserted = asserted;
        edits.service_route = reg_.service_route(a);
    }
    auto out = kind == Kind::ue_request
                   ? secagree::relay_request(m, core_hop(), branch, edits)
                   : secagree::register_to_core(m, u.via, a, core_hop(), branch, integrity_protected);
    if (!out) return refuse(m, a, {m.count(HeaderKind::max_forwards) ? 483 : 400, out.error().message});
    Txn t{.kind = kind,
          .impi = impi,
          .from = a,
          .ue_reply = reply_to(u.via, a),
          .request = std::string(m.bytes()),
          .relayed = std::move(*out),
          .created = now,
          .their = their_key(u.via, {a.ue, a.ue_port})};
    if (!send_core(t.relayed, cfg_.core)) return;
    if (trace_)
        trace_("UE " + where(a) + "  " + what(m) + " (" + std::string(name(kind)) + ")  -> core " +
               cfg_.core.to_string());
    if (kind != Kind::ue_request) txns_.registration_started({impi, a.ue}, branch);
    txns_.add(branch, std::move(t));
}

void SipProxy::from_core(const sip::Message& m, const Endpoint& from, Clock::time_point now) {
    if (auto v = sip::validate(m); !v) {
        if (m.is_request() && m.method() != "ACK") return (void)answer_core(m, from, {400, v.error().message});
        return drop(ProxyDrop::malformed, "from core " + from.to_string() + ": " + v.error().message);
    }
    const auto via = sip::top_via(m);
    if (!m.is_request()) {
        const std::string branch(via->branch);
        Txn* t = txns_.find(branch);
        if (t == nullptr) return drop(ProxyDrop::no_transaction, what(m) + " from core " + from.to_string());
        if (t->done) {  // the core sent its final answer again: the UE gets ours again
            if (t->answer && t->answer->ue) to_ue(*t->answer->ue);
            return;
        }
        const bool final = m.status_code() >= 200;
        auto sent = core_response(m, branch, *t, now);
        if (final) {
            t->done = true;
            if (sent) t->settle({std::move(sent), std::nullopt, {}});
        }
        return;
    }
    if (m.method() == "NOTIFY" && reg_event_notify(m, from, now)) return;
    const std::string their = their_key(*via, from);
    if (auto* t = txns_.find_theirs(their)) {
        const Txn& x = t->second;
        if (x.done) {
            if (x.answer && x.answer->core) send_core(x.answer->core_bytes, *x.answer->core);
            return;
        }
        if (auto dest = reg_.route_to(x.impi)) to_ue({x.relayed, dest->first, dest->second, {}, x.from.conn, what(m)});
        return;
    }
    // Terminating request: to the UE that registered the IMPU in To (or the Request-URI).
    std::string impu(sip::to(m)->uri.text);
    auto dest = reg_.route_to(impu);
    if (!dest) {
        impu = m.request_uri();
        dest = reg_.route_to(impu);
    }
    if (!dest) {
        if (m.method() == "ACK") return drop(ProxyDrop::not_registered, what(m) + " from core");
        return (void)answer_core(m, from, {404, "not registered at this P-CSCF"});
    }
    if (txns_.size() >= cfg_.max_transactions) return (void)answer_core(m, from, table_full());
    // Our Via names the protected server port: over UDP the UE answers there (TS 33.203
    // 7.1); over TCP it answers on our connection.
    const bool tcp = dest->second.tcp;
    const std::string branch = txns_.new_branch();
    auto out = secagree::relay_request(m, {tcp ? "TCP" : "UDP", dest->second.pcscf, port_ps_}, branch,
                                       {.ours = ours(), .record_route = faces(m, dest->second.pcscf, tcp)});
    if (!out) return (void)answer_core(m, from, {m.count(HeaderKind::max_forwards) ? 483 : 400, out.error().message});
    Txn t{.kind = Kind::core_request,
          .impi = impu,
          .from = {.conn = tcp ? kOurConnection : 0},  // how retransmissions go
          .core_from = from,
          .request = std::string(m.bytes()),
          .relayed = std::move(*out),
          .created = now,
          .their = their};
    if (trace_) trace_("core " + from.to_string() + "  " + what(m) + "  -> UE " + impu);
    to_ue({t.relayed, dest->first, dest->second, {}, t.from.conn, what(m)});
    txns_.add(branch, std::move(t));
}

std::optional<ToUe> SipProxy::core_response(const sip::Message& m, const std::string& branch, Txn& t,
                                            Clock::time_point now) {
    const int status = m.status_code();
    const net::IpAddr ue = t.from.ue;
    t.answered_provisionally(now);           // meaningful until a final answer makes it done
    if (status == 100) return std::nullopt;  // hop by hop
    auto send_back = [&](const Route& r, std::string label) -> std::optional<ToUe> {
        auto out = secagree::response_to_ue(m);
        if (!out) {
            drop(ProxyDrop::malformed, out.error().message);
            return std::nullopt;
        }
        ToUe back{std::move(*out), ue, from_where_it_came(r, t.from), t.ue_reply, t.from.conn, std::move(label)};
        to_ue(back);
        return back;
    };
    const Route back = reg_.route_back(t.from).value_or(Route{});
    const UeKey k{t.impi, ue};
    switch (t.kind) {
        case Kind::sm1:
        case Kind::sm7: {
            if (status < 200) return send_back(t.kind == Kind::sm1 ? back : reg_.failure_route(t.impi, ue), what(m));
            if (status == 401 && t.kind == Kind::sm1) {
                challenge(m, branch, t, now);
                return std::nullopt;  // held until the SAs are installed: kept when sent
            }
            std::optional<ToUe> sent;
            if (status == 200) {
                // The core's requests will follow the transport the UE registered over.
                auto r = reg_.on_sm12(t.impi, ue, granted(m), now, t.from.conn != 0, service_route(m));
                if (r) {
                    sent = send_back(*r, "200 (SM12)");
                    if (cfg_.reg_event && t.kind == Kind::sm7) subscribe_reg_event(k, now);
                } else {
                    drop(ProxyDrop::registrar, r.error().reason);
                    sent = send_back(back, "200");
                }
            } else {
                // A failure answer to the registration: out the way the registrar says,
                // then the temporary set retires (TS 33.203 7.4.2a).
                sent = send_back(reg_.failure_route(t.impi, ue), what(m));
                reg_.abort(t.impi, ue, now);
            }
            txns_.registration_done(k, branch);
            return sent;
        }
        case Kind::deregister: {
            auto sent = send_back(back, what(m) + " (de-registration)");
            // Every set retires; a registration after this is a new one.
            if (status == 200) {
                reg_.deregistered(t.impi, ue, now);
                forget_subscription(k);  // the core ends it with the registration
            }
            txns_.registration_done(k, branch);
            return sent;
        }
        case Kind::ue_request:
            if (!back.protected_) {
                drop(ProxyDrop::sa_gone, what(m) + " for a UE whose SA went");
                return std::nullopt;
            }
            return send_back(back, what(m));
        case Kind::core_request:
            drop(ProxyDrop::no_transaction, what(m) + " from the core for its own request");
            return std::nullopt;
        case Kind::reg_subscribe: reg_event_answer(m, t); return std::nullopt;
    }
    return std::nullopt;
}

// SM6: the core's 401 to SM1 installs the temporary set; the 401 itself waits in held_
// until the workers have installed it (release_challenges).
void SipProxy::challenge(const sip::Message& m, const std::string& branch, Txn& t, Clock::time_point now) {
    std::optional<sip::AkaKey> ik, ck;
    if (auto ch = sip::auth_values(m, HeaderKind::www_authenticate); ch)
        for (const auto& c : *ch) {
            if (c.ik) ik = c.ik;
            if (c.ck) ck = c.ck;
        }
    if (!ik) {  // TS 33.203 7.2: without IK there is no key for the SAs
        drop(ProxyDrop::core_401_without_keys,
             "401 from the core for " + t.impi + " carries no ik" + std::string(ck ? "" : " and no ck"));
        return refuse_registration(
            branch, t, {500, std::string("the IMS core's 401 carries no integrity key (ik") + (ck ? ")" : ", ck)")},
            now);
    }
    if (!ck && reg_.needs_ck(t.impi, t.from.ue)) {  // Annex I: CK_ESP and the AEAD salts come from CK
        drop(ProxyDrop::core_401_without_keys,
             "401 from the core for " + t.impi + " carries no ck for the algorithms chosen");
        return refuse_registration(branch, t,
                                   {500,
                                    "the IMS core's 401 carries no cipher key (ck), which the algorithms "
                                    "chosen need"},
                                   now);
    }
    auto six =
        reg_.on_sm6(t.impi, t.from.ue, *ik, now, ck ? std::optional<std::span<const uint8_t, 16>>(*ck) : std::nullopt);
    if (!six) return refuse_registration(branch, t, six.error(), now);
    auto out = secagree::challenge_to_ue(m, six->first);
    if (!out) return refuse_registration(branch, t, {500, "cannot relay the core's 401: " + out.error().message}, now);
    held_[{t.impi, t.from.ue}] = {branch,
                                  {std::move(*out), t.from.ue, from_where_it_came(six->second, t.from), t.ue_reply,
                                   t.from.conn, "401 (SM6) + Security-Server"},
                                  now};
}

void SipProxy::release_challenges(Clock::time_point now) {
    for (const secagree::Settled& s : reg_.take_settled()) {
        auto h = held_.find({s.impi, s.ue});
        if (h == held_.end()) continue;
        HeldChallenge c = std::move(h->second);
        held_.erase(h);
        Txn* t = txns_.find(c.branch);
        if (t == nullptr) {  // forgotten meanwhile: nobody to answer
            reg_.abort(s.impi, s.ue, now);
            txns_.registration_done({s.impi, s.ue}, c.branch);
            continue;
        }
        if (s.refused) {
            refuse_registration(c.branch, *t, *s.refused, now);
            continue;
        }
        to_ue(c.answer);
        t->settle({std::move(c.answer), std::nullopt, {}});  // a retransmitted SM1 gets it again
        txns_.registration_done({s.impi, s.ue}, c.branch);
    }
}

// SM1 is answered the way it came (plain, or over the set it used).
void SipProxy::refuse_registration(const std::string& branch, const Txn& t, const Refusal& why, Clock::time_point now) {
    if (auto req = sip::parse_message(t.request, sip::Framing::datagram)) refuse(*req, t.from, why);
    reg_.abort(t.impi, t.from.ue, now);
    txns_.registration_done({t.impi, t.from.ue}, branch);
}

// TS 33.203 Annex M: a message over a UDP-enc-tun set goes to the NAT port the datapath
// learnt from the UE. SM7 teaches the new set its port as it is relayed, and a rebinding
// shows as the request that arrives from the new port; the core's answer may come back
// before the outbound SAs have the port. It waits for them (or anything before it to the
// same pair still waits: the order stays the one they were sent in).
bool SipProxy::to_ue(const ToUe& out) {
    if (out.route.protected_) {
        const auto [ue_port, our_port] = pair_of(out);
        const bool behind = std::ranges::any_of(waiting_port_, [&](const WaitingForPort& w) {
            return w.out.ue == out.ue && w.ue_port == ue_port && w.our_port == our_port;
        });
        if (behind || reg_.awaits_nat_port(out.ue, ue_port, our_port)) {
            waiting_port_.push_back({out, ue_port, our_port, now_});
            ++counters_.nat_port_waits;
            if (trace_) trace_("    waits for the NAT port of " + out.ue.to_string() + "  " + out.label);
            return true;
        }
    }
    return send_to_ue(out);
}

std::pair<uint16_t, uint16_t> SipProxy::pair_of(const ToUe& out) const {
    if (out.conn != 0 && out.conn != kOurConnection)
        if (const TcpConnection* c = net_->connection(out.conn)) return {c->remote().port, c->local().port};
    return out.route.pair();
}

void SipProxy::release_waiting(Clock::time_point now) {
    for (auto w = waiting_port_.begin(); w != waiting_port_.end();) {
        const bool late = now - w->since >= cfg_.sa_install_timeout;
        if (!late && reg_.awaits_nat_port(w->out.ue, w->ue_port, w->our_port)) {
            ++w;  // and what follows it to that pair: not late either, and waiting for the same
            continue;
        }
        if (late) {
            ++counters_.nat_port_waits_expired;
            if (trace_) trace_("    sent without the NAT port in the SAs after the wait: " + w->out.label);
        }
        send_to_ue(w->out);
        w = waiting_port_.erase(w);
    }
}

bool SipProxy::send_to_ue(const ToUe& out) {
    const Route& r = out.route;
    if (out.conn != 0) {
        uint32_t id = out.conn;
        if (out.conn == kOurConnection) {
            auto c = net_->connection_to({r.pcscf, r.port_pc}, {out.ue, r.port_us});
            if (!c) {
                drop(c.error().code == ctl::Errc::exhausted ? ProxyDrop::too_many_connections : ProxyDrop::send,
                     "to " + Endpoint{out.ue, r.port_us}.to_string() + ": " + c.error().message);
                return false;
            }
            id = *c;
        }
        if (auto sent = net_->send_tcp(id, out.bytes); !sent) {
            if (sent.error().code == ctl::Errc::not_found)
                drop(ProxyDrop::connection_gone, out.label + " to " + out.ue.to_string() + ": " + sent.error().message);
            else drop(ProxyDrop::send, sent.error().message);
            return false;
        }
        ++counters_.to_ue;
        const TcpConnection* c = net_->connection(id);
        if (trace_)
            trace_("    -> UE " + (c ? c->remote().to_string() : out.ue.to_string()) +
                   " from :" + std::to_string(c ? c->local().port : 0) +
                   (r.protected_ ? " (ESP, TCP)  " : " (plain, TCP)  ") + out.label);
        return true;
    }
    // UDP: unprotected to `plain`; protected over the route's pair (Route::pair).
    const auto [ue_port, our_port] = r.pair();
    const Endpoint from{r.pcscf, !r.protected_ ? cfg_.sip_port : our_port};
    const Endpoint to = !r.protected_ ? out.plain : Endpoint{out.ue, ue_port};
    if (auto sent = net_->send_udp(from, to, out.bytes); !sent) {
        drop(sent.error().code == ctl::Errc::not_found ? ProxyDrop::no_socket : ProxyDrop::send, sent.error().message);
        return false;
    }
    ++counters_.to_ue;
    if (trace_)
        trace_("    -> UE " + to.to_string() + " from " + from.to_string() +
               (r.protected_ ? " (ESP)  " : " (plain)  ") + out.label);
    return true;
}

void SipProxy::refuse(const sip::Message& request, const Arrival& a, const Refusal& why, std::optional<Route> over,
                      ToUe* kept) {
    auto w =
        sip::MessageWriter::response_to(request, uint16_t(why.status), reason_phrase(why.status), answer_tag(request));
    if (!w) return drop(ProxyDrop::malformed, "cannot answer: " + w.error().message);
    std::string text = why.reason;
    std::replace_if(
        text.begin(), text.end(), [](char c) { return c == '"' || c == '\\' || c < 0x20; }, '\'');
    (void)w->add_header("Warning", "399 " + secagree::Hop{"UDP", a.pcscf}.host() + " \"" + text + "\"");
    // RFC 3329 2.3.1: a 494 lists what we accept, so the UE can offer again.
    if (why.status == 494)
        (void)w->add_header(
            HeaderKind::security_server,
            sip::format_mechanisms(reg_.mechanisms(why.nat ? sip::Mode::udp_enc_tun : sip::Mode::trans)));
    if (why.retry_after != 0) (void)w->add_header(HeaderKind::retry_after, std::to_string(why.retry_after));
    // Back the way it came: a protected request over the pair it used.
    const Route r = from_where_it_came(over           ? *over
                                       : a.protected_ ? Route{true, a.local_port, 0, a.ue_port, 0, false, a.pcscf}
                                                      : Route{},
                                       a);
    ++counters_.refused;
    if (trace_)
        trace_("UE " + where(a) + "  " + what(request) + "  refused " + std::to_string(why.status) + ": " + why.reason);
    const auto via = sip::top_via(request);
    ToUe out{w->write(), a.ue,
             r,          via ? reply_to(*via, a) : Endpoint{a.ue, a.ue_port},
             a.conn,     std::to_string(why.status) + " " + std::string(reason_phrase(why.status))};
    to_ue(out);
    if (kept) *kept = std::move(out);
}

std::optional<std::string> SipProxy::answer_core(const sip::Message& request, const Endpoint& to, const Refusal& why) {
    if (trace_)
        trace_("core " + to.to_string() + "  " + what(request) + "  refused " + std::to_string(why.status) + ": " +
               why.reason);
    auto w =
        sip::MessageWriter::response_to(request, uint16_t(why.status), reason_phrase(why.status), answer_tag(request));
    if (!w) {
        drop(ProxyDrop::malformed, "cannot answer: " + w.error().message);
        return std::nullopt;
    }
    if (why.retry_after != 0) (void)w->add_header(HeaderKind::retry_after, std::to_string(why.retry_after));
    std::string bytes = w->write();
    if (!send_core(bytes, to)) return std::nullopt;
    if (why.status >= 300) ++counters_.refused;
    return bytes;
}

// No final answer from the next hop within core_timeout (RFC 3261 16.7 step 6): the
// sender gets a 408, kept for its retransmissions; a registration attempt ends (its
// temporary set retires). An INVITE that got a 1xx waits for its callee instead, and an
// ACK is answered by nobody.
void SipProxy::time_out(const std::string& branch, Txn& t, Clock::time_point now) {
    if (auto h = held_.find({t.impi, t.from.ue}); h != held_.end() && h->second.branch == branch)
        return;  // the core did answer: its 401 waits for the SAs (sa_install_timeout)
    if (t.ringing_until != Clock::time_point{}) return;
    const std::string why = " did not answer within " + std::to_string(cfg_.core_timeout.count()) + " ms";
    const bool core = t.kind != Kind::core_request;
    if (give_up(branch, t, {408, (core ? "the IMS core" : "the UE") + why}, now))
        ++(core ? counters_.timeout_core : counters_.timeout_ue);
}

bool SipProxy::give_up(const std::string& branch, Txn& t, const Refusal& why, Clock::time_point now) {
    if (t.kind == Kind::reg_subscribe) {  // our own SUBSCRIBE: nobody to answer, no subscription
        t.done = true;
        forget_subscription({t.impi, t.from.ue});
        return false;
    }
    auto req = sip::parse_message(t.request, sip::Framing::datagram);
    if (req && req->method() == "ACK") return false;
    t.done = true;
    if (t.kind == Kind::core_request) {
        auto sent = req ? answer_core(*req, t.core_from, why) : std::nullopt;
        if (sent) t.settle({std::nullopt, t.core_from, std::move(*sent)});
        return true;
    }
    ToUe sent;
    if (req) refuse(*req, t.from, why, std::nullopt, &sent);
    if (t.kind != Kind::ue_request) {
        reg_.abort(t.impi, t.from.ue, now);
        txns_.registration_done({t.impi, t.from.ue}, branch);
    }
    if (req) t.settle({std::move(sent), std::nullopt, {}});
    return true;
}

bool SipProxy::send_core(const std::string& bytes, const Endpoint& to) {
    if (auto sent = net_->send_core(to, bytes); !sent) {
        drop(ProxyDrop::send, sent.error().message);
        return false;
    }
    ++counters_.to_core;
    return true;
}

void SipProxy::drop(ProxyDrop reason, std::string_view detail) {
    ++counters_.dropped[size_t(reason)];
    if (trace_) trace_("dropped (" + std::string(name(reason)) + "): " + std::string(detail));
}

void SipProxy::tick(Clock::time_point now) {
    now_ = now;
    std::vector<std::pair<UeKey, std::string>> late;  // 401s whose SAs did not come in time
    std::erase_if(held_, [&](const auto& kv) {
        if (now - kv.second.since < cfg_.sa_install_timeout) return false;
        late.emplace_back(kv.first, kv.second.branch);
        return true;
    });
    for (const auto& [k, branch] : late) {
        drop(ProxyDrop::sa_install_timeout, "the SAs for " + k.first + " were not installed in time");
        if (Txn* t = txns_.find(branch))
            refuse_registration(branch, *t, {500, "the datapath did not install the SAs in time", 1}, now);
        else reg_.abort(k.first, k.second, now);
        txns_.registration_done(k, branch);
    }
    txns_.unanswered(now, cfg_.core_timeout, [&](const std::string& branch, Txn& t) { time_out(branch, t, now); });
    txns_.expire(now);
    counters_.transactions = txns_.size();
    // Connections outlive what they carry by a transaction's lifetime: unprotected ones
    // (SM1 and its 401) then go; protected ones go once their SAs are gone too.
    net_->close_idle(now, cfg_.txn_lifetime, [&](const TcpConnection& c, uint32_t id) {
        return !reg_.route_back({c.remote().addr, c.remote().port, c.local().port, true, id, c.local().addr});
    });
}

// ---- reg event (RFC 3680, TS 24.229 5.2.3) ------------------------------------------

void SipProxy::subscribe_reg_event(const UeKey& k, Clock::time_point now) {
    const auto v = reg_.view(k.first, k.second);
    if (!v || v->impus.empty() || sub_of_.contains(k)) return;
    const std::string branch = txns_.new_branch();
    const std::string call_id = branch + "@" + cfg_.core_local.to_string();
    const std::string tag = branch.substr(7);  // past z9hG4bK: unique per subscription
    Txn t{.kind = Kind::reg_subscribe,
          .impi = k.first,
          .from = {.ue = k.second},
          .request = subscribe_request({v->impus.front(), call_id, tag, branch, cfg_.core_local, cfg_.core_tcp,
                                        secagree::list_value(v->service_route)}),
          .created = now,
          .their = "reg/" + call_id};
    t.relayed = t.request;
    if (!send_core(t.relayed, cfg_.core)) return;
    if (trace_) trace_("reg event: SUBSCRIBE " + v->impus.front() + "  -> core " + cfg_.core.to_string());
    subs_[call_id] = {k, v->impus.front()};
    sub_of_[k] = call_id;
    txns_.add(branch, std::move(t));
}

void SipProxy::reg_event_answer(const sip::Message& m, const Txn& t) {
    const int status = m.status_code();
    if (status < 200) return;
    if (status < 300) {
        ++counters_.reg_subscribed;
        return;
    }
    drop(ProxyDrop::reg_event_refused, "the core answered " + what(m) + " to our reg event SUBSCRIBE for " + t.impi);
    forget_subscription({t.impi, t.from.ue});
}

void SipProxy::forget_subscription(const UeKey& k) {
    if (auto s = sub_of_.find(k); s != sub_of_.end()) {
        subs_.erase(s->second);
        sub_of_.erase(s);
    }
}

// A NOTIFY for one of our subscriptions is answered here (RFC 6665 4.1.3): 200, or 481
// for one we do not have (any more). A registration the core says has ended is the UE's
// de-registration (TS 24.229 5.2.3): its sets retire (the grace lets the UE's own NOTIFY
// still pass); Subscription-State terminated ends the subscription.
bool SipProxy::reg_event_notify(const sip::Message& m, const Endpoint& from, Clock::time_point now) {
    const auto call = sip::call_id(m);
    auto s = call ? subs_.find(*call) : subs_.end();
    if (s == subs_.end()) {
        if (m.request_uri().find(subscriber_uri(cfg_.core_local)) != 0) return false;  // not ours: the UE's
        (void)answer_core(m, from, {481, "no such subscription"});
        return true;
    }
    (void)answer_core(m, from, {200, "OK"});
    const RegSubscription sub = s->second;  // a copy: the subscription may go below
    if (trace_) trace_("reg event: NOTIFY for " + sub.impu + " from core " + from.to_string());
    if (registration_ended(m.body(), sub.impu) && reg_.view(sub.ue.first, sub.ue.second)) {
        ++counters_.reg_ended_by_core;
        reg_.deregistered(sub.ue.first, sub.ue.second, now);
    }
    const auto* state = m.first(HeaderKind::subscription_state);
    if (state != nullptr && std::string_view(state->value).starts_with("terminated")) forget_subscription(sub.ue);
    return true;
}

}  // namespace pcscf::proxy
