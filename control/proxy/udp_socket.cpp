#include "control/proxy/udp_socket.hpp"

#include <sys/socket.h>
#include <unistd.h>

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
    return UdpSocket(*fd, local);
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

ctl::Expected<void> UdpSocket::send(std::string_view bytes, const Endpoint& to) const {
    sockaddr_storage ss;
    const socklen_t len = to_sockaddr(to, ss);
    if (::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) < 0)
        return system_error("sendto " + to.to_string());
    return {};
}

}  // namespace pcscf::proxy
