#include "bench/sip_relay.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <stdexcept>
#include <string_view>

#include "bench/sip_load.hpp"

namespace pcscf::bench {

namespace {

proxy::UdpSocket bind_or_throw(const proxy::Endpoint& at) {
    auto s = proxy::UdpSocket::bind(at);
    if (!s) throw std::runtime_error("relay: " + s.error().message);
    return std::move(*s);
}

// The Call-ID's value, as the load and its core write it ("Call-ID: " at a line's start).
std::string_view call_id(std::string_view msg) {
    constexpr std::string_view kName = "\r\nCall-ID: ";
    const size_t at = msg.find(kName);
    if (at == std::string_view::npos) return {};
    const size_t from = at + kName.size(), end = msg.find("\r\n", from);
    return end == std::string_view::npos ? std::string_view{} : msg.substr(from, end - from);
}

thread_local std::array<char, 65536> g_buf;

}  // namespace

SipRelay::SipRelay(net::IpAddr host, uint16_t first_port, const proxy::Endpoint& core)
    : unprotected_(bind_or_throw({host, first_port})),
      protected_(bind_or_throw({host, uint16_t(first_port + 1)})),
      core_side_(bind_or_throw({host, uint16_t(first_port + 2)})),
      core_(core),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (epoll_ < 0) throw std::runtime_error("relay: epoll_create1 failed");
    for (const auto* s : {&unprotected_, &protected_, &core_side_}) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = const_cast<proxy::UdpSocket*>(s);
        if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, s->fd(), &ev) != 0) throw std::runtime_error("relay: epoll_ctl failed");
    }
    calls_.reserve(1 << 16);
}

SipRelay::~SipRelay() { ::close(epoll_); }

void SipRelay::from_ue(const proxy::UdpSocket& s, RelayResult& r) {
    while (auto d = s.receive(g_buf)) {
        const std::string_view msg(g_buf.data(), std::min(d->size, g_buf.size()));
        const std::string_view id = call_id(msg);
        if (id.empty()) {
            ++r.unmatched;
            continue;
        }
        auto [it, fresh] = calls_.try_emplace(std::string(id));
        it->second = {d->from, &s};
        if (core_side_.send(msg, core_)) ++r.relayed;
    }
}

void SipRelay::from_core(RelayResult& r) {
    while (auto d = core_side_.receive(g_buf)) {
        const std::string_view msg(g_buf.data(), std::min(d->size, g_buf.size()));
        const auto it = calls_.find(call_id(msg));
        if (it == calls_.end()) {
            ++r.unmatched;
            continue;
        }
        if (it->second.via->send(msg, it->second.to)) ++r.relayed;
    }
}

RelayResult SipRelay::serve(const std::function<int()>& phase, const std::function<bool()>& done) {
    RelayResult r, window;
    int seen = 0;
    double cpu0 = 0;
    std::array<epoll_event, 16> ev;
    while (!done()) {
        if (const int ph = phase(); seen == 0 && ph == 1) {
            cpu0 = thread_cpu_seconds();
            r = {};
            seen = 1;
        } else if (seen == 1 && ph == 2) {
            window = r;
            window.cpu_s = thread_cpu_seconds() - cpu0;
            seen = 2;
        }
        const int n = ::epoll_wait(epoll_, ev.data(), int(ev.size()), 1);
        for (int i = 0; i < n; ++i) {
            const auto* s = static_cast<const proxy::UdpSocket*>(ev[size_t(i)].data.ptr);
            if (s == &core_side_) from_core(r);
            else from_ue(*s, r);
        }
    }
    if (seen == 1) {
        window = r;
        window.cpu_s = thread_cpu_seconds() - cpu0;
    }
    calls_.clear();
    return window;
}

}  // namespace pcscf::bench
