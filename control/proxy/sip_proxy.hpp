#pragma once
// The P-CSCF's SIP proxy: it terminates sec-agree with the Registrar and relays everything
// else between the UEs and the IMS core, statelessly but for its transactions (to send
// each response back the way its request came). This is the router; the sockets are
// SipTransport's, the transaction table Transactions'.
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
#include <deque>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "control/proxy/reg_event.hpp"
#include "control/proxy/sip_transport.hpp"
#include "control/proxy/transactions.hpp"
#include "control/secagree/sip_edits.hpp"

namespace pcscf::proxy {

struct ProxyConfig {
    std::vector<net::IpAddr> access;                // the P-CSCF's access addresses (IPv4 and/or IPv6)
    uint16_t sip_port = 5060;                       // the unprotected port on them
    Endpoint core;                                  // next hop towards the IMS core (I-/S-CSCF)
    Endpoint core_local;                            // our side towards it: what Via and Path name
    bool core_tcp = false;                          // to the core over TCP (RFC 3261 18), else UDP
    std::chrono::milliseconds txn_lifetime{32000};  // RFC 3261 64*T1
    // A request the next hop (the core, or the UE for the core's requests) has not answered
    // within this gets a 408 from us (RFC 3261 16.7), registrations leave no state. Below
    // the UE's own 64*T1, so that it hears why before it gives up; below txn_lifetime.
    std::chrono::milliseconds core_timeout{16000};
    // A 401 waits for the workers to install the SAs it announces; past this the
    // registration is refused (500), as a datapath that does not apply records is broken.
    std::chrono::milliseconds sa_install_timeout{2000};
    size_t max_connections = 4096;  // TCP, from and to UEs
    // Overload (docs/operations.md, "Overload"): a new registration that waited longer than
    // overload_queue in the socket, or that finds 3/4 of max_transactions under way, is
    // answered 503 at once; with the table full, every new request is.
    std::chrono::milliseconds overload_queue{100};
    size_t max_transactions = 1'000'000;
    // Subscribe to each registered UE's reg event (RFC 3680, TS 24.229 5.2.3), so that a
    // registration the core ends itself takes the UE's SAs with it.
    bool reg_event = false;
    // A 503's Retry-After is drawn from [retry_after, 2 * retry_after), so that the UEs
    // refused together do not all come back together.
    std::chrono::seconds retry_after{10};
};

class SipProxy {
public:
    // One line per message handled (direction, method or status, ports, SA), for the log;
    // an empty one costs nothing (no line is built).
    using Trace = std::function<void(std::string_view)>;

    static ctl::Expected<std::unique_ptr<SipProxy>> create(ProxyConfig cfg, const secagree::RegistrarConfig& ports,
                                                           secagree::Registrar& reg, Trace trace);
    // Switched on and off as the log level of SIP changes (control thread only).
    void set_trace(Trace trace) { trace_ = std::move(trace); }
    // What may change while it runs (pcscf-espd's reload): the core's address (for new
    // transactions), the overload limits and the TCP connection limit; the rest of `c`
    // (addresses, ports, timers) is as it was.
    void reconfigure(const ProxyConfig& c);
    const ProxyConfig& config() const { return cfg_; }

    // Sends the 401s whose SAs are now installed, then handles every message and
    // connection waiting, waiting up to `timeout_ms` for the first one. Returns how many
    // were handled (0: nothing happened).
    int poll(int timeout_ms, Clock::time_point now);
    // Forgets transactions 32 s old (completed ones answer retransmissions until then);
    // refuses registrations whose SAs were not installed in time;
    // closes idle unprotected connections and protected ones whose SAs are gone.
    void tick(Clock::time_point now);

    // The registrar's NAT counters included.
    ProxyCounters counters() const {
        ProxyCounters c = counters_;
        c.nat_refused = reg_.nat_counters().refused;
        c.nat_port_changes = reg_.nat_counters().port_changes;
        return c;
    }

private:
    // A message from a UE, with what every step needs parsed once.
    struct FromUe {
        const sip::Message& m;
        const sip::Via& via;  // the top one
        secagree::Arrival a;
    };
    // A 401 waiting for its SAs (TS 33.203 7.2: installed before the UE is told of them).
    struct HeldChallenge {
        std::string branch;  // its transaction
        ToUe answer;
        Clock::time_point since;
    };

    SipProxy(ProxyConfig cfg, uint16_t port_ps, secagree::Registrar& reg, Trace trace)
        : cfg_(std::move(cfg)),
          port_ps_(port_ps),
          reg_(reg),
          trace_(std::move(trace)),
          txns_(cfg_.txn_lifetime, cfg_.max_transactions) {}

    void handle(const Inbound& in, Clock::time_point now);
    // true: the new registration `m` was answered 503 (overload control).
    bool shed(const Inbound& in, const sip::Message& m, const secagree::Arrival& a, Clock::time_point now);
    uint32_t retry_after();          // seconds, for a 503
    secagree::Refusal table_full();  // the 503 of a full transaction table, counted
    void from_ue(const FromUe& u, Clock::time_point now);
    void ue_register(const FromUe& u, Clock::time_point now);
    void ue_response(const FromUe& u, Clock::time_point now);
    void from_core(const sip::Message& m, const Endpoint& from, Clock::time_point now);
    // The answer that went to the UE, if one did (kept for retransmissions).
    std::optional<ToUe> core_response(const sip::Message& m, const std::string& branch, Txn& t, Clock::time_point now);
    void challenge(const sip::Message& m, const std::string& branch, Txn& t, Clock::time_point now);
    void release_challenges(Clock::time_point now);

    // Relays a UE's request to the core under a new branch.
    void to_core(const FromUe& u, Kind kind, const std::string& impi, bool integrity_protected, Clock::time_point now,
                 const std::string& asserted = {});
    // Sends to the UE, or holds it while its NAT port is not in the outbound SAs (below);
    // false when it could not go (counted).
    bool to_ue(const ToUe& out);
    bool send_to_ue(const ToUe& out);
    // The protected pair a message to the UE goes over, (the UE's port, ours): its TCP
    // connection's, else its route's.
    std::pair<uint16_t, uint16_t> pair_of(const ToUe& out) const;
    // Sends what waited for a NAT port once the outbound SAs have it, or after
    // sa_install_timeout regardless (then the datapath drops or misroutes it, counted).
    void release_waiting(Clock::time_point now);
    // Answers a UE's request ourselves: over `over`, else back the way it came; the answer
    // into `kept` when given.
    void refuse(const sip::Message& request, const secagree::Arrival& a, const secagree::Refusal& why,
                std::optional<secagree::Route> over = std::nullopt, ToUe* kept = nullptr);
    // Refuses the REGISTER of transaction `t` (ours, `branch`): the registration attempt ends.
    void refuse_registration(const std::string& branch, const Txn& t, const secagree::Refusal& why,
                             Clock::time_point now);
    // Returns what was sent, to send again for a retransmission.
    std::optional<std::string> answer_core(const sip::Message& request, const Endpoint& to,
                                           const secagree::Refusal& why);
    void time_out(const std::string& branch, Txn& t, Clock::time_point now);
    // The sender of an unanswered request gets `why` from us (kept for retransmissions);
    // a registration attempt ends. False: nothing to answer (an ACK).
    bool give_up(const std::string& branch, Txn& t, const secagree::Refusal& why, Clock::time_point now);
    secagree::Refusal core_down(Clock::time_point now) const;  // a 503, the time left as Retry-After
    void core_unreachable(Clock::time_point now);
    bool send_core(const std::string& bytes, const Endpoint& to);  // false: counted
    void drop(ProxyDrop reason, std::string_view detail);
    // Rule 4 and RFC 3325: the IMPI whose registration over the request's SA holds every
    // identity the request claims (From, each P-Preferred-Identity).
    // The UE's IMPI, and the identity to assert for it (TS 24.229 5.2.6.3.1: the
    // P-Preferred-Identity when it names one registered over the SA, else From's).
    struct Claimed {
        std::string impi, asserted;
    };
    std::expected<Claimed, secagree::Refusal> claimed_identities(const FromUe& u) const;
    secagree::Hop core_hop() const {
        return {cfg_.core_tcp ? "TCP" : "UDP", cfg_.core_local.addr, cfg_.core_local.port};
    }
    secagree::Ours ours() const { return {cfg_.access, cfg_.core_local.addr}; }
    // Both our faces for a dialog a request starts, the access one at `access` (TS 24.229
    // 5.2.6.3.3: port_ps); none for any other request.
    std::optional<secagree::Faces> faces(const sip::Message& m, const net::IpAddr& access, bool tcp) const {
        if (!secagree::starts_dialog(m)) return std::nullopt;
        return secagree::Faces{{tcp ? "TCP" : "UDP", access, port_ps_}, core_hop()};
    }

    ProxyConfig cfg_;
    uint16_t port_ps_;
    secagree::Registrar& reg_;
    Trace trace_;
    ProxyCounters counters_;
    std::unique_ptr<SipTransport> net_;
    Transactions txns_;
    std::map<UeKey, HeldChallenge> held_;
    // Messages to UEs behind a NAT whose set's outbound SAs do not send to its NAT port yet
    // (Registrar::awaits_nat_port: SM7 or a rebinding taught it a moment ago), in order.
    struct WaitingForPort {
        ToUe out;
        uint16_t ue_port, our_port;
        Clock::time_point since;
    };
    std::deque<WaitingForPort> waiting_port_;
    Clock::time_point now_{};  // of the poll or tick under way: when a message started waiting
    // --reg-event: our subscriptions by Call-ID, and which UE has one.
    std::map<std::string, RegSubscription, std::less<>> subs_;
    std::map<UeKey, std::string> sub_of_;
    void subscribe_reg_event(const UeKey& k, Clock::time_point now);
    void reg_event_answer(const sip::Message& m, const Txn& t);
    void forget_subscription(const UeKey& k);
    // A NOTIFY from the core for us: answered here; true when it was ours to answer.
    bool reg_event_notify(const sip::Message& m, const Endpoint& from, Clock::time_point now);
    // Until then, the core being unreachable, what is for it is answered 503 at once.
    Clock::time_point core_down_until_{};
    Clock::time_point late_until_{};  // TCP's SM1s are shed until then
    std::minstd_rand rng_{std::random_device{}()};
};

}  // namespace pcscf::proxy
