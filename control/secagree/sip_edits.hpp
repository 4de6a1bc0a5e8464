#pragma once
// What the P-CSCF changes in the messages it relays during and after sec-agree
// (TS 24.229 5.2.2, TS 33.203 7.2, RFC 3329), as functions from a parsed message to the
// bytes to send. The proxy decides where they go; these decide what they say.
#include <span>
#include <string>
#include <string_view>

#include "control/secagree/registrar.hpp"
#include "sip/sip.hpp"

namespace pcscf::secagree {

// The P-CSCF as it names itself in Via and Path towards the core.
struct Hop {
    std::string transport = "UDP";  // Via transport towards the next hop
    net::IpAddr addr;
    uint16_t port = 5060;
    std::string host() const;       // "192.0.2.1", "[2001:db8::1]"
    std::string host_port() const;  // "192.0.2.1:5060", "[2001:db8::1]:5060"
};

// TS 33.203 7.1 rule 2: the top Via's sent-by is the packet's source address. Its port is
// not compared: a UE following 7.1 names port_us in Via and sends from port_uc over UDP,
// and from an ephemeral port over TCP (seed 004 shows both); which ports a protected
// message used is checked against the SA table instead (rule 4). A symbolic host is
// refused: we do not resolve names here.
std::expected<void, Refusal> check_via_sent_by(const sip::Via& top, const Arrival& from);

// SM1 / SM7 towards the core: Security-Client/-Verify and any P-Asserted-Identity removed,
// sec-agree no longer in Require / Proxy-Require, Authorization marked integrity-protected
// ("yes" or "no"), the UE's Via given received / rport, Path to us, our Via (with
// `branch`) on top.
sip::Result<std::string> register_to_core(const sip::Message& m, const sip::Via& top, const Arrival& from,
                                          const Hop& me, std::string_view branch, bool integrity_protected);

// The core's 401 towards the UE: ik / ck removed, Security-Server added, our Via removed.
sip::Result<std::string> challenge_to_ue(const sip::Message& m, std::span<const sip::SecurityMechanism> server);

// Any other response towards the UE: our Via removed.
sip::Result<std::string> response_to_ue(const sip::Message& m);
// A UE's response towards the core: our Via and any P-Asserted-Identity removed (RFC 3325
// 5: only a trusted node asserts an identity; a UE is not one).
sip::Result<std::string> response_to_core(const sip::Message& m);

// A request relayed either way: our Via on top, Max-Forwards decremented, a top Route
// naming us (our address, any port: the UE routes to our protected port) removed. From a
// UE (`from_ue`), any P-Asserted-Identity is removed as well (RFC 3325 5).
sip::Result<std::string> relay_request(const sip::Message& m, const Hop& me, std::string_view branch, bool from_ue);

}  // namespace pcscf::secagree
