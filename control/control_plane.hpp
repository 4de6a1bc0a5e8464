#pragma once
// The control thread's objects, wired as pcscf-espd runs them, and one round of its loop:
// SaManager on the workers' rings; with SIP configured, the Registrar and the SipProxy,
// the SA events reaching the Registrar, and the SIP round after each pump of the event
// rings. pcscf-espd and the registrations benchmark both run this, so what the benchmark
// measures is the daemon's own code.
//
// Threading: the control thread; SaManager is also called from the telemetry thread.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "control/error.hpp"
#include "control/proxy/sip_proxy.hpp"
#include "control/proxy/sip_round.hpp"
#include "control/sa/sa_manager.hpp"
#include "control/secagree/registrar.hpp"
#include "control/state/state_writer.hpp"

namespace pcscf::ctl {

using Clock = std::chrono::steady_clock;

// The sec-agree terminator, when the P-CSCF runs it (--core).
struct SipConfig {
    proxy::ProxyConfig proxy;
    secagree::RegistrarConfig registrar;
};

class ControlPlane {
public:
    // Sees every SA event and acknowledgement first (the daemon logs them), before the
    // Registrar does.
    using EventHook = std::function<void(const SaInfo&, const esp::SaEvent&)>;

    static Expected<std::unique_ptr<ControlPlane>> create(esp::SaChannel& rings, const esp::SpiLayout& layout,
                                                          const std::optional<SipConfig>& sip,
                                                          proxy::SipProxy::Trace trace, EventHook hook);
    ControlPlane(const ControlPlane&) = delete;
    ControlPlane& operator=(const ControlPlane&) = delete;
    // The SIP settings that may change while it runs (SipProxy::reconfigure,
    // Registrar::reconfigure) take `sip`'s values; control thread only.
    void reconfigure_sip(const SipConfig& sip);

    // What came back from a state store at start.
    struct Restored {
        size_t sas = 0, registrations = 0, dropped = 0;  // dropped: SAs that could not come back, or belonged to
                                                         // no registration any more
        std::chrono::milliseconds took{0};
    };
    // Attaches a state store (docs/architecture.md, "What survives a restart"): what it
    // holds comes back first, each SA through `install` (SaManager::restore; called before
    // the workers run), then every change is written to it from a thread of its own. A
    // store of another format, or a record that cannot be read, is an error, unless
    // `reset` says to start empty (the store is then cleared). `checkpoint_interval` is
    // the workers' seq_checkpoint.
    Expected<Restored> attach_state(std::unique_ptr<state::StateBackend> store, uint32_t checkpoint_interval,
                                    bool reset, const SaManager::Install& install,
                                    const std::function<void(const std::string&)>& warn);
    // The same with the store's records already read (a standby taking over has them).
    Expected<Restored> attach_state(std::unique_ptr<state::StateBackend> store, state::Records records,
                                    uint32_t checkpoint_interval, bool reset, const SaManager::Install& install,
                                    const std::function<void(const std::string&)>& warn);
    // What the state writer has done (empty without a store).
    std::optional<state::WriterStats> state_stats() const;
    // The store's position after the last write (Redis: a feed id; "" otherwise), for
    // comparing with a standby's.
    std::string state_last_change() const;
    // The state writer's thread, if a store is attached.
    std::optional<std::thread::native_handle_type> state_thread();
    // At a clean stop, after the workers: each SA's exact sequence number (`seq_of`), then
    // everything pending, written. False if the store did not take it all in `timeout`.
    bool close_state(const std::function<std::optional<uint32_t>(const SaInfo&)>& seq_of,
                     std::chrono::milliseconds timeout);
    const Restored& restored() const { return restored_; }

    struct Round {
        uint32_t sa_events = 0;  // events and acknowledgements read from the workers
        int sip = 0;             // SIP messages and connections handled
    };
    // One round: the workers' events, then (with SIP) up to 1 ms of SIP when no event
    // came, and the timers every 100 ms (proxy::SipRound).
    Round round(Clock::time_point now);

    SaManager& sas() { return *sas_; }
    const SaManager& sas() const { return *sas_; }
    secagree::Registrar* registrar() { return registrar_.get(); }
    const secagree::Registrar* registrar() const { return registrar_.get(); }
    const proxy::SipProxy* proxy() const { return proxy_.get(); }
    proxy::SipProxy* proxy() { return proxy_.get(); }
    proxy::SipStatus& sip_status() { return sip_status_; }

private:
    ControlPlane() = default;
    struct Contents;
    // The restore, from what a store holds (`records`: a copy for the writer to keep, or
    // none), and the writer started.
    Expected<Restored> attach(std::unique_ptr<state::StateBackend> store, Contents& contents, state::Records records,
                              uint32_t checkpoint_interval, bool reset, const SaManager::Install& install,
                              const std::function<void(const std::string&)>& warn);

    std::unique_ptr<SaManager> sas_;
    std::unique_ptr<secagree::Registrar> registrar_;
    std::unique_ptr<proxy::SipProxy> proxy_;
    proxy::SipStatus sip_status_;
    std::optional<proxy::SipRound> round_;
    EventHook hook_;
    std::unique_ptr<state::StateWriter> writer_;
    Restored restored_;
};

}  // namespace pcscf::ctl
