#pragma once
// The P-CSCF's subscription to the reg event package (RFC 3680) of each UE it registered
// (TS 24.229 5.2.3), with --reg-event: the core tells it by NOTIFY when it ends a
// registration itself (network-initiated de-registration), and the P-CSCF then lets the
// UE's SAs go. What to send and what a NOTIFY's body says; SipProxy does the I/O.
#include <cstdint>
#include <string>
#include <string_view>

#include "control/proxy/endpoint.hpp"
#include "control/proxy/transactions.hpp"

namespace pcscf::proxy {

struct RegSubscription {
    UeKey ue;          // IMPI, UE address
    std::string impu;  // the resource: the UE's registered IMPU
};

// The SUBSCRIBE (TS 24.229 5.2.3): to the IMPU, Event: reg, Expires 600000, from and
// asserting our own URI at `me` (sip:pcscf@..., its Contact too), over the UE's
// Service-Route when it has one.
struct SubscribeRequest {
    std::string impu, call_id, tag, branch;
    Endpoint me;
    bool tcp = false;
    std::string service_route;  // Route value, or empty
};
std::string subscribe_request(const SubscribeRequest& r);

// Our URI as subscriber: what a NOTIFY for one of our subscriptions is addressed to.
std::string subscriber_uri(const Endpoint& me);

// Whether a reginfo document (RFC 3680 5.3) says the registration of `aor` has ended:
// its <registration> is "terminated", or every <contact> of it is. A document that does
// not mention `aor` says nothing.
bool registration_ended(std::string_view reginfo, std::string_view aor);

}  // namespace pcscf::proxy
