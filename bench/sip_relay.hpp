#pragma once
// The floor under the terminator: a SIP relay that does nothing a P-CSCF could leave out
// and nothing more. It takes each datagram from the UEs' side (an unprotected and a
// protected port, as the terminator has) and sends it on to the core from a port of its
// own, and sends each answer back to where its request came from, found by Call-ID (the
// least a stateful relay has to read). No parsing beyond the Call-ID, no validation, no
// Registrar, no SA, no edits: the core names the relay's protected port in its 401's
// Security-Server, so the UEs behave as they do with the terminator.
//
// Its cost per registration is what receiving and sending the same datagrams costs this
// host, on the same thread and CPU as the terminator's control loop: a floor for the
// control thread's CPU per registration, and its throughput against the direct load an
// upper bound for the terminator's.
#include <functional>
#include <string>
#include <unordered_map>

#include "control/proxy/udp_socket.hpp"
#include "control/string_hash.hpp"

namespace pcscf::bench {

struct RelayResult {
    double cpu_s = 0;        // the relay's CPU time in the load's window
    uint64_t relayed = 0;    // datagrams sent on, both ways, in the window
    uint64_t unmatched = 0;  // answers without a known Call-ID, or datagrams without one
};

class SipRelay {
public:
    // Binds host:first_port (unprotected), first_port + 1 (protected) and first_port + 2
    // (towards the core). Throws std::runtime_error if it cannot.
    SipRelay(net::IpAddr host, uint16_t first_port, const proxy::Endpoint& core);
    ~SipRelay();
    SipRelay(const SipRelay&) = delete;
    SipRelay& operator=(const SipRelay&) = delete;

    proxy::Endpoint unprotected() const { return unprotected_.local(); }
    uint16_t protected_port() const { return protected_.local().port; }

    // Relays until done(); phase() is the load's (0 before its window, 1 in it, 2 after).
    RelayResult serve(const std::function<int()>& phase, const std::function<bool()>& done);

private:
    struct Return {
        proxy::Endpoint to;
        const proxy::UdpSocket* via = nullptr;
    };
    void from_ue(const proxy::UdpSocket& s, RelayResult& r);
    void from_core(RelayResult& r);

    proxy::UdpSocket unprotected_, protected_, core_side_;
    proxy::Endpoint core_;
    int epoll_ = -1;
    std::unordered_map<std::string, Return, ctl::StringHash, std::equal_to<>> calls_;  // by Call-ID
};

}  // namespace pcscf::bench
