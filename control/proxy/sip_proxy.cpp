#include "control/proxy/sip_proxy.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <random>

namespace pcscf::proxy {

using secagree::Arrival;
using secagree::Refusal;
using secagree::Route;
using sip::HeaderKind;

namespace {

std::string_view reason_phrase(int status) {
    switch (status) {
        case 400: return "Bad Request";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 483: return "Too Many Hops";
        case 494: return "Security Agreement Required";
        default: return "Server Internal Error";
    }
}

std::string_view name(std::uint8_t kind) {
    static constexpr std::array<std::string_view, 5> k{"SM1", "SM7", "de-REGISTER", "request", "request"};
    return k[kind];
}

std::string what(const sip::Message& m) {
    return m.is_request() ? std::string(m.method()) : std::to_string(m.status_code()) + " " + std::string(m.reason());
}

std::string where(const Arrival& a) {
    return Endpoint{a.ue, a.ue_port}.to_string() + " -> :" + std::to_string(a.local_port) +
           (a.protected_ ? " (ESP" : " (plain") + (a.conn ? ", TCP)" : ")");
}

uint64_t tag(uint64_t watch, uint32_t id) { return watch << 32 | id; }

// Our connections to the UEs, by their two ends.
std::string flow_key(const Endpoint& local, const Endpoint& remote) {
    return local.to_string() + ">" + remote.to_string();
}

// A request's identity for retransmissions: the sender's branch at its address.
std::string their_key(const sip::Message& m, const Endpoint& from) {
    return std::string(sip::top_via(m)->branch) + "@" + from.to_string();
}

// Where an unprotected answer goes (RFC 3261 18.2.2, RFC 3581): the source address, and
// the source port with rport, else the Via port (5060 when it has none).
Endpoint reply_to(const sip::Message& m, const Arrival& a) {
    const auto via = sip::top_via(m);
    return {a.ue, !via || via->has_rport ? a.ue_port : via->port.value_or(5060)};
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

std::expected<std::unique_ptr<SipProxy>, std::string> SipProxy::create(
    ProxyConfig cfg, const secagree::RegistrarConfig& ports, secagree::Registrar& reg, Trace trace) {
    std::unique_ptr<SipProxy> p(new SipProxy(std::move(cfg), ports, reg, std::move(trace)));
    p->epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (p->epoll_ < 0) return std::unexpected("epoll_create1 failed");
    std::vector<std::pair<Endpoint, Side>> binds;
    for (const auto& a : p->cfg_.access) {
        binds.push_back({{a, p->cfg_.sip_port}, Side::access});
        binds.push_back({{a, p->port_ps_}, Side::access});
        for (uint16_t pc : p->port_pc_) binds.push_back({{a, pc}, Side::access});
    }
    binds.push_back({p->cfg_.core_local, Side::core});
    auto add = [&](int fd, uint64_t data) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = data;
        return ::epoll_ctl(p->epoll_, EPOLL_CTL_ADD, fd, &ev) == 0;
    };
    p->listeners_.reserve(binds.size());
    for (const auto& [ep, side] : binds) {
        auto s = UdpSocket::bind(ep);
        if (!s) return std::unexpected(s.error());
        if (!add(s->fd(), tag(udp, uint32_t(p->listeners_.size())))) return std::unexpected("epoll_ctl failed");
        p->listeners_.push_back({std::move(*s), side});
    }
    // UEs connect over TCP to the unprotected port (SM1) and to port_ps (TS 33.203 7.1).
    for (const auto& a : p->cfg_.access)
        for (uint16_t port : {p->cfg_.sip_port, p->port_ps_}) {
            auto l = TcpListener::listen({a, port});
            if (!l) return std::unexpected(l.error());
            if (!add(l->fd(), tag(tcp_listener, uint32_t(p->tcp_listeners_.size()))))
                return std::unexpected("epoll_ctl failed");
            p->tcp_listeners_.push_back(std::move(*l));
        }
    std::random_device rd;
    p->branch_prefix_ = "z9hG4bK" + std::to_string(rd() % 1000000) + "pc";
    return p;
}

SipProxy::~SipProxy() {
    if (epoll_ >= 0) ::close(epoll_);
}

int SipProxy::poll(int timeout_ms, Clock::time_point now) {
    now_ = now;
    release_challenges(now);
    std::array<epoll_event, 16> ev;
    const int n = ::epoll_wait(epoll_, ev.data(), int(ev.size()), timeout_ms);
    int handled = 0;
    for (int i = 0; i < n; ++i) {
        const auto id = uint32_t(ev[i].data.u64);
        switch (ev[i].data.u64 >> 32) {
            case udp:  // drain each socket, but let the SA rings have their turn
                for (int k = 0; k < 64 && receive(listeners_[id], now); ++k) ++handled;
                break;
            case tcp_listener: handled += accept_all(tcp_listeners_[id]); break;
            case tcp_connection: handled += std::max(1, on_connection(id, ev[i].events, now)); break;
        }
    }
    for (uint32_t id : doomed_) close_connection(id);
    doomed_.clear();
    return handled;
}

int SipProxy::accept_all(const TcpListener& l) {
    int k = 0;
    for (; k < 64; ++k) {
        auto got = l.accept();
        if (!got) break;
        auto c = std::make_unique<TcpConnection>(got->first, l.local(), got->second);
        if (conns_.size() >= cfg_.max_connections) {
            drop("too_many_connections", "from " + got->second.to_string() + " (" +
                                             std::to_string(conns_.size()) + " open)");
            continue;  // the destructor closes it
        }
        ++counters_.tcp_accepted;
        add_connection(std::move(c));
    }
    return k;
}

int SipProxy::on_connection(uint32_t id, uint32_t events, Clock::time_point now) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return 0;
    TcpConnection& c = *it->second;
    if (events & EPOLLOUT) {
        if (auto err = c.flush(); !err.empty()) {
            drop("send", err);
            close_connection(id);
            return 0;
        }
        watch(id, c, EPOLL_CTL_MOD);
    }
    if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return 0;
    int handled = 0;
    for (;;) {  // read until the socket is empty, taking frames as the buffer fills
        const auto state = c.read();
        sip::Result<sip::Frame> f;
        while ((f = c.next()) && f->kind != sip::FrameKind::need_more) {
            if (f->kind == sip::FrameKind::ping) {  // RFC 5626 4.4.1: a CRLF pong
                if (!c.send("\r\n").empty()) doomed_.push_back(id);
                else if (c.wants_write()) watch(id, c, EPOLL_CTL_MOD);
            } else if (f->kind == sip::FrameKind::message) {
                handle(f->bytes, sip::Framing::stream, Side::access, c.remote(), c.local().port, id, now);
                ++handled;
            }
        }
        if (!f) {  // the stream can no longer be delimited: nothing more can be read from it
            drop("malformed", "TCP from " + c.remote().to_string() + ": " + f.error().message);
            close_connection(id);
            return handled;
        }
        if (state == TcpConnection::Read::closed) {
            close_connection(id);
            return handled;
        }
        if (state == TcpConnection::Read::drained) return handled;
    }
}

bool SipProxy::receive(const Listener& l, Clock::time_point now) {
    static thread_local std::array<char, 65536> buf;
    const auto got = l.socket.receive(buf);
    if (!got) return false;
    const auto& [n, src] = *got;
    if (n > buf.size()) {
        drop("too_large", "a datagram over 64 KiB from " + src.to_string());
        return true;
    }
    const std::string_view bytes(buf.data(), n);
    if (bytes.find_first_not_of("\r\n") == std::string_view::npos) return true;  // keep-alive
    handle(bytes, sip::Framing::datagram, l.side, src, l.socket.local().port, 0, now);
    return true;
}

void SipProxy::handle(std::string_view bytes, sip::Framing framing, Side side, const Endpoint& src,
                      uint16_t local_port, uint32_t conn, Clock::time_point now) {
    auto m = sip::parse_message(bytes, framing);
    if (!m) return drop("malformed", "from " + src.to_string() + ": " + m.error().message);
    if (side == Side::core) {
        ++counters_.from_core;
        return from_core(*m, src, now);
    }
    ++counters_.from_ue;
    from_ue(*m, {src.addr, src.port, local_port, local_port != cfg_.sip_port, conn}, now);
}

void SipProxy::from_ue(const sip::Message& m, const Arrival& a, Clock::time_point now) {
    const bool ack = m.method() == "ACK";
    if (auto v = sip::validate(m); !v) {
        if (m.is_request() && !ack) return refuse(m, a, {400, v.error().message});
        return drop("malformed", "from " + where(a) + ": " + v.error().message);
    }
    if (!m.is_request()) return ue_response(m, a);
    // A retransmission of a request we relayed goes out again, unexamined.
    if (auto it = by_their_branch_.find(their_key(m, {a.ue, a.ue_port})); it != by_their_branch_.end()) {
        if (auto t = txns_.find(it->second); t != txns_.end()) {
            if (t->second.done) {
                if (t->second.answer_again) t->second.answer_again();
                return;
            }
            core_socket().send(t->second.relayed, cfg_.core);
            ++counters_.to_core;
            return;
        }
    }
    if (auto c = secagree::check_via_sent_by(m, a); !c) return ack ? drop("via", c.error().reason) : refuse(m, a, c.error());
    // TS 33.203 7.1: only REGISTER may arrive on the unprotected port; the rest is discarded.
    if (!a.protected_ && m.method() != "REGISTER")
        return drop("unprotected", what(m) + " from " + where(a) + " is not a REGISTER");
    if (a.protected_) reg_.on_protected_message(a);
    if (m.method() == "REGISTER") return ue_register(m, a, now);
    const auto impi = claimed_identities(m, a);
    if (!impi) {
        if (impi.error().status == 400) return refuse(m, a, impi.error());
        return drop("wrong_sa", what(m) + " from " + where(a) + ": " + impi.error().reason);
    }
    to_core(m, a, Kind::ue_request, *impi, true, now);
}

std::expected<std::string, Refusal> SipProxy::claimed_identities(const sip::Message& m, const Arrival& a) const {
    auto impi = reg_.check_protected(a, std::string(sip::from(m)->uri.text));
    if (!impi) return impi;
    auto preferred = sip::name_addrs(m, HeaderKind::p_preferred_identity);
    if (!preferred) return std::unexpected(Refusal{400, preferred.error().message});
    for (const auto& p : *preferred)
        if (auto r = reg_.check_protected(a, std::string(p.uri.text)); !r)
            return std::unexpected(Refusal{403, "P-Preferred-Identity: " + r.error().reason});
    return impi;
}

void SipProxy::ue_register(const sip::Message& m, const Arrival& a, Clock::time_point now) {
    std::string impi, impu;
    if (auto creds = sip::auth_values(m, HeaderKind::authorization); creds && !creds->empty())
        if (auto u = creds->front().username()) impi = *u;
    impu = sip::to(m)->uri.text;
    if (registering_.contains({impi, a.ue}))
        return refuse(m, a, {500, "a REGISTER of this UE is still in progress", 1});
    auto client = sip::security_mechanisms(m, HeaderKind::security_client);
    auto verify = sip::security_mechanisms(m, HeaderKind::security_verify);
    if (!client) return refuse(m, a, {400, client.error().message});
    if (!verify) return refuse(m, a, {400, verify.error().message});
    if (reg_.over_temporary(impi, a)) {  // SM7
        if (auto r = reg_.on_sm7(impi, a, *client, *verify); !r) {
            refuse(m, a, r.error(), reg_.failure_route(impi, a.ue));
            return reg_.abort(impi, a.ue, now);
        }
        return to_core(m, a, Kind::sm7, impi, true, now);
    }
    if (deregisters(m)) {
        if (auto r = reg_.check_protected(a, impu); !r) return refuse(m, a, r.error());
        return to_core(m, a, Kind::deregister, impi, true, now);
    }
    auto r = reg_.on_sm1({a, impi, impu, *client}, now);
    if (!r) return refuse(m, a, r.error());
    to_core(m, a, Kind::sm1, impi, *r, now);
}

void SipProxy::ue_response(const sip::Message& m, const Arrival& a) {
    if (!a.protected_) return drop("unprotected", what(m) + " from " + where(a) + " is not a REGISTER");
    auto t = txns_.find(std::string(sip::top_via(m)->branch));
    if (t == txns_.end() || t->second.kind != Kind::core_request)
        return drop("no_transaction", what(m) + " from " + where(a));
    if (t->second.done) return;  // the UE sent its final answer again: the core has it
    auto out = secagree::response_to_core(m);
    if (!out) return drop("malformed", out.error().message);
    if (auto err = core_socket().send(*out, t->second.core_from); !err.empty()) return drop("send", err);
    ++counters_.to_core;
    trace_("UE " + where(a) + "  " + what(m) + "  -> core " + t->second.core_from.to_string());
    if (m.status_code() >= 200) {
        t->second.done = true;
        t->second.answer_again = [this, bytes = std::move(*out), to = t->second.core_from] {
            if (core_socket().send(bytes, to).empty()) ++counters_.to_core;
        };
    }
}

void SipProxy::to_core(const sip::Message& m, const Arrival& a, Kind kind, const std::string& impi,
                       bool integrity_protected, Clock::time_point now) {
    const std::string branch = new_branch();
    auto out = kind == Kind::ue_request ? secagree::relay_request(m, core_hop(), branch, true)
                                        : secagree::register_to_core(m, a, core_hop(), branch, integrity_protected);
    if (!out) return refuse(m, a, {m.count(HeaderKind::max_forwards) ? 483 : 400, out.error().message});
    Txn t{kind, impi, a, reply_to(m, a), {}, std::string(m.bytes()), std::move(*out), now,
          their_key(m, {a.ue, a.ue_port}), false, {}};
    if (auto err = core_socket().send(t.relayed, cfg_.core); !err.empty()) return drop("send", err);
    ++counters_.to_core;
    trace_("UE " + where(a) + "  " + what(m) + " (" + std::string(name(uint8_t(kind))) + ")  -> core " +
           cfg_.core.to_string());
    by_their_branch_[t.their] = branch;
    if (kind != Kind::ue_request) registering_[{impi, a.ue}] = branch;
    txns_.emplace(branch, std::move(t));
}

void SipProxy::from_core(const sip::Message& m, const Endpoint& from, Clock::time_point now) {
    if (auto v = sip::validate(m); !v) {
        if (m.is_request() && m.method() != "ACK") return answer_core(m, from, 400, v.error().message);
        return drop("malformed", "from core " + from.to_string() + ": " + v.error().message);
    }
    if (!m.is_request()) {
        auto t = txns_.find(std::string(sip::top_via(m)->branch));
        if (t == txns_.end()) return drop("no_transaction", what(m) + " from core " + from.to_string());
        if (t->second.done) {  // the core sent its final answer again: the UE gets ours again
            if (t->second.answer_again) t->second.answer_again();
            return;
        }
        const bool final = m.status_code() >= 200;
        keep_ = final ? &t->second.answer_again : nullptr;
        core_response(m, t->first, t->second, now);
        keep_ = nullptr;
        t->second.done = final;
        return;
    }
    const std::string their = their_key(m, from);
    if (auto it = by_their_branch_.find(their); it != by_their_branch_.end())
        if (auto t = txns_.find(it->second); t != txns_.end()) {
            const Txn& x = t->second;
            if (x.done) {
                if (x.answer_again) x.answer_again();
                return;
            }
            if (auto dest = reg_.route_to(x.impi))
                to_ue(x.relayed, dest->first, dest->second, {}, what(m), x.from.conn);
            return;
        }
    // Terminating request: to the UE that registered the IMPU in To (or the Request-URI).
    std::string impu(sip::to(m)->uri.text);
    auto dest = reg_.route_to(impu);
    if (!dest) {
        impu = m.request_uri();
        dest = reg_.route_to(impu);
    }
    const esp::IpAddr* access = dest ? access_for(dest->first) : nullptr;
    if (access == nullptr) {
        if (m.method() == "ACK") return drop("not_registered", what(m) + " from core");
        return answer_core(m, from, 404, "not registered at this P-CSCF");
    }
    // Our Via names the protected server port: over UDP the UE answers there (TS 33.203
    // 7.1); over TCP it answers on our connection.
    const bool tcp = tcp_ues_.contains(dest->first.to_string());
    const std::string branch = new_branch();
    auto out = secagree::relay_request(m, {tcp ? "TCP" : "UDP", *access, port_ps_}, branch, false);
    if (!out) return answer_core(m, from, m.count(HeaderKind::max_forwards) ? 483 : 400, out.error().message);
    Txn t{Kind::core_request, impu, {}, {}, from, std::string(m.bytes()), std::move(*out), now, their, false, {}};
    t.from.conn = tcp ? kOurConnection : 0;  // how retransmissions go
    trace_("core " + from.to_string() + "  " + what(m) + "  -> UE " + impu);
    to_ue(t.relayed, dest->first, dest->second, {}, what(m), t.from.conn);
    by_their_branch_[their] = branch;
    txns_.emplace(branch, std::move(t));
}

void SipProxy::core_response(const sip::Message& m, const std::string& branch, Txn& t, Clock::time_point now) {
    const int status = m.status_code();
    const esp::IpAddr ue = t.from.ue;
    if (status == 100) return;  // hop by hop
    auto send_back = [&](const Route& r, std::string_view label) {
        auto out = secagree::response_to_ue(m);
        if (!out) return drop("malformed", out.error().message);
        to_ue(*out, ue, r, t.ue_reply, label, t.from.conn);
    };
    const Route back = reg_.route_back(t.from).value_or(Route{});
    const UeKey k{t.impi, ue};
    switch (t.kind) {
        case Kind::sm1:
        case Kind::sm7: {
            if (status < 200) return send_back(t.kind == Kind::sm1 ? back : reg_.failure_route(t.impi, ue), what(m));
            if (status == 401 && t.kind == Kind::sm1) return challenge(m, branch, t, now);
            if (status == 200) {
                auto r = reg_.on_sm12(t.impi, ue, granted(m), now);
                if (r) {  // the core's requests follow the transport the UE registered over
                    if (t.from.conn != 0) tcp_ues_.insert(ue.to_string());
                    else tcp_ues_.erase(ue.to_string());
                    send_back(*r, "200 (SM12)");
                } else {
                    drop("registrar", r.error().reason);
                    send_back(back, "200");
                }
                return registration_done(k, branch);
            }
            // A failure answer to the registration: out the way the registrar says, then
            // the temporary set retires (TS 33.203 7.4.2a).
            send_back(reg_.failure_route(t.impi, ue), what(m));
            reg_.abort(t.impi, ue, now);
            return registration_done(k, branch);
        }
        case Kind::deregister:
            send_back(back, what(m) + " (de-registration)");
            if (status == 200) {  // every set retires; a registration after this is a new one
                reg_.deregistered(t.impi, ue, now);
                tcp_ues_.erase(ue.to_string());
            }
            return registration_done(k, branch);
        case Kind::ue_request:
            if (!back.protected_) return drop("sa_gone", what(m) + " for a UE whose SA went");
            return send_back(back, what(m));
        case Kind::core_request:
            return drop("no_transaction", what(m) + " from the core for its own request");
    }
}

// SM6: the core's 401 to SM1 installs the temporary set; the 401 itself waits in held_
// until the workers have installed it (release_challenges).
void SipProxy::challenge(const sip::Message& m, const std::string& branch, Txn& t, Clock::time_point now) {
    std::optional<sip::AkaKey> ik;
    bool ck = false;
    if (auto ch = sip::auth_values(m, HeaderKind::www_authenticate); ch)
        for (const auto& c : *ch) {
            if (c.ik) ik = c.ik;
            ck = ck || c.ck.has_value();
        }
    if (!ik) {  // TS 33.203 7.2: without IK there is no key for the SAs
        drop("core_401_without_keys", "401 from the core for " + t.impi + " carries no ik" +
                                          std::string(ck ? "" : " and no ck"));
        return refuse_registration(
            branch, t, {500, std::string("the IMS core's 401 carries no integrity key (ik") + (ck ? ")" : ", ck)")}, now);
    }
    auto six = reg_.on_sm6(t.impi, t.from.ue, *ik, now);
    if (!six) return refuse_registration(branch, t, six.error(), now);
    auto out = secagree::challenge_to_ue(m, six->first);
    if (!out) return refuse_registration(branch, t, {500, "cannot relay the core's 401: " + out.error().message}, now);
    held_[{t.impi, t.from.ue}] = {branch, std::move(*out), six->second, now};
}

void SipProxy::release_challenges(Clock::time_point now) {
    for (const secagree::Settled& s : reg_.take_settled()) {
        auto h = held_.find({s.impi, s.ue});
        if (h == held_.end()) continue;
        const HeldChallenge c = std::move(h->second);
        held_.erase(h);
        auto t = txns_.find(c.branch);
        if (t == txns_.end()) {  // forgotten meanwhile: nobody to answer
            reg_.abort(s.impi, s.ue, now);
            registration_done({s.impi, s.ue}, c.branch);
            continue;
        }
        if (s.refused) {
            refuse_registration(c.branch, t->second, *s.refused, now);
            continue;
        }
        keep_ = &t->second.answer_again;  // a retransmitted SM1 gets the 401 again
        to_ue(c.bytes, s.ue, c.route, t->second.ue_reply, "401 (SM6) + Security-Server", t->second.from.conn);
        keep_ = nullptr;
        registration_done({s.impi, s.ue}, c.branch);
    }
}

// SM1 is answered the way it came (plain, or over the set it used).
void SipProxy::refuse_registration(const std::string& branch, const Txn& t, const Refusal& why,
                                   Clock::time_point now) {
    if (auto req = sip::parse_message(t.request, sip::Framing::datagram)) refuse(*req, t.from, why);
    reg_.abort(t.impi, t.from.ue, now);
    registration_done({t.impi, t.from.ue}, branch);
}

void SipProxy::registration_done(const UeKey& k, const std::string& branch) {
    if (auto it = registering_.find(k); it != registering_.end() && it->second == branch) registering_.erase(it);
}

void SipProxy::to_ue(std::string_view bytes, const esp::IpAddr& ue, const Route& r, const Endpoint& plain,
                     std::string_view label, uint32_t conn) {
    if (keep_ != nullptr)  // a final answer: a retransmitted request gets it again
        *keep_ = [this, b = std::string(bytes), ue, r, plain, l = std::string(label), conn] {
            to_ue(b, ue, r, plain, l + " (again)", conn);
        };
    if (conn != 0) {
        const auto id = conn == kOurConnection ? our_connection(ue, r) : std::optional(conn);
        if (!id) return;  // counted there
        auto it = conns_.find(*id);
        if (it == conns_.end())
            return drop("connection_gone", std::string(label) + " to " + ue.to_string() + ": its connection closed");
        TcpConnection* c = it->second.get();
        if (auto err = c->send(bytes); !err.empty()) {
            doomed_.push_back(*id);
            return drop("send", err);
        }
        if (c->wants_write()) watch(*id, *c, EPOLL_CTL_MOD);  // the rest when it can
        ++counters_.to_ue;
        trace_("    -> UE " + c->remote().to_string() + " from :" + std::to_string(c->local().port) +
               (r.protected_ ? " (ESP, TCP)  " : " (plain, TCP)  ") + std::string(label));
        return;
    }
    const UdpSocket* s = nullptr;
    Endpoint to{ue, 0};
    if (!r.protected_) {
        s = socket_for(ue, cfg_.sip_port);
        to = plain;
    } else if (r.port_pc != 0) {  // UDP: everything to the UE leaves port_pc for port_us
        s = socket_for(ue, r.port_pc);
        to.port = r.port_us;
    } else {  // the kept old pair: port_ps -> port_uc is all that is left of it
        s = socket_for(ue, r.port_ps);
        to.port = r.port_uc;
    }
    if (s == nullptr) return drop("no_socket", "no access address of the UE's family");
    if (auto err = s->send(bytes, to); !err.empty()) return drop("send", err);
    ++counters_.to_ue;
    trace_("    -> UE " + to.to_string() + " from :" + std::to_string(s->local().port) +
           (r.protected_ ? " (ESP)  " : " (plain)  ") + std::string(label));
}

void SipProxy::refuse(const sip::Message& request, const Arrival& a, const Refusal& why,
                      std::optional<Route> over) {
    auto w = sip::MessageWriter::response_to(request, uint16_t(why.status), reason_phrase(why.status),
                                             answer_tag(request));
    if (!w) return drop("malformed", "cannot answer: " + w.error().message);
    std::string text = why.reason;
    std::replace_if(text.begin(), text.end(), [](char c) { return c == '"' || c == '\\' || c < 0x20; }, '\'');
    const esp::IpAddr* me = access_for(a.ue);
    (void)w->add_header("Warning", "399 " + (me ? secagree::Hop{"UDP", *me}.host() : std::string("pcscf")) +
                                       " \"" + text + "\"");
    // RFC 3329 2.3.1: a 494 lists what we accept, so the UE can offer again.
    if (why.status == 494) (void)w->add_header(HeaderKind::security_server, sip::format_mechanisms(reg_.mechanisms()));
    if (why.retry_after != 0) (void)w->add_header(HeaderKind::retry_after, std::to_string(why.retry_after));
    // Back the way it came: a protected request over the pair it used.
    const Route r = over ? *over : a.protected_ ? Route{true, a.local_port, 0, a.ue_port, 0} : Route{};
    ++counters_.refused;
    trace_("UE " + where(a) + "  " + what(request) + "  refused " + std::to_string(why.status) + ": " + why.reason);
    to_ue(w->write(), a.ue, r, reply_to(request, a),
          std::to_string(why.status) + " " + std::string(reason_phrase(why.status)), a.conn);
}

void SipProxy::answer_core(const sip::Message& request, const Endpoint& to, int status, std::string_view reason) {
    trace_("core " + to.to_string() + "  " + what(request) + "  refused " + std::to_string(status) + ": " +
           std::string(reason));
    auto w = sip::MessageWriter::response_to(request, uint16_t(status), reason_phrase(status),
                                             answer_tag(request));
    if (!w) return drop("malformed", "cannot answer: " + w.error().message);
    if (auto err = core_socket().send(w->write(), to); !err.empty()) return drop("send", err);
    ++counters_.refused;
    ++counters_.to_core;
}

void SipProxy::drop(std::string_view reason, std::string_view detail) {
    ++counters_.dropped[std::string(reason)];
    trace_("dropped (" + std::string(reason) + "): " + std::string(detail));
}

void SipProxy::tick(Clock::time_point now) {
    std::vector<std::pair<UeKey, std::string>> late;  // 401s whose SAs did not come in time
    std::erase_if(held_, [&](const auto& kv) {
        if (now - kv.second.since < cfg_.sa_install_timeout) return false;
        late.emplace_back(kv.first, kv.second.branch);
        return true;
    });
    for (const auto& [k, branch] : late) {
        drop("sa_install_timeout", "the SAs for " + k.first + " were not installed in time");
        if (auto t = txns_.find(branch); t != txns_.end())
            refuse_registration(branch, t->second, {500, "the datapath did not install the SAs in time", 1}, now);
        else
            reg_.abort(k.first, k.second, now);
        registration_done(k, branch);
    }
    std::erase_if(txns_, [&](const auto& kv) {
        if (now - kv.second.created < cfg_.txn_lifetime) return false;
        by_their_branch_.erase(kv.second.their);
        registration_done({kv.second.impi, kv.second.from.ue}, kv.first);
        return true;
    });
    // Connections outlive what they carry by a transaction's lifetime: unprotected ones
    // (SM1 and its 401) then go; protected ones go once their SAs are gone too, with a
    // reset, since nothing after it could pass the datapath any more.
    std::vector<uint32_t> idle;
    for (const auto& [id, c] : conns_) {
        if (now - c->last_used < cfg_.txn_lifetime) continue;
        const Arrival a{c->remote().addr, c->remote().port, c->local().port, true, id};
        if (c->local().port == cfg_.sip_port) idle.push_back(id);
        else if (!reg_.route_back(a)) {
            c->reset();
            idle.push_back(id);
        }
    }
    for (uint32_t id : idle) close_connection(id);
}

std::optional<uint32_t> SipProxy::our_connection(const esp::IpAddr& ue, const Route& r) {
    const esp::IpAddr* me = access_for(ue);
    if (me == nullptr) {
        drop("no_socket", "no access address of the UE's family");
        return std::nullopt;
    }
    const Endpoint local{*me, r.port_pc}, remote{ue, r.port_us};
    const std::string key = flow_key(local, remote);
    if (auto it = ours_.find(key); it != ours_.end()) return it->second;
    if (conns_.size() >= cfg_.max_connections) {
        drop("too_many_connections", "to " + remote.to_string());
        return std::nullopt;
    }
    auto c = TcpConnection::connect(local, remote);
    if (!c) {
        drop("send", c.error());
        return std::nullopt;
    }
    ++counters_.tcp_connected;
    return ours_[key] = add_connection(std::move(*c));
}

uint32_t SipProxy::add_connection(std::unique_ptr<TcpConnection> c) {
    const uint32_t id = next_conn_++;
    if (next_conn_ == kOurConnection) next_conn_ = 1;  // ids are reused only after 4 billion
    watch(id, *c, EPOLL_CTL_ADD);
    conns_.emplace(id, std::move(c));
    counters_.tcp_open = conns_.size();
    return id;
}

void SipProxy::watch(uint32_t id, const TcpConnection& c, int op) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (c.wants_write() ? uint32_t(EPOLLOUT) : 0);
    ev.data.u64 = tag(tcp_connection, id);
    ::epoll_ctl(epoll_, op, c.fd(), &ev);
}

void SipProxy::close_connection(uint32_t id) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    const TcpConnection& c = *it->second;
    if (auto o = ours_.find(flow_key(c.local(), c.remote())); o != ours_.end() && o->second == id) ours_.erase(o);
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, it->second->fd(), nullptr);
    conns_.erase(it);
    counters_.tcp_open = conns_.size();
}

const UdpSocket* SipProxy::socket_for(const esp::IpAddr& family, uint16_t port) const {
    for (const auto& l : listeners_)
        if (l.side == Side::access && l.socket.local().port == port &&
            l.socket.local().addr.is_v4() == family.is_v4())
            return &l.socket;
    return nullptr;
}

const esp::IpAddr* SipProxy::access_for(const esp::IpAddr& ue) const {
    for (const auto& a : cfg_.access)
        if (a.is_v4() == ue.is_v4()) return &a;
    return nullptr;
}

secagree::Hop SipProxy::core_hop() const { return {"UDP", cfg_.core_local.addr, cfg_.core_local.port}; }

std::string SipProxy::new_branch() { return branch_prefix_ + std::to_string(next_branch_++); }

}  // namespace pcscf::proxy
