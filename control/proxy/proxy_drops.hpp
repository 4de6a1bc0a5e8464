#pragma once
// Every SIP message the proxy neither passes on nor answers itself is counted under one
// reason, and logged once with the detail. Declared once (X-macro), so the names in
// telemetry, the docs and the code cannot drift apart.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pcscf::proxy {

#define PCSCF_PROXY_DROPS(X)                                                                              \
    X(malformed,                                                                                          \
      "not SIP, or missing what RFC 3261 requires; over TCP also a stream that can no longer "            \
      "be delimited (the connection is closed)")                                                          \
    X(too_large, "a UDP datagram over 64 KiB")                                                            \
    X(socket_full,                                                                                        \
      "UDP datagrams the kernel dropped because a socket's buffer was full (SO_RXQ_OVFL): the "           \
      "control thread fell further behind than overload control sheds")                                   \
    X(unprotected, "anything but REGISTER on the unprotected port (TS 33.203 7.1)")                       \
    X(via, "an ACK whose Via address is not its source (TS 33.203 7.1 rule 2; other requests get a 403)") \
    X(wrong_sa,                                                                                           \
      "a protected request claiming an identity (From, P-Preferred-Identity) not registered "             \
      "over its SA (TS 33.203 7.1 rule 4)")                                                               \
    X(no_transaction, "a response to nothing we sent")                                                    \
    X(not_registered, "an ACK from the core for an IMPU not registered here (other requests get a 404)")  \
    X(sa_gone, "the answer to a UE's request, whose SAs went meanwhile")                                  \
    X(registrar, "a 200 to a registration the registrar did not expect (the UE gets it unchanged)")       \
    X(core_401_without_keys,                                                                              \
      "the core challenged a registration without ik (or without ck for an encrypting pair): the UE "     \
      "gets a 500 naming the missing keys, and no SA is made")                                            \
    X(sa_install_timeout,                                                                                 \
      "the workers did not acknowledge a registration's SAs in time: the UE gets a "                      \
      "500 with Retry-After, and the SAs are removed")                                                    \
    X(send,                                                                                               \
      "a send failed; over TCP also a peer that stopped reading (1 MiB queued): the connection is "       \
      "closed")                                                                                           \
    X(no_socket, "no access socket at the address and port a message to a UE leaves from")                \
    X(too_many_connections, "over max_connections TCP connections: the new one is closed at once")        \
    X(connection_gone, "the answer's TCP connection closed before it came")                               \
    X(reg_event_refused, "the core refused our reg event SUBSCRIBE (--reg-event): that UE goes unwatched")

enum class ProxyDrop : uint8_t {
#define PCSCF_X(name, text) name,
    PCSCF_PROXY_DROPS(PCSCF_X)
#undef PCSCF_X
};

inline constexpr std::array kProxyDropNames{
#define PCSCF_X(name, text) std::string_view(#name),
    PCSCF_PROXY_DROPS(PCSCF_X)
#undef PCSCF_X
};
inline constexpr std::array kProxyDropText{
#define PCSCF_X(name, text) std::string_view(text),
    PCSCF_PROXY_DROPS(PCSCF_X)
#undef PCSCF_X
};
inline constexpr size_t kProxyDropCount = kProxyDropNames.size();

constexpr std::string_view name(ProxyDrop d) { return kProxyDropNames[size_t(d)]; }

// What happened to the messages, for telemetry and the tests.
struct ProxyCounters {
    uint64_t from_ue = 0, from_core = 0, to_ue = 0, to_core = 0;
    uint64_t refused = 0;  // answered with an error by the P-CSCF itself
    // Overload control: requests answered 503 because they waited past overload_queue, or
    // because the transaction table was full (3/4 full for new registrations).
    uint64_t shed_late = 0, shed_full = 0;
    // Requests that got no final answer within core_timeout, answered 408 by the P-CSCF
    // (RFC 3261 16.7): a UE's the core did not answer, the core's the UE did not answer.
    uint64_t timeout_core = 0, timeout_ue = 0;
    // Requests answered 503 because the core was unreachable (ICMP): those just sent to
    // it, and those that came while it was (for retry_after, or until it was heard from).
    uint64_t core_unreachable = 0;
    // --reg-event (RFC 3680): subscriptions the core accepted, and registrations it ended
    // itself (a NOTIFY saying so: the UE's SAs then go).
    uint64_t reg_subscribed = 0, reg_ended_by_core = 0;
    // UEs behind a NAT (TS 33.203 Annex M): SM1s answered 494 because they offered no
    // mod=UDP-enc-tun, and NAT ports learnt or changed (a set's outbound SAs moved to it).
    uint64_t nat_refused = 0, nat_port_changes = 0;
    // Messages to UEs behind a NAT that waited for the NAT port to reach the outbound SAs,
    // and those sent after sa_install_timeout without it.
    uint64_t nat_port_waits = 0, nat_port_waits_expired = 0;
    uint64_t sm1_queued_us = 0;  // how long the last new registration over UDP waited in its socket
    uint64_t transactions = 0;   // under way or completed and kept, as of the last tick
    uint64_t tcp_open = 0, tcp_accepted = 0, tcp_connected = 0;  // connections now, in, out
    std::array<uint64_t, kProxyDropCount> dropped{};

    uint64_t operator[](ProxyDrop d) const { return dropped[size_t(d)]; }
};

}  // namespace pcscf::proxy
