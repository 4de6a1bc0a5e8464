#include "control/proxy/endpoint.hpp"

#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pcscf::proxy {

std::string Endpoint::to_string() const {
    return (addr.is_v4() ? addr.to_string() : "[" + addr.to_string() + "]") + ":" + std::to_string(port);
}

socklen_t to_sockaddr(const Endpoint& e, sockaddr_storage& ss) {
    std::memset(&ss, 0, sizeof ss);
    if (e.addr.is_v4()) {
        auto* s = reinterpret_cast<sockaddr_in*>(&ss);
        s->sin_family = AF_INET;
        s->sin_port = htons(e.port);
        std::memcpy(&s->sin_addr, e.addr.v4_bytes(), 4);
        return sizeof(sockaddr_in);
    }
    auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(e.port);
    std::memcpy(&s->sin6_addr, e.addr.bytes.data(), 16);
    return sizeof(sockaddr_in6);
}

Endpoint from_sockaddr(const sockaddr_storage& ss) {
    Endpoint e;
    if (ss.ss_family == AF_INET) {
        const auto* s = reinterpret_cast<const sockaddr_in*>(&ss);
        e.addr = net::IpAddr::v4(&s->sin_addr);
        e.port = ntohs(s->sin_port);
    } else {
        const auto* s = reinterpret_cast<const sockaddr_in6*>(&ss);
        e.addr = net::IpAddr::v6(&s->sin6_addr);
        e.port = ntohs(s->sin6_port);
    }
    return e;
}

std::unexpected<ctl::Error> system_error(std::string doing) {
    const int err = errno;
    return ctl::fail(err == EADDRINUSE ? ctl::Errc::exists : ctl::Errc::io, doing + ": " + std::strerror(err));
}

ctl::Expected<int> bound_socket(const Endpoint& local, int type, bool reuse_addr) {
    const bool v4 = local.addr.is_v4();
    const int fd = ::socket(v4 ? AF_INET : AF_INET6, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return system_error("socket");
    const int one = 1;
    if (v4) {
        ::setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
    } else {
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof one);
    }
    if (reuse_addr) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage ss;
    const socklen_t len = to_sockaddr(local, ss);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        auto e = system_error(std::string("cannot bind ") + (type == SOCK_DGRAM ? "UDP " : "TCP ") + local.to_string());
        ::close(fd);
        return e;
    }
    return fd;
}

}  // namespace pcscf::proxy
