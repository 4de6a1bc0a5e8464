#include "control/proxy/udp_socket.hpp"

#include <linux/errqueue.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace pcscf::proxy {

ctl::Expected<UdpSocket> UdpSocket::bind(const Endpoint& local) {
    auto fd = bound_socket(local, SOCK_DGRAM, false);
    if (!fd) return std::unexpected(fd.error());
    // A burst (a registration storm, the core fanning out) waits here while the one control
    // thread works through it: the default buffer (~200 KiB) holds a few hundred messages.
    // FORCE passes net.core.rmem_max when the daemon may (CAP_NET_ADMIN), else the cap applies.
    constexpr int kBuffer = 16 << 20;
    if (::setsockopt(*fd, SOL_SOCKET, SO_RCVBUFFORCE, &kBuffer, sizeof kBuffer) != 0)
        ::setsockopt(*fd, SOL_SOCKET, SO_RCVBUF, &kBuffer, sizeof kBuffer);
    // How long each datagram waited, and how many the full buffer cost: the proxy sheds
    // load by the first (docs/operations.md, "Overload") and counts the second.
    constexpr int kOn = 1;
    ::setsockopt(*fd, SOL_SOCKET, SO_TIMESTAMPNS, &kOn, sizeof kOn);
    ::setsockopt(*fd, SOL_SOCKET, SO_RXQ_OVFL, &kOn, sizeof kOn);
    return UdpSocket(*fd, local);
}

UdpSocket::~UdpSocket() {
    if (fd_ >= 0) ::close(fd_);
}

std::optional<Datagram> UdpSocket::receive(std::span<char> buf) const {
    sockaddr_storage ss;
    iovec iov{buf.data(), buf.size()};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(timespec)) + CMSG_SPACE(sizeof(uint32_t))> control;
    msghdr msg{};
    msg.msg_name = &ss;
    msg.msg_namelen = sizeof ss;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    const ssize_t n = ::recvmsg(fd_, &msg, MSG_TRUNC);
    if (n < 0) return std::nullopt;
    Datagram d{size_t(n), from_sockaddr(ss)};
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET) continue;
        if (c->cmsg_type == SO_TIMESTAMPNS) {
            timespec arrived, now;
            std::memcpy(&arrived, CMSG_DATA(c), sizeof arrived);
            ::clock_gettime(CLOCK_REALTIME, &now);
            const int64_t us = (now.tv_sec - arrived.tv_sec) * 1'000'000 + (now.tv_nsec - arrived.tv_nsec) / 1000;
            d.queued = std::chrono::microseconds(std::max<int64_t>(us, 0));  // the clock may step back
        } else if (c->cmsg_type == SO_RXQ_OVFL) {
            std::memcpy(&d.overflowed, CMSG_DATA(c), sizeof d.overflowed);
        }
    }
    return d;
}

void UdpSocket::report_errors() const {
    constexpr int kOn = 1;
    if (local_.addr.is_v4()) ::setsockopt(fd_, IPPROTO_IP, IP_RECVERR, &kOn, sizeof kOn);
    else ::setsockopt(fd_, IPPROTO_IPV6, IPV6_RECVERR, &kOn, sizeof kOn);
}

std::optional<Endpoint> UdpSocket::take_error() const {
    sockaddr_storage ss{};
    char byte;
    iovec iov{&byte, 1};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(sock_extended_err) + sizeof(sockaddr_in6))> control;
    msghdr msg{};
    msg.msg_name = &ss;  // where the failed datagram went
    msg.msg_namelen = sizeof ss;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    if (::recvmsg(fd_, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return std::nullopt;
    return from_sockaddr(ss);
}

ctl::Expected<void> UdpSocket::send(std::string_view bytes, const Endpoint& to) const {
    sockaddr_storage ss;
    const socklen_t len = to_sockaddr(to, ss);
    if (::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) < 0)
        return system_error("sendto " + to.to_string());
    return {};
}

}  // namespace pcscf::proxy
