#pragma once
// The P-CSCF's side of sec-agree (TS 33.203 7.2 and 7.4.2a, the two-pair text of
// S3-030418): per UE, the SA sets of its registration and what each REGISTER step does
// to them. No SIP I/O here: the proxy hands in what it parsed and where the message came
// from, and does what the answer says. Every step is a plain function of the state, so
// the tests drive it table by table.
//
//   SM1  REGISTER + Security-Client   on_sm1: check the offer and clause 7.1, remember it
//   SM6  401 + ik/ck                  on_sm6: install the temporary set, Security-Server
//   SM7  REGISTER over the new SA     on_sm7: the Security-Verify / -Client checks
//   SM12 200 OK                       on_sm12: new set registered, old set per 7.4.2a
//
// Threading: the control thread only (SA events arrive there through SaManager::pump).
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "control/secagree/registration_state.hpp"
#include "control/secagree/retiring_sets.hpp"
#include "control/secagree/sa_set.hpp"
#include "control/state/state_store.hpp"

namespace pcscf::secagree {

using Clock = std::chrono::steady_clock;

struct RegistrarConfig {
    AlgorithmPolicy algorithms;  // which alg/ealg pairs we take, and in what order (algorithm_policy.hpp)
    uint16_t port_ps = 5101;     // protected server port, the same for every UE
    std::vector<uint16_t> port_pc{5102, 5103, 5104};  // protected client ports, rotated per registration
    std::chrono::seconds reg_await_auth{240};         // lifetime of a temporary set (TS 24.229 timer)
    uint32_t max_sas_per_direction = 6;               // per IMPI, whatever its addresses (TS 33.203 7.1 rule 3)
    // A set that ends with a final answer (de-registration, failed registration) keeps its
    // inbound SAs this long after the answer, its outbound SAs twice as long.
    std::chrono::milliseconds delete_grace{1000};
    // TS 33.203 Annex M / TS 24.229 Annex F: a UE whose SM1 comes from another address
    // than its Via names is behind a NAT and gets UDP-enc-tun SAs. Off: transport mode only
    // (and the proxy's rule 2 refuses such a REGISTER).
    bool nat_traversal = true;
};

// Where a message came from as the proxy saw it: the packet's source and the local port
// and access address it reached. `protected_` means it reached a protected port (only ESP
// that verified can). `conn` names the TCP connection it came on (0: UDP); the registrar
// does not use it. An unspecified `pcscf` stands for the first access address of the UE's
// family (the Registrar's defaults).
struct Arrival {
    net::IpAddr ue{};
    uint16_t ue_port = 0;
    uint16_t local_port = 0;
    bool protected_ = false;
    uint32_t conn = 0;
    net::IpAddr pcscf{};
};

// A refusal: the SIP status to answer with, and why (for the reason phrase and the log).
struct Refusal {
    int status = 403;
    std::string reason;
    uint32_t retry_after = 0;  // seconds after which the UE may try again (RFC 3261 20.33); 0: not said
    bool nat = false;          // a 494 for a UE behind a NAT: its Security-Server lists mod=UDP-enc-tun
};

struct Sm1 {
    Arrival from;
    std::string impi, impu;
    std::vector<sip::SecurityMechanism> security_client;
    // The top Via's sent-by address; unspecified when it is a host name (which cannot be
    // compared with the source: no NAT is assumed then).
    net::IpAddr via{};
};

// What the UEs behind a NAT did, for the metrics.
struct NatCounters {
    uint64_t refused = 0;       // SM1 from behind a NAT offering no mod=UDP-enc-tun: 494
    uint64_t port_changes = 0;  // a UDP-enc-tun set's NAT port learnt or changed (the outbound SAs moved)
};

// Which SA set a message to the UE goes over, or none (unprotected). The proxy picks the
// ports by transport (TS 33.203 7.1): over UDP the P-CSCF sends everything from port_pc
// to port_us; over TCP responses go back on the UE's connection port_uc -> port_ps and
// requests on ours, port_pc -> port_us. A protected route leaves from the set's access
// address (`pcscf`); an unprotected one from where the request came (the proxy knows).
struct Route {
    bool protected_ = false;
    uint16_t port_ps = 0, port_pc = 0, port_uc = 0, port_us = 0;
    bool tcp = false;  // route_to: the UE registered over TCP, so requests to it go by TCP
    net::IpAddr pcscf{};

    // The protected pair a message to the UE goes over, (the UE's port, ours): port_pc to
    // port_us, or over a kept old pair (which has only port_ps -> port_uc left) port_ps to
    // port_uc.
    std::pair<uint16_t, uint16_t> pair() const {
        return port_pc != 0 ? std::pair{port_us, port_pc} : std::pair{port_uc, port_ps};
    }
};

// A temporary set whose SAs the workers have all acknowledged (`refused` empty: the 401
// announcing it may go), or one they refused (then it is gone and the registration with it).
struct Settled {
    std::string impi;
    net::IpAddr ue;
    std::optional<Refusal> refused;
};

class Registrar {
public:
    // `pcscf_v4` / `pcscf_v6`: the access addresses an Arrival that names none stands for.
    // A UE's SAs are at the access address its SM1 reached (there may be several).
    Registrar(ctl::SaManager& sas, RegistrarConfig cfg, net::IpAddr pcscf_v4, net::IpAddr pcscf_v6);

    // SM1. Accepted: relay to the core (without Security-*), and the answer says whether
    // it came integrity-protected (over a registered SA).
    std::expected<bool, Refusal> on_sm1(const Sm1& m, Clock::time_point now);
    // SM6: `ik` and `ck` from WWW-Authenticate. Installs the temporary set (a new 401
    // replaces an earlier one) with IK_ESP and, for a pair that encrypts, CK_ESP (TS 33.203
    // Annex I), and returns the Security-Server to add (every pair we allow, best first),
    // and the route of the 401. The 401 must wait until take_settled() says the workers
    // installed the set (TS 33.203 7.2: the SAs exist before the UE is told to use them).
    // Refused with 500: no ck for a pair whose keys need it (needs_ck); a CK that makes a weak
    // 3DES key (RFC 2451 2.3), with Retry-After 1: the UE's next REGISTER brings a new
    // challenge and so a new CK.
    std::expected<std::pair<std::vector<sip::SecurityMechanism>, Route>, Refusal> on_sm6(
        const std::string& impi, const net::IpAddr& ue, std::span<const uint8_t, 16> ik, Clock::time_point now,
        std::optional<std::span<const uint8_t, 16>> ck = std::nullopt);
    // Whether the pair chosen at SM1 for this UE needs CK (every pair but an HMAC with
    // ealg=null: CK_ESP, or the AES-GCM / AES-GMAC salt), so its 401 must carry ck.
    bool needs_ck(const std::string& impi, const net::IpAddr& ue) const;
    // Whether `from` is the new inbound SA of the IMPI's temporary set: a REGISTER that
    // arrives over it is SM7 (TS 33.203 7.2).
    bool over_temporary(const std::string& impi, const Arrival& from) const;
    // SM7. Refused: answer over the temporary set (failure_route), then abort().
    std::expected<void, Refusal> on_sm7(const std::string& impi, const Arrival& from,
                                        std::span<const sip::SecurityMechanism> security_client,
                                        std::span<const sip::SecurityMechanism> security_verify);
    // SM12 with the registration's expiry and the 200's Service-Route (RFC 3608: what
    // the UE's requests are routed by from now on). Returns the route of the 200 (the new
    // set). A 200 to an SM1 that was not challenged (re-registration without
    // authentication) keeps the current set and extends it; the client ports the UE
    // offered go unused.
    std::expected<Route, Refusal> on_sm12(const std::string& impi, const net::IpAddr& ue, std::chrono::seconds expires,
                                          Clock::time_point now, bool over_tcp = false,
                                          std::vector<std::string> service_route = {});
    // A final failure answer to the registration (auth failure, timeout at the core): the
    // route to send it on; call abort() once it is sent. The registration attempt ends at
    // once; its temporary set retires (RetiringSets).
    Route failure_route(const std::string& impi, const net::IpAddr& ue) const;
    void abort(const std::string& impi, const net::IpAddr& ue, Clock::time_point now);
    // The 200 to a de-REGISTER is sent (still protected): the UE is no longer registered,
    // and every set it holds now retires. A registration that starts after this call is
    // a new one and keeps its SAs.
    void deregistered(const std::string& impi, const net::IpAddr& ue, Clock::time_point now);

    // SaManager's events: acknowledgements settle a temporary set; first use of a new
    // inbound SA retires the kept old pair.
    void on_sa_event(const ctl::SaInfo& sa, const esp::SaEvent& e);
    // The temporary sets settled since the last call, in order.
    std::vector<Settled> take_settled() { return std::exchange(settled_, {}); }
    // What a 494 lists (RFC 3329 2.3.1): every pair we allow, best first (q decreasing),
    // with no SPIs or ports (there is no SA to name).
    std::vector<sip::SecurityMechanism> mechanisms(sip::Mode mod = sip::Mode::trans) const;
    // The address a UE's Via may name instead of the packet's source (TS 33.203 7.1 rule 2
    // as Annex M has it for a UE behind a NAT): over a UDP-enc-tun set, its inner address;
    // for an unprotected IPv4 REGISTER with NAT traversal on, `sent_by` itself (on_sm1 then
    // treats the UE as behind a NAT). None otherwise.
    std::optional<net::IpAddr> nat_inner(const Arrival& from, const net::IpAddr& sent_by, bool is_register) const;
    const NatCounters& nat_counters() const { return nat_; }
    // A UE behind a NAT: true while the UDP-enc-tun set of the pair (P-CSCF `pcscf_port`,
    // UE `ue_port`) has no NAT port yet, or its outbound SAs have not yet taken the one
    // it has (an update record not acknowledged). What is sent to the UE then would be
    // dropped (natt_port_unknown) or go to the port the NAT no longer maps.
    bool awaits_nat_port(const net::IpAddr& ue, uint16_t ue_port, uint16_t pcscf_port) const;
    // A message that arrived over the current set (after SM12: SM7 used it before it was
    // current) also retires the kept pair (TS 33.203 7.4.2a).
    void on_protected_message(const Arrival& from);
    // Expiries: temporary sets, registrations, kept pairs.
    void tick(Clock::time_point now);

    // Clause 7.1 rule 4 for a protected request: the SA it came over belongs to a UE that
    // registered `impu` over it. Returns that UE's IMPI.
    std::expected<std::string, Refusal> check_protected(const Arrival& from, const std::string& impu) const;
    // Where the answer to a protected request goes: over the set it came in on. A kept old
    // set has only its port_uc -> port_ps pair left, so its route has no port_pc / port_us
    // (TS 33.203 7.4.2a: responses to messages over the old SA go over the old SA).
    std::optional<Route> route_back(const Arrival& from) const;
    // The Service-Route of the UE whose set a protected message came over (empty: none).
    std::span<const std::string> service_route(const Arrival& from) const;
    // Where a request from the core to this IMPU goes: port_pc -> port_us of the current set.
    std::optional<std::pair<net::IpAddr, Route>> route_to(const std::string& impu) const;

    size_t ues() const { return ues_.size(); }
    // What may change while it runs (pcscf-espd's reload), for registrations that start
    // from now on: the algorithm policy and the wait for SM7. Ports stay.
    void reconfigure(AlgorithmPolicy algorithms, std::chrono::seconds reg_await_auth) {
        cfg_.algorithms = std::move(algorithms);
        cfg_.reg_await_auth = reg_await_auth;
    }
    const RegistrarConfig& config() const { return cfg_; }

    // A UE's registration changed: "registered", "refreshed", "de-registered", "expired",
    // "failed", "not completed" (no SM7 within reg-await-auth). For the operator's event
    // stream; the words are fixed, so an unset or idle listener costs nothing.
    using Notice = std::function<void(const std::string& impi, const net::IpAddr& ue, std::string_view what)>;
    void set_notice(Notice n) { notice_ = std::move(n); }
    // A line for the operator's log at info level (a UE's NAT port learnt or changed).
    void set_info(std::function<void(const std::string&)> f) { info_ = std::move(f); }

    // What survives a restart: each registration (StoredRegistration) goes to `sink` when
    // it changes, at the next flush_state() (the control loop calls it after each round).
    void set_state(ctl::state::StateSink* sink) { state_ = sink; }
    void flush_state(Clock::time_point now);
    // Takes back the registrations a state store kept, once SaManager has its SAs back
    // (`back`: their ids, in order, as SaManager::restore returns them). A registration
    // whose current set did not all come back is dropped (its remaining SAs deleted), a
    // kept pair likewise; each is named to `warn`. Returns how many came back.
    size_t restore(std::vector<StoredRegistration> regs, std::span<const ctl::SaId> back, Clock::time_point now,
                   const std::function<void(const std::string&)>& warn);
    // Every SA a registration holds, in order (after a restore: the others were a
    // registration's that was not finished or was on its way out, and can go).
    std::vector<ctl::SaId> referenced_sas() const;
    size_t retiring() const { return retiring_.size(); }
    // The SA sets a UE holds (for the tests and the operator).
    struct View {
        std::string impi;
        net::IpAddr ue;
        std::optional<SaSet> current, kept, temporary;
        std::vector<std::string> impus;
        Clock::time_point expiry;  // of the registration (current set); unset while none
        bool tcp = false;
        std::vector<std::string> service_route;
    };
    std::optional<View> view(const std::string& impi, const net::IpAddr& ue) const;
    // Up to `max` UEs from the `offset`-th, by IMPI then address; or every UE of one IMPI.
    std::vector<View> views(size_t offset, size_t max) const;
    std::vector<View> views_of(const std::string& impi) const;

private:
    struct Pending {
        std::vector<sip::SecurityMechanism> client;  // SM1's Security-Client, for SM7
        sip::Ipsec3gpp offer;                        // the mechanism chosen from it (its mod: the mode)
        net::IpAddr inner;                           // behind a NAT: SM1's Via sent-by (the UE's own address)
        AlgPair pair;                                // its alg and ealg
        std::vector<AlgPair> allowed;                // the policy's pairs at SM1, for SM6's Security-Server
        std::string impu;
        bool sm1_protected = false;
        net::IpAddr pcscf;  // the access address SM1 reached: the new set's
        std::optional<SaSet> temp;
        std::vector<sip::SecurityMechanism> server;  // Security-Server sent at SM6
        uint8_t acked = 0;                           // SAs of `temp` the workers installed
        Clock::time_point deadline;
    };
    struct Ue {
        std::string impi;
        net::IpAddr addr;
        std::vector<std::string> impus;
        std::optional<SaSet> current;
        Clock::time_point current_expiry;
        std::optional<SaSet> kept;  // only its in_ps / out_uc pair is live
        Clock::time_point kept_expiry;
        std::optional<Pending> pending;
        size_t next_port_pc = 0;
        bool tcp = false;                        // registered over TCP
        std::vector<std::string> service_route;  // RFC 3608, from the last registration's 200
    };
    using Key = std::pair<std::string, net::IpAddr>;
    static Key key(const std::string& impi, const net::IpAddr& ue) { return {impi, ue}; }

    Ue* find(const std::string& impi, const net::IpAddr& ue);
    static bool over_current(const Ue& u, const Arrival& from);
    const Ue* find(const std::string& impi, const net::IpAddr& ue) const;
    // The UE's usable offer of mode `mod` whose pair ranks best by our policy.
    std::optional<std::pair<sip::Ipsec3gpp, AlgPair>> choose(std::span<const sip::SecurityMechanism> offers,
                                                             sip::Mode mod) const;
    // Why no offer of SM1 will do (the 494's reason).
    Refusal no_offer(const Sm1& m, bool nat);
    // A UDP-enc-tun set's inbound SA reported a new NAT port: the set's other SAs take it.
    void on_encap_port(const ctl::SaInfo& sa, uint16_t port);
    // The set (current, kept or temporary) an SA belongs to, and its UE; null if none.
    std::pair<Ue*, SaSet*> set_of(const ctl::SaInfo& sa);
    const SaSet* set_over(const Arrival& from) const;
    // SAs per direction the IMPI holds on every address (rule 3), retiring ones included.
    uint32_t sas_of(const std::string& impi) const;
    bool port_uc_in_use(const net::IpAddr& ue, uint16_t port_uc) const;
    void drop_temp(Ue& u);
    void remind(const Key& k, Clock::time_point at);
    void drop_kept(Ue& u);
    void drop_current(Ue& u);
    void forget_if_empty(const Key& k);
    const net::IpAddr& pcscf_of(const Arrival& a) const {
        return !a.pcscf.is_unspecified() ? a.pcscf : a.ue.is_v4() ? v4_ : v6_;
    }
    static Route route_over(const SaSet& s) {
        return {true, s.port_ps, s.port_pc, s.port_uc(), s.port_us(), false, s.pcscf};
    }

    // Indexes for the per-message checks: a protected flow (UE address, UE port, our
    // port) of a current or kept set, and each registered IMPU, to its UE.
    using Flow = std::tuple<net::IpAddr, uint16_t, uint16_t>;
    void index(const Key& k, const SaSet& set, bool both_pairs);
    // The UE whose current or kept set a protected message came over, if any.
    const Key* flow_owner(const Arrival& from) const;
    // Where answers to SM1 go: over the current set if SM1 came protected, else plain.
    Route sm1_route(const Ue& u) const;
    void unindex(const SaSet& set);
    // Ends the registration attempt and retires its temporary set.
    void retire_temp(Ue& u, Clock::time_point now);

    ctl::SaManager& sas_;
    RegistrarConfig cfg_;
    net::IpAddr v4_, v6_;
    std::map<Key, Ue> ues_;
    Notice notice_;
    std::function<void(const std::string&)> info_;
    NatCounters nat_;
    void notify(const std::string& impi, const net::IpAddr& ue, std::string_view what) const {
        if (notice_) notice_(impi, ue, what);
    }
    // When each UE has something due (a temporary set's deadline, a set's expiry), for
    // tick(); a UE may have reminders that no longer hold (passed over when read).
    std::multimap<Clock::time_point, Key> due_;
    std::map<Flow, Key> flows_;
    // (UE address, port_uc) of every temporary set: rule 3 without walking the UEs.
    std::map<std::pair<net::IpAddr, uint16_t>, Key> temp_ports_;
    std::map<std::string, Key> impus_;
    RetiringSets retiring_;
    std::map<ctl::SaId, Key> awaiting_;  // SAs of temporary sets not yet acknowledged
    std::vector<Settled> settled_;
    ctl::state::StateSink* state_ = nullptr;
    std::set<Key> dirty_;  // registrations changed since the last flush_state()
};

}  // namespace pcscf::secagree
