#pragma once
// The SIP proxy's sockets, all on one epoll: on each access address UDP at the
// unprotected port, port_ps and every port_pc, TCP listeners at the unprotected port and
// port_ps, the TCP connections UEs open and the ones we open from a port_pc to a UE's
// port_us; one UDP socket towards the core. It moves whole messages in and bytes out;
// what they mean is SipProxy's.
//
// Threading: the control thread only; poll() never blocks longer than it is told.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "control/proxy/proxy_drops.hpp"
#include "control/proxy/tcp_connection.hpp"
#include "control/proxy/udp_socket.hpp"
#include "sip/message.hpp"

namespace pcscf::proxy {

using Clock = std::chrono::steady_clock;

enum class Side : uint8_t { access, core };

// One message as it arrived: which socket, from where, and on which TCP connection.
struct Inbound {
    std::string_view bytes;
    sip::Framing framing = sip::Framing::datagram;
    Side side = Side::access;
    Endpoint src;
    Endpoint local;     // the access address and port it reached
    uint32_t conn = 0;  // the TCP connection's id; 0: UDP
    // UDP: how long it waited in the socket's buffer (what overload control sheds by).
    std::chrono::microseconds queued{0};
};

struct TransportConfig {
    std::vector<net::IpAddr> access;  // the P-CSCF's access addresses
    uint16_t sip_port = 5060;         // unprotected
    uint16_t port_ps = 5101;
    std::vector<uint16_t> port_pc;
    Endpoint core_local;            // our side towards the core
    size_t max_connections = 4096;  // TCP, from and to UEs
    bool core_tcp = false;          // SIP to the core over TCP (else UDP)
};

class SipTransport {
public:
    using Deliver = std::function<void(const Inbound&)>;
    // A message or connection lost, with what happened.
    using Drop = std::function<void(ProxyDrop, std::string_view detail)>;

    static ctl::Expected<std::unique_ptr<SipTransport>> create(TransportConfig cfg, ProxyCounters& counters, Drop drop);
    ~SipTransport();

    // Hands every message waiting to `deliver` (after waiting up to `timeout_ms` for the
    // first), answers TCP keep-alives; returns how many messages and connections it handled.
    // What is waiting at the unprotected port (new registrations) comes after the rest:
    // registered UEs' protected traffic, their refreshes and the core's answers go first.
    int poll(int timeout_ms, const Deliver& deliver);

    // UDP from `local`, one of our access addresses and ports.
    ctl::Expected<void> send_udp(const Endpoint& local, const Endpoint& to, std::string_view bytes);
    // Over TCP: on the connection from `to` if there is one (a response goes back on its
    // request's, RFC 3261 18.2.2), else on ours to it, opened when first needed.
    ctl::Expected<void> send_core(const Endpoint& to, std::string_view bytes);
    // On TCP connection `id`: the rest is written when the socket takes it.
    ctl::Expected<void> send_tcp(uint32_t id, std::string_view bytes);
    // Our connection from `local` to `remote` (TS 33.203 7.1: port_pc -> port_us): the open
    // one, else a new one.
    ctl::Expected<uint32_t> connection_to(const Endpoint& local, const Endpoint& remote);
    const TcpConnection* connection(uint32_t id) const;

    // Closes connections idle for `idle`: unprotected ones (at the unprotected port) at
    // once, protected ones when `gone` says their SAs are gone too, with a reset (a FIN
    // could not pass the datapath any more).
    void close_idle(Clock::time_point now, std::chrono::milliseconds idle,
                    const std::function<bool(const TcpConnection&, uint32_t id)>& gone);

    const Endpoint& core_local() const { return cfg_.core_local; }
    // Where datagrams from our core socket were refused since the last call (ICMP
    // unreachable: nothing listens there, or no way there).
    std::vector<Endpoint> take_unreachable() { return std::exchange(unreachable_, {}); }
    void set_max_connections(size_t n) { cfg_.max_connections = n; }  // applies to new connections

private:
    struct Listener {
        UdpSocket socket;
        Side side;
        uint32_t overflowed = 0;  // the kernel's count of drops on it, as last seen
    };
    // What an epoll event is about: the high half of its data, the index or id below.
    enum Watch : uint64_t { udp = 0, tcp_listener = 1, tcp_connection = 2 };

    SipTransport(TransportConfig cfg, ProxyCounters& counters, Drop drop)
        : cfg_(std::move(cfg)), counters_(counters), drop_(std::move(drop)) {}

    bool receive(Listener& l, const Deliver& deliver);  // false: nothing waited
    bool unprotected(uint64_t event) const;             // about the unprotected port
    int accept_all(const TcpListener& l);
    int on_connection(uint32_t id, uint32_t events, const Deliver& deliver);
    uint32_t add_connection(std::unique_ptr<TcpConnection> c);
    void watch(uint32_t id, const TcpConnection& c, int op);
    void close_connection(uint32_t id);
    const UdpSocket* socket_for(const Endpoint& local) const;
    // A connection with the core: accepted at core_local, or ours from its address.
    bool with_core(const TcpConnection& c) const {
        return c.local() == cfg_.core_local || c.local() == Endpoint{cfg_.core_local.addr, 0};
    }

    TransportConfig cfg_;
    ProxyCounters& counters_;
    Drop drop_;
    int epoll_ = -1;
    std::vector<Listener> listeners_;  // the core's last
    std::vector<TcpListener> tcp_listeners_;
    std::map<uint32_t, std::unique_ptr<TcpConnection>> conns_;  // by id (0 is UDP)
    std::map<std::pair<Endpoint, Endpoint>, uint32_t> ours_;    // (local, remote) -> our connection
    std::map<Endpoint, uint32_t> from_core_;                    // the core's connections to us, by its end
    std::vector<uint32_t> doomed_;                              // failed while a message was being handled
    std::vector<Endpoint> unreachable_;
    uint32_t next_conn_ = 1;
};

}  // namespace pcscf::proxy
