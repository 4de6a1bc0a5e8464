#include "control/proxy/udp_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pcscf::proxy {

namespace {

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
        e.addr = esp::IpAddr::v4(&s->sin_addr);
        e.port = ntohs(s->sin_port);
    } else {
        const auto* s = reinterpret_cast<const sockaddr_in6*>(&ss);
        e.addr = esp::IpAddr::v6(&s->sin6_addr);
        e.port = ntohs(s->sin6_port);
    }
    return e;
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

std::string Endpoint::to_string() const {
    return (addr.is_v4() ? addr.to_string() : "[" + addr.to_string() + "]") + ":" + std::to_string(port);
}

std::expected<UdpSocket, std::string> UdpSocket::bind(const Endpoint& local) {
    const bool v4 = local.addr.is_v4();
    const int fd = ::socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::unexpected("socket: " + errno_text());
    const int one = 1;
    if (v4) {
        ::setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
    } else {
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof one);
    }
    sockaddr_storage ss;
    const socklen_t len = to_sockaddr(local, ss);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        const std::string why = errno_text();
        ::close(fd);
        return std::unexpected("cannot bind UDP " + local.to_string() + ": " + why);
    }
    return UdpSocket(fd, local);
}

UdpSocket::~UdpSocket() {
    if (fd_ >= 0) ::close(fd_);
}

std::optional<std::pair<size_t, Endpoint>> UdpSocket::receive(std::span<char> buf) const {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    const ssize_t n = ::recvfrom(fd_, buf.data(), buf.size(), MSG_TRUNC, reinterpret_cast<sockaddr*>(&ss), &len);
    if (n < 0) return std::nullopt;
    return std::pair{size_t(n), from_sockaddr(ss)};
}

std::string UdpSocket::send(std::string_view bytes, const Endpoint& to) const {
    sockaddr_storage ss;
    const socklen_t len = to_sockaddr(to, ss);
    if (::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) < 0)
        return "sendto " + to.to_string() + ": " + errno_text();
    return {};
}

}  // namespace pcscf::proxy
