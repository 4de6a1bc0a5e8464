#include "control/proxy/sip_transport.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <array>

namespace pcscf::proxy {

namespace {
uint64_t tag(uint64_t watch, uint32_t id) { return watch << 32 | id; }
}  // namespace

ctl::Expected<std::unique_ptr<SipTransport>> SipTransport::create(TransportConfig cfg, ProxyCounters& counters,
                                                                  Drop drop) {
    std::unique_ptr<SipTransport> t(new SipTransport(std::move(cfg), counters, std::move(drop)));
    t->epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (t->epoll_ < 0) return system_error("epoll_create1");
    std::vector<std::pair<Endpoint, Side>> binds;
    for (const auto& a : t->cfg_.access) {
        binds.push_back({{a, t->cfg_.sip_port}, Side::access});
        binds.push_back({{a, t->cfg_.port_ps}, Side::access});
        for (uint16_t pc : t->cfg_.port_pc) binds.push_back({{a, pc}, Side::access});
    }
    binds.push_back({t->cfg_.core_local, Side::core});
    auto add = [&](int fd, uint64_t data) -> ctl::Expected<void> {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = data;
        if (::epoll_ctl(t->epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) return system_error("epoll_ctl");
        return {};
    };
    t->listeners_.reserve(binds.size());
    for (const auto& [ep, side] : binds) {
        auto s = UdpSocket::bind(ep);
        if (!s) return std::unexpected(s.error());
        if (side == Side::core) s->report_errors();  // the core down: told at once (SipProxy)
        if (auto r = add(s->fd(), tag(udp, uint32_t(t->listeners_.size()))); !r) return std::unexpected(r.error());
        t->listeners_.push_back({std::move(*s), side});
    }
    // UEs connect over TCP to the unprotected port (SM1) and to port_ps (TS 33.203 7.1);
    // over TCP the core connects to core_local for its requests.
    std::vector<Endpoint> listen;
    for (const auto& a : t->cfg_.access)
        for (uint16_t port : {t->cfg_.sip_port, t->cfg_.port_ps}) listen.push_back({a, port});
    if (t->cfg_.core_tcp) listen.push_back(t->cfg_.core_local);
    for (const Endpoint& at : listen) {
        auto l = TcpListener::listen(at);
        if (!l) return std::unexpected(l.error());
        if (auto r = add(l->fd(), tag(tcp_listener, uint32_t(t->tcp_listeners_.size()))); !r)
            return std::unexpected(r.error());
        t->tcp_listeners_.push_back(std::move(*l));
    }
    return t;
}

SipTransport::~SipTransport() {
    if (epoll_ >= 0) ::close(epoll_);
}

int SipTransport::poll(int timeout_ms, const Deliver& deliver) {
    std::array<epoll_event, 16> ev;
    const int n = ::epoll_wait(epoll_, ev.data(), int(ev.size()), timeout_ms);
    int handled = 0;
    std::stable_partition(ev.begin(), ev.begin() + std::max(n, 0),
                          [&](const epoll_event& e) { return !unprotected(e.data.u64); });
    for (int i = 0; i < n; ++i) {
        const auto id = uint32_t(ev[i].data.u64);
        switch (ev[i].data.u64 >> 32) {
            case udp:  // drain each socket, but let the SA rings have their turn
                if (ev[i].events & EPOLLERR)
                    while (auto e = listeners_[id].socket.take_error()) unreachable_.push_back(*e);
                for (int k = 0; k < 64 && receive(listeners_[id], deliver); ++k) ++handled;
                break;
            case tcp_listener: handled += accept_all(tcp_listeners_[id]); break;
            case tcp_connection: handled += std::max(1, on_connection(id, ev[i].events, deliver)); break;
        }
    }
    for (uint32_t id : doomed_) close_connection(id);
    doomed_.clear();
    return handled;
}

bool SipTransport::unprotected(uint64_t event) const {
    const auto id = uint32_t(event);
    switch (event >> 32) {
        case udp: return listeners_[id].socket.local().port == cfg_.sip_port;
        case tcp_listener:
            return tcp_listeners_[id].local().port == cfg_.sip_port && tcp_listeners_[id].local() != cfg_.core_local;
        default: {
            auto it = conns_.find(id);
            return it != conns_.end() && it->second->local().port == cfg_.sip_port && !with_core(*it->second);
        }
    }
}

bool SipTransport::receive(Listener& l, const Deliver& deliver) {
    static thread_local std::array<char, 65536> buf;
    const auto got = l.socket.receive(buf);
    if (!got) return false;
    if (got->overflowed > l.overflowed) {  // the kernel's count, reported with the next datagram it kept
        counters_.dropped[size_t(ProxyDrop::socket_full)] += got->overflowed - l.overflowed;
        l.overflowed = got->overflowed;
    }
    if (got->size > buf.size()) {
        drop_(ProxyDrop::too_large, "a datagram over 64 KiB from " + got->from.to_string());
        return true;
    }
    const std::string_view bytes(buf.data(), got->size);
    if (bytes.find_first_not_of("\r\n") == std::string_view::npos) return true;  // keep-alive
    deliver({bytes, sip::Framing::datagram, l.side, got->from, l.socket.local(), 0, got->queued});
    return true;
}

int SipTransport::accept_all(const TcpListener& l) {
    int k = 0;
    for (; k < 64; ++k) {
        auto got = l.accept();
        if (!got) break;
        auto c = std::make_unique<TcpConnection>(got->first, l.local(), got->second);
        if (conns_.size() >= cfg_.max_connections && !with_core(*c)) {
            drop_(ProxyDrop::too_many_connections,
                  "from " + got->second.to_string() + " (" + std::to_string(conns_.size()) + " open)");
            continue;  // the destructor closes it
        }
        ++counters_.tcp_accepted;
        const bool core = with_core(*c);
        const Endpoint remote = c->remote();
        const uint32_t id = add_connection(std::move(c));
        if (core) from_core_[remote] = id;
    }
    return k;
}

int SipTransport::on_connection(uint32_t id, uint32_t events, const Deliver& deliver) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return 0;
    TcpConnection& c = *it->second;
    if (events & EPOLLOUT) {
        if (auto r = c.flush(); !r) {
            drop_(ProxyDrop::send, r.error().message);
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
                if (!c.send("\r\n")) doomed_.push_back(id);
                else if (c.wants_write()) watch(id, c, EPOLL_CTL_MOD);
            } else if (f->kind == sip::FrameKind::message) {
                deliver({f->bytes, sip::Framing::stream, with_core(c) ? Side::core : Side::access, c.remote(),
                         c.local(), id});
                ++handled;
            }
        }
        if (!f) {  // the stream can no longer be delimited: nothing more can be read from it
            drop_(ProxyDrop::malformed, "TCP from " + c.remote().to_string() + ": " + f.error().message);
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

ctl::Expected<void> SipTransport::send_udp(const Endpoint& local, const Endpoint& to, std::string_view bytes) {
    const UdpSocket* s = socket_for(local);
    if (s == nullptr || local.addr.is_v4() != to.addr.is_v4())
        return ctl::fail(ctl::Errc::not_found,
                         "no access socket at " + local.to_string() + " for " + to.addr.to_string());
    return s->send(bytes, to);
}

ctl::Expected<void> SipTransport::send_core(const Endpoint& to, std::string_view bytes) {
    if (!cfg_.core_tcp) return listeners_.back().socket.send(bytes, to);  // bound last
    if (auto in = from_core_.find(to); in != from_core_.end()) return send_tcp(in->second, bytes);
    auto id = connection_to({cfg_.core_local.addr, 0}, to);
    if (!id) return std::unexpected(id.error());
    return send_tcp(*id, bytes);
}

ctl::Expected<void> SipTransport::send_tcp(uint32_t id, std::string_view bytes) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return ctl::fail(ctl::Errc::not_found, "its connection closed");
    TcpConnection& c = *it->second;
    if (auto r = c.send(bytes); !r) {
        doomed_.push_back(id);
        return r;
    }
    if (c.wants_write()) watch(id, c, EPOLL_CTL_MOD);  // the rest when it can
    return {};
}

ctl::Expected<uint32_t> SipTransport::connection_to(const Endpoint& local, const Endpoint& remote) {
    if (auto it = ours_.find({local, remote}); it != ours_.end()) return it->second;
    if (conns_.size() >= cfg_.max_connections)
        return ctl::fail(ctl::Errc::exhausted, std::to_string(conns_.size()) + " connections open");
    auto c = TcpConnection::connect(local, remote);
    if (!c) return std::unexpected(c.error());
    ++counters_.tcp_connected;
    return ours_[{local, remote}] = add_connection(std::move(*c));
}

const TcpConnection* SipTransport::connection(uint32_t id) const {
    auto it = conns_.find(id);
    return it == conns_.end() ? nullptr : it->second.get();
}

void SipTransport::close_idle(Clock::time_point now, std::chrono::milliseconds idle,
                              const std::function<bool(const TcpConnection&, uint32_t)>& gone) {
    std::vector<uint32_t> done;
    for (const auto& [id, c] : conns_) {
        if (now - c->last_used < idle || with_core(*c)) continue;  // the core's stay
        if (c->local().port == cfg_.sip_port) {
            done.push_back(id);
        } else if (gone(*c, id)) {
            c->reset();
            done.push_back(id);
        }
    }
    for (uint32_t id : done) close_connection(id);
}

uint32_t SipTransport::add_connection(std::unique_ptr<TcpConnection> c) {
    const uint32_t id = next_conn_++;
    if (next_conn_ == ~0u) next_conn_ = 1;  // 0 is UDP; ids are reused only after 4 billion
    watch(id, *c, EPOLL_CTL_ADD);
    conns_.emplace(id, std::move(c));
    counters_.tcp_open = conns_.size();
    return id;
}

void SipTransport::watch(uint32_t id, const TcpConnection& c, int op) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (c.wants_write() ? uint32_t(EPOLLOUT) : 0);
    ev.data.u64 = tag(tcp_connection, id);
    ::epoll_ctl(epoll_, op, c.fd(), &ev);
}

void SipTransport::close_connection(uint32_t id) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    const TcpConnection& c = *it->second;
    if (auto o = ours_.find({c.local(), c.remote()}); o != ours_.end() && o->second == id) ours_.erase(o);
    if (auto in = from_core_.find(c.remote()); in != from_core_.end() && in->second == id) from_core_.erase(in);
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd(), nullptr);
    conns_.erase(it);
    counters_.tcp_open = conns_.size();
}

const UdpSocket* SipTransport::socket_for(const Endpoint& local) const {
    for (const auto& l : listeners_)
        if (l.side == Side::access && l.socket.local() == local) return &l.socket;
    return nullptr;
}

}  // namespace pcscf::proxy
