#pragma once
// SipProxy on loopback, with a real Registrar, SaManager, rings and ESP engines (SaRig):
// the UE and the IMS core are UDP sockets of the test. Each process takes its own
// 127.x.y.0/24 (from its pid), so suites run in parallel on fixed ports.
//
// Loopback has no datapath in front of the proxy: a message the UE sends to port_ps or a
// port_pc stands for one that arrived over ESP and verified (on a P-CSCF host nothing
// else reaches those ports). The clock is the test's: `now` moves only when told.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "control/proxy/sip_proxy.hpp"
#include "tests/control/sa_rig.hpp"

namespace pcscf::test {

using namespace std::chrono_literals;

inline net::IpAddr loopback(uint8_t host) {
    const uint32_t pid = uint32_t(::getpid());
    return *net::IpAddr::parse("127." + std::to_string(1 + (pid >> 8) % 254) + "." + std::to_string(pid & 0xff) + "." +
                               std::to_string(host));
}

// A UDP endpoint of the test (UE or core).
struct Peer {
    explicit Peer(const proxy::Endpoint& at) : socket(*proxy::UdpSocket::bind(at)) {}
    void send(const std::string& bytes, const proxy::Endpoint& to) const {
        const auto sent = socket.send(bytes, to);
        ASSERT_TRUE(sent.has_value()) << "to " << to.to_string() << ": " << sent.error().message;
    }
    std::optional<std::string> take() {
        static char buf[65536];
        auto got = socket.receive(buf);
        if (!got) return std::nullopt;
        last_from = got->from;
        return std::string(buf, got->size);
    }
    proxy::UdpSocket socket;
    proxy::Endpoint last_from;  // where the last datagram taken came from
};

class ProxyRig : public SaRig {
public:
    static constexpr uint16_t kSipPort = 5060, kPortPs = 5101, kCorePort = 5070;
    // Two access addresses, as a P-CSCF may have: UEs use the first unless told otherwise.
    const net::IpAddr pcscf = loopback(1), ue_addr = loopback(2), core_addr = loopback(3), pcscf2 = loopback(4);

    // `pc`: the proxy's limits; its addresses are the rig's.
    explicit ProxyRig(secagree::RegistrarConfig rc = {}, proxy::ProxyConfig pc = {})
        : reg_cfg(rc), reg(*sas, rc, pcscf, net::IpAddr{}) {
        sas->set_listener([this](const ctl::SaInfo& sa, const esp::SaEvent& e) { reg.on_sa_event(sa, e); });
        pc.access = {pcscf, pcscf2};
        pc.sip_port = kSipPort;
        pc.core = {core_addr, 5060};
        pc.core_local = {pcscf, kCorePort};
        auto p = proxy::SipProxy::create(pc, rc, reg, [](std::string_view line) {
            if (std::getenv("PCSCF_TRACE")) std::fprintf(stderr, "sip: %.*s\n", int(line.size()), line.data());
        });
        if (!p) throw std::runtime_error(p.error().message);
        proxy = std::move(*p);
        core.emplace(proxy::Endpoint{core_addr, 5060});
    }

    // What the control loop does between packets: the workers apply records, the SA
    // events are pumped, the proxy handles what waits.
    void round() {
        step();
        proxy->poll(0, now);
    }
    // Rounds of the proxy and the SA events with the workers idle: what they were sent
    // waits in their rings.
    void proxy_alone(int rounds = 20) {
        for (int i = 0; i < rounds; ++i) {
            proxy->poll(1, now);
            sas->pump();
        }
    }
    // Rounds until `peer` receives a datagram (the bound only guards against a hang).
    std::string expect(Peer& peer, std::string_view what) {
        for (int i = 0; i < 2000; ++i) {
            round();
            if (auto m = peer.take()) return *m;
            std::this_thread::sleep_for(1ms);
        }
        ADD_FAILURE() << "nothing arrived: " << what;
        return {};
    }
    // Rounds for a while, then whether nothing arrived at `peer`.
    bool silent(Peer& peer) {
        for (int i = 0; i < 20; ++i) {
            round();
            if (peer.take()) return false;
            std::this_thread::sleep_for(1ms);
        }
        return true;
    }
    void advance(std::chrono::milliseconds d) {
        now += d;
        reg.tick(now);
        proxy->tick(now);
        round();
    }

    proxy::Endpoint sip_port() const { return {pcscf, kSipPort}; }
    proxy::Endpoint port_ps() const { return {pcscf, kPortPs}; }
    proxy::Endpoint core_side() const { return {pcscf, kCorePort}; }

    secagree::Clock::time_point now = secagree::Clock::time_point{} + 1000s;
    secagree::RegistrarConfig reg_cfg;
    secagree::Registrar reg;
    std::unique_ptr<proxy::SipProxy> proxy;
    std::optional<Peer> core;
};

}  // namespace pcscf::test
