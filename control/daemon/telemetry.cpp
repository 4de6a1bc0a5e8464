#include "control/daemon/telemetry.hpp"

#include <rte_cycles.h>
#include <rte_telemetry.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

#include "control/daemon/log.hpp"
#include "control/sa/sa_request_text.hpp"
#include "control/secagree/sip_edits.hpp"

namespace pcscf::ctl {

namespace {

SaManager* g_sas = nullptr;
const dp::Dataplane* g_dp = nullptr;
SipStatus* g_sip = nullptr;
const ControlPlane* g_plane = nullptr;
RoleState* g_role = nullptr;
EventLog* g_events = nullptr;
constexpr size_t kPage = 40;  // SAs per reply: DPDK telemetry replies are at most 16 KiB

int fail(rte_tel_data* d, const std::string& why) {
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "error", why.substr(0, RTE_TEL_MAX_STRING_LEN - 1).c_str());
    return 0;
}

std::optional<uint64_t> number(const char* s) {
    if (s == nullptr) return std::nullopt;
    const std::string_view v(s);
    uint64_t n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size() || v.empty()) return std::nullopt;
    return n;
}

void add_worker_counters(rte_tel_data* d, const dp::Worker& w) {
    const dp::WorkerStats& s = w.stats();
#define PCSCF_X(name, text) rte_tel_data_add_dict_u64(d, #name, __atomic_load_n(&s.name, __ATOMIC_RELAXED));
    PCSCF_WORKER_COUNTERS(PCSCF_X)
#undef PCSCF_X
    rte_tel_data_add_dict_u64(d, "drops", drops_of(w).total());
    rte_tel_data_add_dict_u64(d, "sas_inbound", w.engine().inbound_sas().count());
    rte_tel_data_add_dict_u64(d, "sas_outbound", w.engine().outbound_sas().count());
}

int cmd_stats(const char*, const char*, rte_tel_data* d) {
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_u64(d, "workers", g_dp->workers());
    rte_tel_data_add_dict_u64(d, "tsc_hz", rte_get_tsc_hz());  // for the *_cycles counters
    for (uint32_t i = 0; i < g_dp->workers(); ++i) {
        rte_tel_data* w = rte_tel_data_alloc();
        rte_tel_data_start_dict(w);
        add_worker_counters(w, g_dp->worker(i));
        rte_tel_data_add_dict_container(d, ("worker" + std::to_string(i)).c_str(), w, 0);
    }
    return 0;
}

int cmd_drops(const char*, const char*, rte_tel_data* d) {
    net::DropCounters total;
    for (uint32_t i = 0; i < g_dp->workers(); ++i) {
        const net::DropCounters w = drops_of(g_dp->worker(i));
        for (size_t r = 0; r < net::kDropReasonCount; ++r) total.count[r] += w.count[r];
    }
    rte_tel_data_start_dict(d);
    for (size_t r = 0; r < net::kDropReasonCount; ++r)
        rte_tel_data_add_dict_u64(d, std::string(net::kDropReasonNames[r]).c_str(), total.count[r]);
    return 0;
}

void add_sa(rte_tel_data* d, const SaInfo& sa) {
    const esp::SaConfig& c = sa.cfg;
    rte_tel_data_add_dict_u64(d, "id", sa.id);
    rte_tel_data_add_dict_string(d, "dir", std::string(esp::name(c.dir)).c_str());
    rte_tel_data_add_dict_u64(d, "spi", c.spi);
    rte_tel_data_add_dict_string(d, "alg", std::string(esp::name(c.alg)).c_str());
    rte_tel_data_add_dict_string(d, "ealg", std::string(esp::name(c.ealg)).c_str());
    rte_tel_data_add_dict_string(d, "mode", std::string(esp::name(c.mode)).c_str());
    if (c.mode == esp::Mode::udp_enc_tun) {  // TS 33.203 Annex M: the UE's own address, the NAT's port (0: not learnt)
        rte_tel_data_add_dict_string(d, "ue_inner", c.ue_inner.to_string().c_str());
        rte_tel_data_add_dict_u64(d, "encap_port", c.encap_port);
    }
    rte_tel_data_add_dict_string(d, "ue", c.ue_addr.to_string().c_str());
    rte_tel_data_add_dict_u64(d, "ue_port", c.ue_port);
    rte_tel_data_add_dict_string(d, "pcscf", c.pcscf_addr.is_unspecified() ? "*" : c.pcscf_addr.to_string().c_str());
    rte_tel_data_add_dict_u64(d, "pcscf_port", c.pcscf_port);
    rte_tel_data_add_dict_u64(d, "worker", sa.worker);
    rte_tel_data_add_dict_string(d, "state", std::string(name(sa.state)).c_str());
    rte_tel_data_add_dict_string(d, "used", sa.used ? "yes" : "no");
    rte_tel_data_add_dict_string(d, "label", sa.label.substr(0, 100).c_str());
    const esp::SaStats st = sa.handle >= 0 && sa.worker < g_dp->workers()
                                ? g_dp->worker(sa.worker).engine().stats_at(c.dir, sa.handle)
                                : esp::SaStats{};
    rte_tel_data_add_dict_u64(d, "packets", st.packets);
    rte_tel_data_add_dict_u64(d, "bytes", st.bytes);
    rte_tel_data_add_dict_u64(d, "drops", st.drops);
}

int cmd_sa_count(const char*, const char*, rte_tel_data* d) {
    uint64_t in = 0, out = 0, pending = 0;
    for (size_t off = 0;; off += 4096) {
        const auto page = g_sas->list(off, 4096);
        for (const auto& sa : page) {
            ++(sa.cfg.dir == esp::Direction::inbound ? in : out);
            pending += sa.state != SaState::active;
        }
        if (page.size() < 4096) break;
    }
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_u64(d, "sas", in + out);
    rte_tel_data_add_dict_u64(d, "inbound", in);
    rte_tel_data_add_dict_u64(d, "outbound", out);
    rte_tel_data_add_dict_u64(d, "not_active", pending);
    rte_tel_data_add_dict_u64(d, "removals_waiting", g_sas->backlog());  // for a full command ring
    return 0;
}

int cmd_sa_list(const char*, const char* params, rte_tel_data* d) {
    const uint64_t offset = params && *params ? number(params).value_or(UINT64_MAX) : 0;
    if (offset == UINT64_MAX) return fail(d, "usage: /pcscf/sa/list,<offset>");
    // A dict keyed by SA id: DPDK 22.11 telemetry nests dicts only inside dicts.
    rte_tel_data_start_dict(d);
    for (const SaInfo& sa : g_sas->list(offset, kPage)) {
        rte_tel_data* one = rte_tel_data_alloc();
        if (one == nullptr) break;
        rte_tel_data_start_dict(one);
        add_sa(one, sa);
        if (rte_tel_data_add_dict_container(d, std::to_string(sa.id).c_str(), one, 0) != 0) {
            rte_tel_data_free(one);
            break;
        }
    }
    return 0;
}

int cmd_sa_get(const char*, const char* params, rte_tel_data* d) {
    const auto id = number(params);
    if (!id) return fail(d, "usage: /pcscf/sa/get,<id>");
    const auto sa = g_sas->find(*id);
    if (!sa) return fail(d, "no SA " + std::to_string(*id));
    rte_tel_data_start_dict(d);
    add_sa(d, *sa);
    return 0;
}

// A standby's SAs are the primary's, through the store: none by hand.
bool refused_on_standby(rte_tel_data* d) {
    const Role r = g_role->role.load();
    if (r != Role::standby && r != Role::taking_over) return false;
    fail(d, "this node is a standby: SAs are added and deleted on the primary");
    return true;
}

int cmd_sa_add(const char*, const char* params, rte_tel_data* d) {
    if (refused_on_standby(d)) return 0;
    auto req = parse_sa_request(params ? params : "");
    if (!req) return fail(d, req.error().message);
    auto id = g_sas->add(*req);
    if (!id) return fail(d, id.error().message);
    // Wait (briefly) for the worker's acknowledgement, which the control thread pumps.
    std::optional<SaInfo> sa;
    for (int i = 0; i < 100; ++i) {
        sa = g_sas->find(*id);
        if (!sa || sa->state != SaState::pending) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!sa) return fail(d, "the worker refused SA " + std::to_string(*id) + " (see the daemon log)");
    rte_tel_data_start_dict(d);
    add_sa(d, *sa);
    return 0;
}

int cmd_sa_del(const char*, const char* params, rte_tel_data* d) {
    if (refused_on_standby(d)) return 0;
    const auto id = number(params);
    if (!id) return fail(d, "usage: /pcscf/sa/del,<id>");
    if (auto r = g_sas->remove(*id); !r) return fail(d, r.error().message);
    for (int i = 0; i < 100 && g_sas->find(*id); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_u64(d, "deleted", *id);
    rte_tel_data_add_dict_string(d, "state", g_sas->find(*id) ? "removing" : "gone");
    return 0;
}

int cmd_config(const char*, const char*, rte_tel_data* d) {
    const dp::ServiceConfig& c = g_dp->config();
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "access_port", c.access_port.c_str());
    rte_tel_data_add_dict_string(d, "access_mac", g_dp->access_mac().c_str());
    rte_tel_data_add_dict_string(d, "tap", c.tap_name.c_str());
    std::string addrs;
    for (const auto& a : c.local_addrs) addrs += (addrs.empty() ? "" : " ") + a.to_string();
    rte_tel_data_add_dict_string(d, "local_addrs", addrs.c_str());
    rte_tel_data_add_dict_string(
        d, "protected_ports",
        (std::to_string(c.protected_ports.first) + "-" + std::to_string(c.protected_ports.last)).c_str());
    rte_tel_data_add_dict_u64(d, "workers", c.workers);
    rte_tel_data_add_dict_u64(d, "access_mtu", c.access_mtu);
    rte_tel_data_add_dict_u64(d, "tap_mtu", c.tap_mtu);
    const dp::AccessVlan& vlan = g_dp->access_vlan();
    rte_tel_data_add_dict_u64(d, "access_vlan", vlan.id);
    if (vlan.id != 0) {
        rte_tel_data_add_dict_string(d, "access_vlan_strip", std::string(vlan.strip_by()).c_str());
        rte_tel_data_add_dict_string(d, "access_vlan_insert", std::string(vlan.insert_by()).c_str());
    }
    rte_tel_data_add_dict_string(d, "esp_steering", g_dp->esp_steering().c_str());
    rte_tel_data_add_dict_u64(d, "replay_window", c.engine.replay_window);
    rte_tel_data_add_dict_u64(d, "inbound_sas_per_worker", c.engine.spi.slots_per_worker);
    rte_tel_data_add_dict_u64(d, "outbound_sas_per_worker", c.engine.outbound_capacity);
    rte_tel_data_add_dict_u64(d, "spi_base", c.engine.spi.base);
    rte_tel_data_add_dict_u64(d, "look_ahead_sas", c.engine.look_ahead_from);
    rte_tel_data_add_dict_u64(d, "early_key_sas", c.engine.early_keys_from);
    std::lock_guard lock(g_sip->mu);
    if (!g_sip->enabled) return 0;
    const proxy::ProxyConfig& p = g_sip->proxy;
    const secagree::RegistrarConfig& r = g_sip->registrar;
    rte_tel_data_add_dict_string(d, "core", p.core.to_string().c_str());
    rte_tel_data_add_dict_string(d, "core_local", p.core_local.to_string().c_str());
    rte_tel_data_add_dict_u64(d, "overload_queue_ms", uint64_t(p.overload_queue.count()));
    rte_tel_data_add_dict_u64(d, "max_transactions", p.max_transactions);
    rte_tel_data_add_dict_u64(d, "retry_after", uint64_t(p.retry_after.count()));
    rte_tel_data_add_dict_u64(d, "max_tcp_connections", p.max_connections);
    rte_tel_data_add_dict_u64(d, "core_timeout_ms", uint64_t(p.core_timeout.count()));
    rte_tel_data_add_dict_string(d, "reg_event", p.reg_event ? "yes" : "no");
    rte_tel_data_add_dict_u64(d, "reg_await_auth", uint64_t(r.reg_await_auth.count()));
    // Each family's allowed algorithms in order; pairs rank by ealg, then alg.
    rte_tel_data_add_dict_string(d, "alg_priority", secagree::integrity_order(r.algorithms).c_str());
    rte_tel_data_add_dict_string(d, "ealg_priority", secagree::encryption_order(r.algorithms).c_str());
    return 0;
}

int cmd_sip(const char*, const char*, rte_tel_data* d) {
    std::lock_guard lock(g_sip->mu);
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "enabled", g_sip->enabled ? "yes" : "no");
    const proxy::ProxyCounters& c = g_sip->counters;
    rte_tel_data_add_dict_u64(d, "ues", g_sip->ues);
    rte_tel_data_add_dict_u64(d, "from_ue", c.from_ue);
    rte_tel_data_add_dict_u64(d, "from_core", c.from_core);
    rte_tel_data_add_dict_u64(d, "to_ue", c.to_ue);
    rte_tel_data_add_dict_u64(d, "to_core", c.to_core);
    rte_tel_data_add_dict_u64(d, "refused", c.refused);
    rte_tel_data_add_dict_u64(d, "shed_late", c.shed_late);
    rte_tel_data_add_dict_u64(d, "shed_full", c.shed_full);
    rte_tel_data_add_dict_u64(d, "timeout_core", c.timeout_core);
    rte_tel_data_add_dict_u64(d, "timeout_ue", c.timeout_ue);
    rte_tel_data_add_dict_u64(d, "core_unreachable", c.core_unreachable);
    rte_tel_data_add_dict_u64(d, "reg_subscribed", c.reg_subscribed);
    rte_tel_data_add_dict_u64(d, "reg_ended_by_core", c.reg_ended_by_core);
    rte_tel_data_add_dict_u64(d, "nat_refused", c.nat_refused);
    rte_tel_data_add_dict_u64(d, "nat_port_changes", c.nat_port_changes);
    rte_tel_data_add_dict_u64(d, "nat_port_waits", c.nat_port_waits);
    rte_tel_data_add_dict_u64(d, "nat_port_waits_expired", c.nat_port_waits_expired);
    rte_tel_data_add_dict_u64(d, "sm1_queued_us", c.sm1_queued_us);
    rte_tel_data_add_dict_u64(d, "transactions", c.transactions);
    rte_tel_data_add_dict_u64(d, "tcp_open", c.tcp_open);
    rte_tel_data_add_dict_u64(d, "tcp_accepted", c.tcp_accepted);
    rte_tel_data_add_dict_u64(d, "tcp_connected", c.tcp_connected);
    rte_tel_data* dropped = rte_tel_data_alloc();
    rte_tel_data_start_dict(dropped);
    for (size_t i = 0; i < proxy::kProxyDropCount; ++i)  // the reasons that happened, as /pcscf/drops
        if (c.dropped[i] != 0)
            rte_tel_data_add_dict_u64(dropped, std::string(proxy::kProxyDropNames[i]).c_str(), c.dropped[i]);
    rte_tel_data_add_dict_container(d, "dropped", dropped, 0);
    return 0;
}

// ---- UEs, keys and events, for the operator -------------------------------------------

constexpr size_t kUePage = 20;     // UEs per reply (16 KiB)
constexpr size_t kEventPage = 60;  // event lines per reply

std::string join_ids(const secagree::SaSet& set) {
    std::string out;
    for (SaId id : set.ids)
        if (id != 0) out += (out.empty() ? "" : " ") + std::to_string(id);
    return out;
}

// One UE, flat (DPDK telemetry nests one level): a set's fields carry its role as prefix
// (TS 33.203 7.4.2a: the current set, the old pair kept until the new one is used, the
// temporary set of a registration under way).
void add_ue(rte_tel_data* d, const secagree::Registrar::View& v) {
    rte_tel_data_add_dict_string(d, "impi", v.impi.substr(0, RTE_TEL_MAX_STRING_LEN - 1).c_str());
    rte_tel_data_add_dict_string(d, "ue", v.ue.to_string().c_str());
    std::string impus;
    for (const auto& i : v.impus) impus += (impus.empty() ? "" : " ") + i;
    rte_tel_data_add_dict_string(d, "impus", impus.substr(0, RTE_TEL_MAX_STRING_LEN - 1).c_str());
    rte_tel_data_add_dict_string(d, "transport", v.tcp ? "tcp" : "udp");
    rte_tel_data_add_dict_string(d, "service_route",
                                 secagree::list_value(v.service_route).substr(0, RTE_TEL_MAX_STRING_LEN - 1).c_str());
    const char* state = v.current ? (v.temporary ? "registered, re-registering" : "registered")
                                  : (v.temporary ? "registering" : "de-registering");
    rte_tel_data_add_dict_string(d, "state", state);
    const auto left = v.current ? std::chrono::duration_cast<std::chrono::seconds>(v.expiry - Clock::now()).count() : 0;
    rte_tel_data_add_dict_u64(d, "expires_s", uint64_t(std::max<int64_t>(0, left)));
    for (const auto& [role, set] :
         {std::pair{"current", &v.current}, std::pair{"kept", &v.kept}, std::pair{"temporary", &v.temporary}}) {
        if (!*set) continue;
        const secagree::SaSet& x = **set;
        const std::string r = role;
        rte_tel_data_add_dict_string(d, (r + "_sas").c_str(), join_ids(x).c_str());
        rte_tel_data_add_dict_string(d, (r + "_alg").c_str(), std::string(esp::name(x.alg)).c_str());
        rte_tel_data_add_dict_string(d, (r + "_ealg").c_str(), std::string(esp::name(x.ealg)).c_str());
        rte_tel_data_add_dict_string(d, (r + "_pcscf").c_str(), x.pcscf.to_string().c_str());
        rte_tel_data_add_dict_string(d, (r + "_mode").c_str(), std::string(esp::name(x.mode())).c_str());
        if (x.mode() == esp::Mode::udp_enc_tun)
            rte_tel_data_add_dict_string(
                d, (r + "_nat").c_str(),
                ("inner " + x.ue_inner.to_string() + " port " + (x.encap_port ? std::to_string(x.encap_port) : "-"))
                    .c_str());
        rte_tel_data_add_dict_string(d, (r + "_ports").c_str(),
                                     ("pc=" + std::to_string(x.port_pc) + " ps=" + std::to_string(x.port_ps) +
                                      " uc=" + std::to_string(x.port_uc()) + " us=" + std::to_string(x.port_us()))
                                         .c_str());
        rte_tel_data_add_dict_string(d, (r + "_spis").c_str(),
                                     ("pc=" + std::to_string(x.spi_pc) + " ps=" + std::to_string(x.spi_ps) + " uc=" +
                                      std::to_string(x.ue_side.spi_c) + " us=" + std::to_string(x.ue_side.spi_s))
                                         .c_str());
    }
}

// Keyed by position from `first` ("0", "1", ...): telemetry's names take no '.' or ':',
// so not the address (which is in "ue").
void add_ues(rte_tel_data* d, const std::vector<secagree::Registrar::View>& ues, size_t first) {
    rte_tel_data_start_dict(d);
    for (size_t i = 0; i < ues.size(); ++i) {
        rte_tel_data* one = rte_tel_data_alloc();
        if (one == nullptr) break;
        rte_tel_data_start_dict(one);
        add_ue(one, ues[i]);
        rte_tel_data_add_dict_container(d, std::to_string(first + i).c_str(), one, 0);
    }
}

std::optional<std::vector<secagree::Registrar::View>> ask_ues(proxy::UeQuery q) {
    return g_sip->ask(std::move(q), std::chrono::seconds(2));
}

constexpr const char* kNoAnswer = "the SIP control thread did not answer (sec-agree off, or a standby)";

int cmd_ue_list(const char*, const char* params, rte_tel_data* d) {
    const uint64_t offset = params && *params ? number(params).value_or(UINT64_MAX) : 0;
    if (offset == UINT64_MAX) return fail(d, "usage: /pcscf/ue/list,<offset>");
    const auto ues = ask_ues({"", offset, kUePage});
    if (!ues) return fail(d, kNoAnswer);
    add_ues(d, *ues, offset);
    return 0;
}

int cmd_ue_get(const char*, const char* params, rte_tel_data* d) {
    if (params == nullptr || *params == 0) return fail(d, "usage: /pcscf/ue/get,<IMPI>");
    const auto ues = ask_ues({params, 0, 0});
    if (!ues) return fail(d, kNoAnswer);
    if (ues->empty()) return fail(d, std::string("no UE with IMPI ") + params);
    add_ues(d, *ues, 0);
    return 0;
}

// The keys of an IMPI's SAs, so that a capture can be decoded (pcscf-espctl keys).
int cmd_sa_keys(const char*, const char* params, rte_tel_data* d) {
    if (params == nullptr || *params == 0) return fail(d, "usage: /pcscf/sa/keys,<IMPI>");
    const std::string impi = params;
    const auto ids = g_sas->select([&](const SaInfo& sa) { return sa.label == impi; });
    if (ids.empty()) return fail(d, "no SA of IMPI " + impi);
    rte_tel_data_start_dict(d);
    for (SaId id : ids) {
        const auto sa = g_sas->find(id);
        if (!sa) continue;
        rte_tel_data* one = rte_tel_data_alloc();
        if (one == nullptr) break;
        rte_tel_data_start_dict(one);
        add_sa(one, *sa);
        static constexpr char kHex[] = "0123456789abcdef";
        const auto hex = [](std::span<const uint8_t> b) {
            std::string out;
            for (uint8_t x : b) out += {kHex[x >> 4], kHex[x & 15]};
            return out;
        };
        // "": restored, the raw key is not kept; or an AEAD, which has none
        rte_tel_data_add_dict_string(one, "key", hex({sa->raw_key.data(), sa->raw_key_len}).c_str());
        // CK_ESP, or the AES key || salt of aes-gcm and aes-gmac; "" for an HMAC with ealg=null
        rte_tel_data_add_dict_string(one, "ekey", hex(sa->cipher.span()).c_str());
        rte_tel_data_add_dict_container(d, std::to_string(id).c_str(), one, 0);
    }
    return 0;
}

int cmd_events(const char*, const char* params, rte_tel_data* d) {
    const uint64_t since = params && *params ? number(params).value_or(UINT64_MAX) : UINT64_MAX;
    const EventLog::Page p = g_events->since(since, kEventPage);
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_u64(d, "next", p.next);
    rte_tel_data_add_dict_u64(d, "lost", p.lost);
    for (const auto& [seq, line] : p.events)
        rte_tel_data_add_dict_string(d, std::to_string(seq).c_str(),
                                     line.substr(0, RTE_TEL_MAX_STRING_LEN - 1).c_str());
    return 0;
}

// The log's level per area; with a parameter ("sip=debug", "info,sa=debug") it changes.
int cmd_log(const char*, const char* params, rte_tel_data* d) {
    if (params != nullptr && *params != 0)
        if (const std::string why = set_log_levels(params); !why.empty()) return fail(d, why);
    rte_tel_data_start_dict(d);
    for (size_t i = 0; i < kLogAreas; ++i)
        rte_tel_data_add_dict_string(d, std::string(name(LogArea(i))).c_str(),
                                     std::string(name(log_level(LogArea(i)))).c_str());
    return 0;
}

}  // namespace

net::DropCounters drops_of(const dp::Worker& w) {
    net::DropCounters d;
    for (size_t r = 0; r < net::kDropReasonCount; ++r)
        d.count[r] = __atomic_load_n(&w.engine().drops().count[r], __ATOMIC_RELAXED) +
                     __atomic_load_n(&w.stats().drops.count[r], __ATOMIC_RELAXED);
    return d;
}

// A standby's following of the store.
void add_follow_status(rte_tel_data* d, const standby::FollowStatus& s) {
    rte_tel_data_add_dict_string(d, "position", s.position.c_str());
    rte_tel_data_add_dict_u64(d, "serial", s.serial);
    rte_tel_data_add_dict_u64(d, "entries", s.entries);
    rte_tel_data_add_dict_u64(d, "snapshots", s.snapshots);
    rte_tel_data_add_dict_int(d, "lag_ms", int(s.lag_ms));
    rte_tel_data_add_dict_u64(d, "feed_errors", s.feed_errors);
    rte_tel_data_add_dict_string(d, "healthy", s.healthy ? "yes" : "no");
    rte_tel_data_add_dict_u64(d, "records", s.warm.records);
    rte_tel_data_add_dict_u64(d, "warm_sas", s.warm.sas);
    rte_tel_data_add_dict_u64(d, "refused_sas", s.warm.refused);
    rte_tel_data_add_dict_u64(d, "in_flight", s.warm.in_flight);
}

// The state store: what came back at start, and what the writer has done since; on a
// standby, how far it has followed the store.
int cmd_state(const char*, const char*, rte_tel_data* d) {
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "role", std::string(name(g_role->role.load())).c_str());
    {
        std::lock_guard lock(g_role->mu);
        if (g_role->follower != nullptr) {
            rte_tel_data_add_dict_string(d, "enabled", "yes");
            add_follow_status(d, g_role->follower->status());
            return 0;
        }
    }
    const auto stats = g_plane->state_stats();
    rte_tel_data_add_dict_string(d, "enabled", stats ? "yes" : "no");
    if (!stats) return 0;
    if (g_role->epoch.load() != 0) rte_tel_data_add_dict_u64(d, "epoch", g_role->epoch.load());
    if (g_role->takeover_ms.load() >= 0) rte_tel_data_add_dict_int(d, "takeover_ms", int(g_role->takeover_ms.load()));
    if (const std::string last = g_plane->state_last_change(); !last.empty())
        rte_tel_data_add_dict_string(d, "last_change", last.c_str());
    const auto& r = g_plane->restored();
    rte_tel_data_add_dict_u64(d, "restored_sas", r.sas);
    rte_tel_data_add_dict_u64(d, "restored_registrations", r.registrations);
    rte_tel_data_add_dict_u64(d, "restore_dropped_sas", r.dropped);
    rte_tel_data_add_dict_u64(d, "restore_ms", uint64_t(r.took.count()));
    rte_tel_data_add_dict_u64(d, "batches", stats->batches);
    rte_tel_data_add_dict_u64(d, "records", stats->records);
    rte_tel_data_add_dict_u64(d, "failures", stats->failures);
    rte_tel_data_add_dict_u64(d, "pending", stats->pending);
    rte_tel_data_add_dict_string(d, "healthy", stats->healthy ? "yes" : "no");
    rte_tel_data_add_dict_string(d, "fenced", stats->fenced ? "yes" : "no");
    rte_tel_data_add_dict_string(d, "emptied", stats->emptied ? "yes" : "no");
    rte_tel_data_add_dict_u64(d, "rewrites", stats->rewrites);
    return 0;
}

// keepalived's notify, through pcscf-espctl: "primary" (this node has the address now:
// take over) or "standby" (another node has it: a primary stands down). No parameter:
// the role as it is.
int cmd_role(const char*, const char* params, rte_tel_data* d) {
    const std::string_view want = params ? params : "";
    const Role now = g_role->role.load();
    if (want == "primary") {
        if (now == Role::standby) g_role->takeover_requested = true;
        else if (now == Role::single) return fail(d, "this node is not in a pair (no --standby)");
    } else if (want == "standby") {
        if (now == Role::primary) g_role->stand_down_requested = true;
    } else if (!want.empty()) {
        return fail(d, "usage: /pcscf/role[,primary|standby]");
    }
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "role", std::string(name(now)).c_str());
    if (!want.empty()) rte_tel_data_add_dict_string(d, "requested", std::string(want).c_str());
    return 0;
}

std::string register_telemetry(ControlPlane& plane, const dp::Dataplane& dataplane, RoleState& role, EventLog& events) {
    g_role = &role;
    g_events = &events;
    g_sas = &plane.sas();
    g_dp = &dataplane;
    g_sip = &plane.sip_status();
    g_plane = &plane;
    // DPDK refuses a command whose help is 128 characters or more (RTE_TEL_MAX_STRING_LEN,
    // checked here at compile time) and says so, as any refusal, by its return value only.
    struct Command {
        const char* name;
        telemetry_cb fn;
        const char* help;
    };
    static constexpr Command kCommands[] = {
        {"/pcscf/state", cmd_state, "State store: what came back at start, writes since"},
        {"/pcscf/role", cmd_role, "This node's role. Parameter: primary|standby to change it"},
        {"/pcscf/sip", cmd_sip, "SIP proxy counters. No parameters"},
        {"/pcscf/stats", cmd_stats, "Counters per worker. No parameters"},
        {"/pcscf/drops", cmd_drops, "Dropped packets per reason. No parameters"},
        {"/pcscf/sa/count", cmd_sa_count, "SAs by direction. No parameters"},
        {"/pcscf/sa/list", cmd_sa_list, "SAs with counters. Parameter: offset"},
        {"/pcscf/sa/get", cmd_sa_get, "One SA. Parameter: id"},
        {"/pcscf/sa/add", cmd_sa_add,
         "Install an SA. Parameters: dir,alg,key,ealg,ekey,spi,ue,ue_port,pcscf,pcscf_port,mode,ue_inner,encap_port "
         "(key=value,...)"},
        {"/pcscf/sa/del", cmd_sa_del, "Delete an SA. Parameter: id"},
        {"/pcscf/config", cmd_config, "Running configuration. No parameters"},
        {"/pcscf/log", cmd_log, "The log's level per area. Parameter to change them: area=level,... or a level"},
        {"/pcscf/ue/list", cmd_ue_list, "UEs with their SA sets. Parameter: offset"},
        {"/pcscf/ue/get", cmd_ue_get, "The UEs of one IMPI. Parameter: IMPI"},
        {"/pcscf/sa/keys", cmd_sa_keys, "The SAs of one IMPI with their keys. Parameter: IMPI"},
        {"/pcscf/events", cmd_events,
         "SA and registration events. Parameter: the first event's number (none: only new)"},
    };
    static_assert(
        std::ranges::all_of(kCommands,
                            [](const Command& c) { return std::string_view(c.help).size() < RTE_TEL_MAX_STRING_LEN; }),
        "a telemetry help DPDK would refuse");
    for (const Command& c : kCommands)
        if (const int r = rte_telemetry_register_cmd(c.name, c.fn, c.help); r != 0)
            return std::string("cannot register the telemetry command ") + c.name + ": " + std::strerror(-r);
    return {};
}

}  // namespace pcscf::ctl
