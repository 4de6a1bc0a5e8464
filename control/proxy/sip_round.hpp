#pragma once
// The control thread's SIP work between two pumps of the SA event ring, as pcscf-espd's
// loop runs it (and the registrations benchmark measures it): SIP for up to 1 ms when no
// SA event came (none otherwise, so events are never held up), the Registrar's and the
// proxy's timers every 100 ms, and a snapshot of the counters for telemetry after a busy
// round (the telemetry thread must not read the proxy itself).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "control/proxy/sip_proxy.hpp"

namespace pcscf::proxy {

// A question about the registered UEs from another thread (telemetry): a page of them
// from `offset`, or every UE of one IMPI.
struct UeQuery {
    std::string impi;  // empty: the page
    size_t offset = 0, max = 20;
};

struct SipStatus {
    std::mutex mu;
    bool enabled = false;
    ProxyCounters counters;
    size_t ues = 0;
    // The settings in force (they change on a reload), for telemetry.
    ProxyConfig proxy;
    secagree::RegistrarConfig registrar;

    // The Registrar is the control thread's alone: a question waits here until SipRound
    // answers it between two rounds, or `wait` passes (nullopt: no answer).
    std::optional<std::vector<secagree::Registrar::View>> ask(UeQuery q, std::chrono::milliseconds wait);

private:
    friend class SipRound;
    std::condition_variable answered_;
    std::atomic<bool> asked_{false};
    std::optional<UeQuery> query_;
    std::optional<std::vector<secagree::Registrar::View>> answer_;
};

class SipRound {
public:
    SipRound(secagree::Registrar& reg, SipProxy& proxy, SipStatus& status)
        : reg_(reg), proxy_(proxy), status_(status), last_tick_(Clock::now()) {}

    // One round after the SA ring gave `sa_events`; returns what SipProxy::poll handled.
    int run(uint32_t sa_events, Clock::time_point now);

private:
    secagree::Registrar& reg_;
    SipProxy& proxy_;
    SipStatus& status_;
    Clock::time_point last_tick_;
};

}  // namespace pcscf::proxy
