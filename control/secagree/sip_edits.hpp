#pragma once
// What the P-CSCF changes in the messages it relays during and after sec-agree
// (TS 24.229 5.2.2, TS 33.203 7.2, RFC 3329), as functions from a parsed message to the
// bytes to send. The proxy decides where they go; these decide what they say.
#include <optional>
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
// refused: we do not resolve names here. A UE behind a NAT names its own address, not the
// NAT's (TS 24.229 F.1): `inner` is the one it may name instead (Registrar::nat_inner).
std::expected<void, Refusal> check_via_sent_by(const sip::Via& top, const Arrival& from,
                                               const std::optional<net::IpAddr>& inner = std::nullopt);

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

// Our addresses, for loose routing (RFC 3261 16.4): the access addresses and the one
// towards the core. A Route entry naming any of them (whatever its port) is ours.
struct Ours {
    std::span<const net::IpAddr> access;
    net::IpAddr core;
    bool names(const sip::Uri& uri) const;
};

// Our two faces in a dialog's route set (RFC 5658 double record-routing): the access
// address the UE uses at port_ps (TS 24.229 5.2.6.3: in-dialog requests from the UE come
// over its SA) and our address towards the core.
struct Faces {
    Hop access, core;
};

// Whether a request is initial or stands alone (no To tag): what TS 24.229 5.2.6.3
// asserts an identity for and routes by the Service-Route.
bool initial(const sip::Message& m);
// Whether a request starts a dialog the P-CSCF must stay in: an initial INVITE,
// SUBSCRIBE or REFER.
bool starts_dialog(const sip::Message& m);

// Values as one comma-separated header value (Route: the Service-Route's, in order).
std::string list_value(std::span<const std::string> values);

// What relay_request changes besides our Via and Max-Forwards.
struct RelayEdits {
    bool from_ue = false;  // any P-Asserted-Identity is removed (RFC 3325 5: a UE is not trusted)
    Ours ours{};           // the Route entries on top naming us are removed
    // Both faces put on top of Record-Route, the one facing where the request goes on top
    // (the far end's route set then runs through the core face first, the UE's through the
    // access face).
    std::optional<Faces> record_route{};
    // From a registered UE (TS 24.229 5.2.6.3.1): the identity asserted in a
    // P-Asserted-Identity of ours, any P-Preferred-Identity removed. Empty: none.
    std::string asserted{};
    // From a registered UE: the Service-Route its registration's 200 gave (RFC 3608, TS
    // 24.229 5.2.6.3.2), put as the whole Route once our own entries are gone. Empty: the
    // Route stays as the UE sent it.
    std::span<const std::string> service_route{};
};

// A request relayed either way: our Via on top, Max-Forwards decremented, and `edits`.
sip::Result<std::string> relay_request(const sip::Message& m, const Hop& me, std::string_view branch,
                                       const RelayEdits& edits);

}  // namespace pcscf::secagree
