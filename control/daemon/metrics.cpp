#include "control/daemon/metrics.hpp"

#include <cstdio>
#include <string_view>

#include "control/daemon/options.hpp"
#include "control/daemon/telemetry.hpp"

namespace pcscf::ctl {

namespace {

std::string escape(std::string_view v, bool label) {
    std::string out;
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (c == '"' && label) out += "\\\"";
        else out += c;
    }
    return out;
}

// Writes families and their samples in either format.
class Exposition {
public:
    explicit Exposition(bool om) : om_(om) {}

    void family(std::string_view name, std::string_view type, std::string_view help) {
        name_ = name;
        counter_ = type == "counter";
        const std::string shown = counter_ && !om_ ? name_ + "_total" : name_;
        out_ += "# HELP " + shown + " " + escape(help, false) + "\n";
        out_ += "# TYPE " + shown + " " + std::string(type) + "\n";
    }
    // labels: "worker=\"0\",reason=\"x\"" (values escaped by label()), or "".
    void sample(const std::string& labels, double value, std::string_view suffix = {}) {
        out_ += name_ + (counter_ ? "_total" : "") + std::string(suffix);
        if (!labels.empty()) out_ += "{" + labels + "}";
        char v[40];
        if (value == double(uint64_t(value)) && value < 1e18)
            std::snprintf(v, sizeof v, " %llu\n", (unsigned long long)value);
        else std::snprintf(v, sizeof v, " %.9g\n", value);
        out_ += v;
    }
    static std::string label(std::string_view k, std::string_view v) {
        return std::string(k) + "=\"" + escape(v, true) + "\"";
    }
    std::string finish() { return om_ ? out_ + "# EOF\n" : out_; }

private:
    bool om_;
    bool counter_ = false;
    std::string name_, out_;
};

void worker_metrics(Exposition& x, const dp::Dataplane& dp) {
    const uint32_t n = dp.workers();
    auto w = [](uint32_t i) { return Exposition::label("worker", std::to_string(i)); };
#define PCSCF_X(counter, text)                           \
    x.family("pcscf_worker_" #counter, "counter", text); \
    for (uint32_t i = 0; i < n; ++i)                     \
        x.sample(w(i), double(__atomic_load_n(&dp.worker(i).stats().counter, __ATOMIC_RELAXED)));
    PCSCF_WORKER_COUNTERS(PCSCF_X)
#undef PCSCF_X
    x.family("pcscf_dropped_packets", "counter", "packets the datapath dropped, per worker and reason");
    for (uint32_t i = 0; i < n; ++i) {
        const net::DropCounters d = drops_of(dp.worker(i));
        for (size_t r = 0; r < net::kDropReasonCount; ++r)
            x.sample(w(i) + "," + Exposition::label("reason", net::kDropReasonNames[r]), double(d.count[r]));
    }
    x.family("pcscf_worker_sas", "gauge", "SAs installed in the worker's tables, per direction");
    for (uint32_t i = 0; i < n; ++i) {
        x.sample(w(i) + ",direction=\"inbound\"", double(dp.worker(i).engine().inbound_sas().count()));
        x.sample(w(i) + ",direction=\"outbound\"", double(dp.worker(i).engine().outbound_sas().count()));
    }
}

void sa_metrics(Exposition& x, const SaManager& sas) {
    x.family("pcscf_sas", "gauge", "SAs the control plane knows (installed, being installed or removed)");
    x.sample("", double(sas.size()));
    x.family("pcscf_sa_removals_waiting", "gauge", "SA removals waiting for room on a worker's command ring");
    x.sample("", double(sas.backlog()));
    const auto h = sas.install_latency().snapshot();
    x.family("pcscf_sa_install_seconds", "histogram", "SA installs: record sent to the worker's acknowledgement read");
    for (size_t i = 0; i < LatencyHistogram::kBounds.size(); ++i) {
        char le[32];
        std::snprintf(le, sizeof le, "%g", LatencyHistogram::kBounds[i]);
        x.sample(Exposition::label("le", le), double(h.cumulative[i]), "_bucket");
    }
    x.sample("le=\"+Inf\"", double(h.cumulative.back()), "_bucket");
    x.sample("", double(h.cumulative.back()), "_count");
    x.sample("", h.sum_s, "_sum");
}

// A counter family of two samples told apart by one label.
void two_ways(Exposition& x, const char* name, const char* help, const char* label, std::pair<const char*, uint64_t> a,
              std::pair<const char*, uint64_t> b) {
    x.family(name, "counter", help);
    for (const auto& [value, n] : {a, b}) x.sample(Exposition::label(label, value), double(n));
}

void sip_metrics(Exposition& x, proxy::SipStatus& sip) {
    proxy::ProxyCounters c;
    size_t ues = 0;
    {
        std::lock_guard lock(sip.mu);
        if (!sip.enabled) return;
        c = sip.counters;
        ues = sip.ues;
    }
    x.family("pcscf_sip_messages", "counter", "SIP messages handled, by where they came from or went");
    for (const auto& [d, v] : {std::pair{"from_ue", c.from_ue}, std::pair{"from_core", c.from_core},
                               std::pair{"to_ue", c.to_ue}, std::pair{"to_core", c.to_core}})
        x.sample(Exposition::label("direction", d), double(v));
    x.family("pcscf_sip_refused", "counter", "requests the P-CSCF answered with an error itself");
    x.sample("", double(c.refused));
    two_ways(x, "pcscf_sip_shed",
             "requests answered 503 under overload: waited too long (late) or the transaction table full (full)",
             "reason", {"late", c.shed_late}, {"full", c.shed_full});
    two_ways(x, "pcscf_sip_timeouts",
             "requests answered 408 because the next hop did not answer in time: the core (core) or the UE (ue)",
             "next_hop", {"core", c.timeout_core}, {"ue", c.timeout_ue});
    x.family("pcscf_sip_core_unreachable", "counter", "requests answered 503 because the IMS core was unreachable");
    x.sample("", double(c.core_unreachable));
    two_ways(x, "pcscf_sip_reg_event",
             "with --reg-event: subscriptions the core accepted (subscribed), registrations it ended itself (ended)",
             "what", {"subscribed", c.reg_subscribed}, {"ended", c.reg_ended_by_core});
    two_ways(x, "pcscf_sip_nat",
             "UEs behind a NAT: registrations refused 494 for offering no mod=UDP-enc-tun (refused), NAT ports "
             "learnt or changed (port_changes)",
             "what", {"refused", c.nat_refused}, {"port_changes", c.nat_port_changes});
    two_ways(x, "pcscf_sip_nat_port_waits",
             "messages to UEs behind a NAT held until their NAT port reached the outbound SAs (held), and those of "
             "them sent without it after the SA install timeout (expired)",
             "what", {"held", c.nat_port_waits}, {"expired", c.nat_port_waits_expired});
    x.family("pcscf_sip_dropped", "counter", "SIP messages dropped, per reason");
    for (size_t i = 0; i < proxy::kProxyDropCount; ++i)
        x.sample(Exposition::label("reason", proxy::kProxyDropNames[i]), double(c.dropped[i]));
    x.family("pcscf_sip_sm1_queued_seconds", "gauge",
             "how long the last new registration over UDP waited in its socket");
    x.sample("", double(c.sm1_queued_us) / 1e6);
    x.family("pcscf_sip_transactions", "gauge", "SIP transactions under way or completed and kept");
    x.sample("", double(c.transactions));
    x.family("pcscf_sip_tcp_connections", "gauge", "TCP connections from and to UEs open now");
    x.sample("", double(c.tcp_open));
    two_ways(x, "pcscf_sip_tcp_connections_opened", "TCP connections accepted (from UEs and the core) or opened",
             "side", {"accepted", c.tcp_accepted}, {"connected", c.tcp_connected});
    x.family("pcscf_registered_ues", "gauge", "UEs sec-agree holds (registered, or registering)");
    x.sample("", double(ues));
}

}  // namespace

std::string render_metrics(const MetricsSources& src, bool openmetrics) {
    Exposition x(openmetrics);
    x.family("pcscf_build_info", "gauge", "the version and git revision of this pcscf-espd");
    x.sample(Exposition::label("version", project_version()) + "," + Exposition::label("revision", git_revision()), 1);
    if (src.role != nullptr) {
        x.family("pcscf_role", "gauge", "this node's role (1 for the one it has)");
        const Role now = src.role->role.load();
        for (Role r : {Role::single, Role::primary, Role::standby, Role::taking_over, Role::fenced})
            x.sample(Exposition::label("role", name(r)), r == now ? 1 : 0);
    }
    if (src.dataplane != nullptr) worker_metrics(x, *src.dataplane);
    if (src.sas != nullptr) sa_metrics(x, *src.sas);
    if (src.sip != nullptr) sip_metrics(x, *src.sip);
    return x.finish();
}

}  // namespace pcscf::ctl
