#include "control/proxy/tcp_connection.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace pcscf::proxy {

ctl::Expected<TcpListener> TcpListener::listen(const Endpoint& local) {
    auto fd = bound_socket(local, SOCK_STREAM, true);  // restarts while old connections linger
    if (!fd) return std::unexpected(fd.error());
    if (::listen(*fd, 128) != 0) {
        auto e = system_error("cannot listen on TCP " + local.to_string());
        ::close(*fd);
        return e;
    }
    return TcpListener(*fd, local);
}

TcpListener::~TcpListener() {
    if (fd_ >= 0) ::close(fd_);
}

std::optional<std::pair<int, Endpoint>> TcpListener::accept() const {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    const int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return std::nullopt;
    return std::pair{fd, from_sockaddr(ss)};
}

TcpConnection::TcpConnection(int fd, const Endpoint& local, const Endpoint& remote)
    : last_used(std::chrono::steady_clock::now()), fd_(fd), local_(local), remote_(remote) {}

ctl::Expected<std::unique_ptr<TcpConnection>> TcpConnection::connect(const Endpoint& local, const Endpoint& remote) {
    auto fd = bound_socket(local, SOCK_STREAM, true);
    if (!fd) return std::unexpected(fd.error());
    sockaddr_storage ss;
    const socklen_t len = to_sockaddr(remote, ss);
    if (::connect(*fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
        auto e = system_error("connect " + local.to_string() + " -> " + remote.to_string());
        ::close(*fd);
        return e;
    }
    auto c = std::make_unique<TcpConnection>(*fd, local, remote);
    c->connecting_ = true;
    return c;
}

TcpConnection::~TcpConnection() {
    if (fd_ >= 0) ::close(fd_);
}

TcpConnection::Read TcpConnection::read() {
    for (;;) {
        auto area = framer_.write_area();
        if (area.empty()) return Read::full;
        const ssize_t n = ::recv(fd_, area.data(), area.size(), 0);
        if (n > 0) {
            framer_.commit(size_t(n));
            last_used = std::chrono::steady_clock::now();
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Read::drained;
        if (n < 0 && errno == EINTR) continue;
        return Read::closed;  // 0: the peer closed; else an error (reset, timeout)
    }
}

ctl::Expected<void> TcpConnection::send(std::string_view bytes) {
    if (queued_.size() + bytes.size() > kMaxQueued)
        return ctl::fail(ctl::Errc::exhausted,
                         "over " + std::to_string(kMaxQueued) + " bytes queued to " + remote_.to_string());
    queued_.append(bytes);
    last_used = std::chrono::steady_clock::now();
    if (connecting_) return {};
    return flush();
}

ctl::Expected<void> TcpConnection::flush() {
    if (connecting_) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
        sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        if (err == 0 && ::getpeername(fd_, reinterpret_cast<sockaddr*>(&peer), &plen) != 0) return {};  // not yet
        if (err != 0) {
            errno = err;
            return system_error("connect to " + remote_.to_string());
        }
        connecting_ = false;
    }
    while (!queued_.empty()) {
        const ssize_t n = ::send(fd_, queued_.data(), queued_.size(), MSG_NOSIGNAL);
        if (n > 0) {
            queued_.erase(0, size_t(n));
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return {};
        if (n < 0 && errno == EINTR) continue;
        return system_error("send to " + remote_.to_string());
    }
    return {};
}

void TcpConnection::reset() {
    const linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

}  // namespace pcscf::proxy
