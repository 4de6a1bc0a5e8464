#pragma once
// An address and port, and the socket plumbing the UDP and TCP sides share: sockaddr
// conversion and a non-blocking socket bound to one endpoint. On the access side the
// addresses live on the tap (the kernel's view of the access link); IP(V6)_FREEBIND lets
// us bind before they finish duplicate address detection.
#include <sys/socket.h>

#include <cstdint>
#include <expected>
#include <string>

#include "control/error.hpp"
#include "net/ip_addr.hpp"

namespace pcscf::proxy {

struct Endpoint {
    net::IpAddr addr;
    uint16_t port = 0;
    std::string to_string() const;  // "10.0.0.1:5060", "[2001:db8::1]:5060"
    bool operator==(const Endpoint&) const = default;
    auto operator<=>(const Endpoint&) const = default;
};

socklen_t to_sockaddr(const Endpoint& e, sockaddr_storage& ss);
Endpoint from_sockaddr(const sockaddr_storage& ss);

// socket(type) + FREEBIND (+ SO_REUSEADDR when asked) + bind; the fd or why not.
ctl::Expected<int> bound_socket(const Endpoint& local, int type, bool reuse_addr);
// The system's error for the last call, as an Error saying what was being done.
std::unexpected<ctl::Error> system_error(std::string doing);

}  // namespace pcscf::proxy
