#pragma once
// The control thread's UDP sockets for SIP: non-blocking, bound to one address and port.
#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "control/proxy/endpoint.hpp"

namespace pcscf::proxy {

// A datagram taken from the socket: its real size (larger than the buffer when it was
// cut: the caller drops it as too large), its source, how long it waited in the socket's
// buffer (the kernel's arrival stamp against now), and how many datagrams the kernel has
// dropped on this socket since it opened because the buffer was full (SO_RXQ_OVFL).
struct Datagram {
    size_t size = 0;
    Endpoint from;
    std::chrono::microseconds queued{0};
    uint32_t overflowed = 0;
};

class UdpSocket {
public:
    static ctl::Expected<UdpSocket> bind(const Endpoint& local);
    UdpSocket(UdpSocket&& o) noexcept : fd_(o.fd_), local_(o.local_) { o.fd_ = -1; }
    UdpSocket& operator=(UdpSocket&&) = delete;
    UdpSocket(const UdpSocket&) = delete;
    ~UdpSocket();

    int fd() const { return fd_; }
    const Endpoint& local() const { return local_; }
    // One waiting datagram into `buf`, or nothing when none waits.
    std::optional<Datagram> receive(std::span<char> buf) const;
    ctl::Expected<void> send(std::string_view bytes, const Endpoint& to) const;
    // ICMP errors for what this socket sends are queued (IP_RECVERR) instead of lost;
    // take_error() gives the destination of the next datagram that failed.
    void report_errors() const;
    std::optional<Endpoint> take_error() const;

private:
    UdpSocket(int fd, const Endpoint& local) : fd_(fd), local_(local) {}
    int fd_ = -1;
    Endpoint local_;
};

}  // namespace pcscf::proxy
