#pragma once
// The P-CSCF's SIP proxy: it terminates sec-agree with the Registrar and relays everything
// else between the UEs and the IMS core, statelessly but for a table of its own branches
// (to send each response back the way its request came).
//
//   access side (the tap's addresses), UDP and TCP     core side, UDP
//   :sip_port  unprotected, REGISTER only              core_local -> core
//   :port_ps   protected server port (TCP: listens)
//   :port_pc   protected client ports (TCP: our connections to the UE's port_us)
//
// A message that reaches a protected port came over ESP that verified: the datapath drops
// plain packets to those ports. Which SA carried it is told by its ports (TS 33.203 7.1).
// Over UDP everything to the UE leaves port_pc for port_us; over TCP a response goes back
// on the connection its request came on, and a request on ours, port_pc -> port_us.
//
// Threading: the control thread only; poll() never blocks longer than it is told.
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "control/proxy/tcp_connection.hpp"
#include "control/proxy/udp_socket.hpp"
#include "control/secagree/sip_edits.hpp"

namespace pcscf::proxy {

using Clock = std::chrono::steady_clock;

struct ProxyConfig {
    std::vector<esp::IpAddr> access;  // the P-CSCF's access addresses (IPv4 and/or IPv6)
    uint16_t sip_port = 5060;         // the unprotected port on them
    Endpoint core;                    // next hop towards the IMS core (I-/S-CSCF)
    Endpoint core_local;              // our side towards it: what Via and Path name
    std::chrono::milliseconds txn_lifetime{32000};  // RFC 3261 64*T1
    // A 401 waits for the workers to install the SAs it announces; past this the
    // registration is refused (500), as a datapath that does not apply records is broken.
    std::chrono::milliseconds sa_install_timeout{2000};
    size_t max_connections = 4096;                  // TCP, from and to UEs
};

// What happened to the messages, for telemetry and the tests.
struct ProxyCounters {
    uint64_t from_ue = 0, from_core = 0, to_ue = 0, to_core = 0;
    uint64_t refused = 0;  // answered with an error by the P-CSCF itself
    uint64_t tcp_open = 0, tcp_accepted = 0, tcp_connected = 0;  // connections now, in, out
    std::map<std::string, uint64_t> dropped;  // by reason
};

class SipProxy {
public:
    // One line per message handled (direction, method or status, ports, SA), for the log.
    using Trace = std::function<void(std::string_view)>;

    static std::expected<std::unique_ptr<SipProxy>, std::string> create(
        ProxyConfig cfg, const secagree::RegistrarConfig& ports, secagree::Registrar& reg, Trace trace);

    // Handles every message and connection waiting, waiting up to `timeout_ms` for the
    // first one. Returns how many were handled (0: nothing happened).
    int poll(int timeout_ms, Clock::time_point now);
    // Forgets transactions 32 s old (completed ones answer retransmissions until then);
    // refuses registrations whose SAs were not installed in time;
    // closes idle unprotected connections and protected ones whose SAs are gone.
    void tick(Clock::time_point now);

    const ProxyCounters& counters() const { return counters_; }
    ~SipProxy();

private:
    enum class Side : uint8_t { access, core };
    struct Listener {
        UdpSocket socket;
        Side side;
    };
    // What an epoll event is about: the high half of its data, the index or id below.
    enum Watch : uint64_t { udp = 0, tcp_listener = 1, tcp_connection = 2 };
    // to_ue's `conn` for a request over TCP: on our connection port_pc -> port_us.
    static constexpr uint32_t kOurConnection = ~0u;
    enum class Kind : uint8_t { sm1, sm7, deregister, ue_request, core_request };
    struct Txn {
        Kind kind;
        std::string impi;             // the UE's IMPI; for the core's requests the IMPU
        secagree::Arrival from;       // the UE's request: where it came from
        Endpoint ue_reply;            // unprotected answers go here (Via / rport)
        Endpoint core_from;           // the core's request: who sent it
        std::string request;          // as received, to answer it ourselves
        std::string relayed;          // as sent, for retransmissions
        Clock::time_point created;
        std::string their;            // the sender's branch @ its address (retransmissions)
        // Once the final answer went back the transaction is completed (RFC 3261 17.2.1):
        // a retransmitted request gets that answer again, not the registrar or the core.
        bool done = false;
        std::function<void()> answer_again;
    };

    SipProxy(ProxyConfig cfg, const secagree::RegistrarConfig& ports, secagree::Registrar& reg, Trace trace)
        : cfg_(std::move(cfg)), port_ps_(ports.port_ps), port_pc_(ports.port_pc), reg_(reg), trace_(std::move(trace)) {}

    bool receive(const Listener& l, Clock::time_point now);  // false: nothing waited
    // Both return how many things they handled (connections, messages), for poll().
    int accept_all(const TcpListener& l);
    int on_connection(uint32_t id, uint32_t events, Clock::time_point now);
    // One message from either transport; the core side is UDP only.
    void handle(std::string_view bytes, sip::Framing framing, Side side, const Endpoint& src,
                uint16_t local_port, uint32_t conn, Clock::time_point now);
    void from_ue(const sip::Message& m, const secagree::Arrival& a, Clock::time_point now);
    void ue_register(const sip::Message& m, const secagree::Arrival& a, Clock::time_point now);
    void ue_response(const sip::Message& m, const secagree::Arrival& a);
    void from_core(const sip::Message& m, const Endpoint& from, Clock::time_point now);
    void core_response(const sip::Message& m, const std::string& branch, Txn& t, Clock::time_point now);
    void challenge(const sip::Message& m, const std::string& branch, Txn& t, Clock::time_point now);

    // Relays a UE's request to the core under a new branch (a retransmission: the same).
    void to_core(const sip::Message& m, const secagree::Arrival& a, Kind kind, const std::string& impi,
                 bool integrity_protected, Clock::time_point now);
    // Sends to the UE over `r` (or unprotected to `plain` when r is not protected); over
    // TCP connection `conn` when it is not 0 (kOurConnection: ours to port_us).
    void to_ue(std::string_view bytes, const esp::IpAddr& ue, const secagree::Route& r, const Endpoint& plain,
               std::string_view what, uint32_t conn = 0);
    // The connection from port_pc to the UE's port_us: the open one, else a new one.
    std::optional<uint32_t> our_connection(const esp::IpAddr& ue, const secagree::Route& r);
    uint32_t add_connection(std::unique_ptr<TcpConnection> c);
    void watch(uint32_t id, const TcpConnection& c, int op);
    void close_connection(uint32_t id);
    // Answers a UE's request ourselves: over `over`, else back the way it came.
    void refuse(const sip::Message& request, const secagree::Arrival& a, const secagree::Refusal& why,
                std::optional<secagree::Route> over = std::nullopt);
    // Refuses the REGISTER of transaction `t` (ours, `branch`): the registration attempt ends.
    void refuse_registration(const std::string& branch, const Txn& t, const secagree::Refusal& why,
                             Clock::time_point now);
    void answer_core(const sip::Message& request, const Endpoint& to, int status, std::string_view reason);
    void drop(std::string_view reason, std::string_view detail);
    // Rule 4 and RFC 3325: the IMPI whose registration over the request's SA holds every
    // identity the request claims (From, each P-Preferred-Identity).
    std::expected<std::string, secagree::Refusal> claimed_identities(const sip::Message& m,
                                                                     const secagree::Arrival& a) const;
    // Sends the 401s whose SAs the workers have installed; refuses those they refused.
    void release_challenges(Clock::time_point now);
    // The UE's registration step that is under way (to the core and back), if any.
    using UeKey = std::pair<std::string, esp::IpAddr>;  // IMPI, UE address
    void registration_done(const UeKey& k, const std::string& branch);

    const UdpSocket* socket_for(const esp::IpAddr& family, uint16_t port) const;
    const UdpSocket& core_socket() const { return listeners_.back().socket; }  // bound last
    const esp::IpAddr* access_for(const esp::IpAddr& ue) const;
    secagree::Hop core_hop() const;
    std::string new_branch();

    ProxyConfig cfg_;
    uint16_t port_ps_;
    std::vector<uint16_t> port_pc_;
    secagree::Registrar& reg_;
    Trace trace_;
    int epoll_ = -1;
    std::vector<Listener> listeners_;
    std::vector<TcpListener> tcp_listeners_;
    std::map<uint32_t, std::unique_ptr<TcpConnection>> conns_;  // by id (0 is UDP)
    std::map<std::string, uint32_t> ours_;  // flow_key(local, remote) -> id of our connection to a UE
    std::vector<uint32_t> doomed_;          // failed while a message was being handled
    std::set<std::string> tcp_ues_;         // UEs registered over TCP: requests go by TCP
    uint32_t next_conn_ = 1;
    std::map<std::string, Txn> txns_;                  // by our branch
    std::map<std::string, std::string> by_their_branch_;  // UE / core branch + source -> ours
    // A 401 waiting for its SAs (TS 33.203 7.2: installed before the UE is told of them).
    struct HeldChallenge {
        std::string branch;  // its transaction
        std::string bytes;
        secagree::Route route;
        Clock::time_point since;
    };
    std::map<UeKey, HeldChallenge> held_;
    // One REGISTER of a UE at a time between the UE and the core (RFC 3261 10.2 asks the
    // UE for it): its branch, until its final answer went back to the UE. Otherwise a
    // de-REGISTER and a REGISTER can cross at the core, and the two ends disagree.
    std::map<UeKey, std::string> registering_;
    std::function<void()>* keep_ = nullptr;  // while a final answer is relayed: to_ue() keeps it there
    uint64_t next_branch_ = 1;
    std::string branch_prefix_;
    ProxyCounters counters_;
    Clock::time_point now_{};
};

}  // namespace pcscf::proxy
