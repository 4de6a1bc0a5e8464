#pragma once
// The registration benchmark's load: UEs that register with sec-agree and IMS AKA over
// UDP, as real SIP text, and the IMS core that answers them (a stand-in for the
// S-CSCF/registrar). Both run on one thread, on one epoll, so the same code is the load
// whether the UEs reach the core through the P-CSCF or directly (the baseline).
//
// A UE has two sockets, as TS 33.203 7.1 gives it over UDP: port_uc, from which its
// requests to the P-CSCF's port_ps leave, and port_us, where everything from the P-CSCF
// arrives (port_pc -> port_us). Per registration:
//
//   SM1  REGISTER from port_us to `first_hop` (the P-CSCF's unprotected port), with
//        Security-Client (port-c = port_uc, port-s = port_us)     <- 401 + Security-Server
//   SM7  REGISTER from port_uc to the Security-Server's port-s on `protected_host`, with
//        Security-Verify and the AKA answer                         <- 200
//   de-REGISTER (Expires: 0) from port_uc to the same port (optional) <- 200
//
// Against the core directly the core's 401 carries a Security-Server naming the core's
// own port, so the UE does exactly the same either way. Each registration is a new UE (a
// new IMPI and IMPU, a new port pair); answers are matched to UEs by Call-ID. A request
// is sent again after 0.5, 1, 2 and 4 s without an answer (RFC 3261 timer E), then the
// UE fails.
//
// The AKA answer is well-formed but not computed with Milenage, and the stand-in core
// does not check it: that is the S-CSCF's work, not the P-CSCF's, and it would only add
// the same cost to both arms. The core's IK and CK are random per challenge (the P-CSCF
// keys the SAs with IK).
//
// Threading: run() on one thread at a time; phase() from any thread.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "control/proxy/udp_socket.hpp"

namespace pcscf::bench {

using LoadClock = std::chrono::steady_clock;

// The requests a UE times, from the first transmission to the final answer.
enum class Step : uint8_t { sm1, sm7, deregister };
inline constexpr size_t kSteps = 3;
const char* name(Step s);

struct LoadConfig {
    proxy::Endpoint first_hop;   // where SM1 goes: the P-CSCF's unprotected port, or the core
    net::IpAddr protected_host;  // where SM7 and later go (port: the Security-Server's port-s)
    bool deregister = true;      // de-register each UE once registered
    uint32_t concurrency = 32;   // closed loop: this many UEs registering at any time
    double rate = 0;             // > 0: open loop instead, this many new UEs per second
    double seconds = 2;          // the measured window; UEs still busy then finish untimed
    uint64_t max_ues = 0;        // start no more UEs than this (0: no limit)
};

struct LoadResult {
    uint64_t started = 0;
    uint64_t completed = 0;  // UEs whose whole sequence got the expected answers
    uint64_t completed_in_window = 0;
    uint64_t failed = 0;
    std::map<std::string, uint64_t> failures;  // by reason
    uint64_t retransmissions = 0;
    uint64_t port_skips = 0;  // port pairs that could not be bound (someone else's)
    uint64_t core_requests = 0;
    double window_s = 0;                    // the measured window as it ran
    double cpu_s = 0;                       // the load thread's CPU time during the window
    std::vector<float> latency_us[kSteps];  // per answered request, first send -> answer
    std::vector<float> done_s;              // when each UE of the window completed, from its start
    // The UEs left registered (deregister false): IMPI and address, for the cleanup.
    std::vector<std::pair<std::string, net::IpAddr>> registered;
    double rate() const { return window_s > 0 ? double(completed_in_window) / window_s : 0; }
    // Completions per second between fractions a and b of the window (0 <= a < b <= 1).
    double rate_between(double a, double b) const;
};

class SipLoad {
public:
    // The core listens on `core`. The UEs take IPv4 addresses ue_first, ue_first + 1, ...
    // (`ue_addrs` of them) and on each the ports [port_first, port_last] in pairs, round
    // robin: a pair is used again only after all the others (the P-CSCF keeps a
    // de-registered UE's SAs for a grace period and refuses a port-c it still holds).
    SipLoad(const proxy::Endpoint& core, net::IpAddr ue_first, uint32_t ue_addrs, uint16_t port_first,
            uint16_t port_last);
    ~SipLoad();
    SipLoad(const SipLoad&) = delete;
    SipLoad& operator=(const SipLoad&) = delete;

    // Non-zero: the core's 401 carries a Security-Server naming this port on the host the
    // UEs send SM7 to (the core's own port when they reach it directly, a relay's protected
    // port); zero: none, the P-CSCF adds its own.
    void set_security_server(uint16_t port) { security_server_port_ = port; }
    // One pass; the core answers throughout. Throws std::runtime_error if it cannot set up.
    LoadResult run(const LoadConfig& cfg);
    // Where the pass is, for another thread to follow: 0 before the window, 1 in it, 2 after.
    int phase() const { return phase_.load(std::memory_order_acquire); }

private:
    struct Ue {
        uint64_t id = 0;
        int fd_us = -1, fd_uc = -1;
        uint32_t addr = 0;  // index into addrs_
        uint16_t port_us = 0, port_uc = 0, port_ps = 0;
        Step step = Step::sm1;
        uint32_t cseq = 1;
        LoadClock::time_point first_sent, next_send;
        uint32_t interval_ms = 500;
        std::string request;  // as sent, for retransmissions
        int from_fd = -1;
        proxy::Endpoint to;
        std::string nonce, security_verify;
    };

    bool start_ue(LoadClock::time_point now);
    void send(Ue& u, std::string request, int from_fd, const proxy::Endpoint& to, LoadClock::time_point now);
    void on_ue_datagram(std::string_view bytes, LoadClock::time_point now);
    void on_core_datagram(std::string_view bytes, const proxy::Endpoint& from);
    void retransmit(LoadClock::time_point now);
    void finish(Ue& u, std::string_view failure = {});  // empty: completed
    std::string register_request(const Ue& u) const;
    std::string impi(uint64_t id) const;

    proxy::Endpoint core_;
    std::vector<net::IpAddr> addrs_;
    std::vector<std::string> hosts_;
    uint16_t port_first_, pairs_;
    uint64_t next_slot_ = 0, next_id_ = 1;
    int epoll_ = -1, core_fd_ = -1;
    uint16_t security_server_port_ = 0;
    std::atomic<int> phase_{0};
    std::unordered_map<uint64_t, Ue> ues_;  // registering, by id
    std::mt19937_64 rng_{0x5eca9ee};
    uint64_t challenges_ = 0;
    // The pass being run.
    const LoadConfig* cfg_ = nullptr;
    LoadResult* res_ = nullptr;
    LoadClock::time_point window_start_, window_end_;
};

double thread_cpu_seconds();

}  // namespace pcscf::bench
