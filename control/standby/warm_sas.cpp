#include "control/standby/warm_sas.hpp"

#include <algorithm>
#include <array>
#include <thread>

#include "control/sa/sa_state.hpp"
#include "sa_contract/owner.hpp"

namespace pcscf::ctl::standby {

namespace {

// The same SA as far as a worker is concerned (the sequence start aside).
bool same(const esp::SaConfig& a, const esp::SaConfig& b) {
    return a.dir == b.dir && a.alg == b.alg && a.ealg == b.ealg && a.spi == b.spi && a.ue_addr == b.ue_addr &&
           a.pcscf_addr == b.pcscf_addr && a.ue_port == b.ue_port && a.pcscf_port == b.pcscf_port &&
           a.cookie == b.cookie && a.mode == b.mode && a.ue_inner == b.ue_inner && a.encap_port == b.encap_port;
}

}  // namespace

WarmSas::WarmSas(esp::SaChannel& rings, const esp::SpiLayout& layout, Warn warn)
    : rings_(rings), layout_(layout), warn_(std::move(warn)), backlog_(rings.workers()) {}

std::optional<uint32_t> WarmSas::owner(const esp::SaConfig& cfg) const {
    if (cfg.dir == esp::Direction::outbound) return esp::owner_of(cfg.ue_addr, layout_.workers);
    if (!layout_.contains(cfg.spi)) return std::nullopt;
    return layout_.owner(cfg.spi);
}

namespace {
uint64_t flight_key(uint64_t cookie, esp::SaOp op) { return cookie << 8 | uint64_t(op); }
}  // namespace

void WarmSas::load(const state::Records& records, const SaManager::Install& install) {
    for (const auto& [k, v] : records) {
        records_.insert_or_assign(k, v);
        const auto id = id_of(k, "sa/");
        if (!id) continue;
        auto stored = decode_sa(v);
        if (!stored) {
            ++refused_;
            warn_(k + ": " + stored.error().message);
            continue;
        }
        const esp::SaConfig& cfg = stored->info.cfg;
        const auto w = owner(cfg);
        Sa sa{cfg, stored->key, stored->info.cipher, w.value_or(0)};
        esp::SaRecord rec;
        rec.sa = cfg;
        rec.sa.seq_start = 0;  // moved on when this node takes over (SaOp::resume)
        rec.key = stored->key;
        rec.cipher = stored->info.cipher;
        const int r = w ? install(*w, rec, sa.handle) : -ERANGE;
        if (r != 0) {
            ++refused_;
            warn_("SA " + std::to_string(*id) + " not kept warm: " + describe_result(r));
            continue;
        }
        sas_.insert_or_assign(*id, sa);
    }
}

void WarmSas::apply(const std::string& key, const std::optional<std::string>& value) {
    if (value) records_.insert_or_assign(key, *value);
    else records_.erase(key);
    const auto id = id_of(key, "sa/");
    if (!id) return;  // sequence marks wait for the takeover; registrations are the Registrar's then
    if (value) install(*id, *value);
    else uninstall(*id);
}

void WarmSas::install(SaId id, const std::string& value) {
    auto stored = decode_sa(value);
    if (!stored) {
        ++refused_;
        warn_("sa/" + std::to_string(id) + ": " + stored.error().message);
        return;
    }
    const esp::SaConfig& cfg = stored->info.cfg;
    if (auto it = sas_.find(id); it != sas_.end()) {
        Sa& warm = it->second;
        if (warm.key == stored->key && warm.cipher == stored->info.cipher && warm.cfg.encap_port != cfg.encap_port) {
            // A NAT port learnt or changed on the primary (TS 33.203 Annex M): the warm SA follows.
            esp::SaConfig moved = warm.cfg;
            moved.encap_port = cfg.encap_port;
            if (same(moved, cfg)) {
                warm.cfg = moved;
                send(warm.worker, esp::SaOp::update, warm);
                return;
            }
        }
        if (same(warm.cfg, cfg) && warm.key == stored->key && warm.cipher == stored->info.cipher) return;
        uninstall(id);  // changed under the same id: the worker gets it anew
    }
    const auto w = owner(cfg);
    if (!w) {
        ++refused_;
        warn_("SA " + std::to_string(id) + " not kept warm: its SPI is outside this node's range");
        return;
    }
    Sa sa{cfg, stored->key, stored->info.cipher, *w};
    sa.cfg.seq_start = 0;
    send(*w, esp::SaOp::add, sa);
    sas_.insert_or_assign(id, sa);
}

void WarmSas::uninstall(SaId id) {
    const auto it = sas_.find(id);
    if (it == sas_.end()) return;
    send(it->second.worker, esp::SaOp::remove, it->second);
    sas_.erase(it);
}

void WarmSas::send(uint32_t worker, esp::SaOp op, const Sa& sa) {
    esp::SaRecord rec;
    rec.op = op;
    rec.sa = sa.cfg;
    rec.key = sa.key;
    if (op != esp::SaOp::remove) rec.cipher = sa.cipher;
    ++in_flight_[flight_key(sa.cfg.cookie, op)];
    ++n_in_flight_;
    // In order behind what already waits for this worker.
    if (!backlog_[worker].empty() || !rings_.send(worker, rec)) backlog_[worker].push_back(rec);
}

void WarmSas::pump() {
    for (uint32_t w = 0; w < backlog_.size(); ++w)
        while (!backlog_[w].empty() && rings_.send(w, backlog_[w].front())) backlog_[w].pop_front();
    std::array<esp::SaEvent, 64> ev;
    for (uint32_t n; (n = rings_.receive_events(ev)) > 0;)
        for (uint32_t i = 0; i < n; ++i) on_event(ev[i]);
}

void WarmSas::on_event(const esp::SaEvent& e) {
    const auto mine =
        e.kind == esp::EventKind::applied ? in_flight_.find(flight_key(e.cookie, e.op)) : in_flight_.end();
    if (mine == in_flight_.end()) {
        if (others_) others_(e);
        return;
    }
    if (--mine->second == 0) in_flight_.erase(mine);
    --n_in_flight_;
    const auto it = sas_.find(e.cookie);
    if (it == sas_.end()) return;  // removed since
    if (e.op == esp::SaOp::add && e.result == 0) it->second.handle = e.handle;
    if (e.result == 0) return;
    ++refused_;
    warn_("SA " + std::to_string(e.cookie) + ": worker " + std::to_string(e.worker) + " refused " +
          (e.op == esp::SaOp::resume ? "to resume it: " : "it: ") + describe_result(e.result));
    if (e.op == esp::SaOp::add) sas_.erase(it);
}

bool WarmSas::settle(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (true) {
        pump();
        if (n_in_flight_ == 0) return true;
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::yield();
    }
}

int WarmSas::take_over(uint32_t worker, const esp::SaRecord& rec, int32_t& handle) {
    const SaId id = rec.sa.cookie;
    auto it = sas_.find(id);
    if (it != sas_.end() && (it->second.worker != worker || it->second.handle < 0 || !same(it->second.cfg, rec.sa) ||
                             !(it->second.key == rec.key) || !(it->second.cipher == rec.cipher))) {
        uninstall(id);
        it = sas_.end();
    }
    if (it != sas_.end()) {
        Sa& sa = it->second;
        sa.claimed = true;
        handle = sa.handle;
        if (rec.sa.seq_start == 0) return 0;
        Sa resumed = sa;
        resumed.cfg.seq_start = rec.sa.seq_start;
        send(worker, esp::SaOp::resume, resumed);
        if (!backlog_[worker].empty()) pump();  // the ring is full: what the worker took makes room
        return 0;
    }
    // Not warm (it came in the last changes, or its worker refused it before): installed
    // now, in order behind everything sent to that worker.
    Sa sa{rec.sa, rec.key, rec.cipher, worker};
    sa.claimed = true;
    send(worker, esp::SaOp::add, sa);
    sas_.insert_or_assign(id, sa);
    // Behind everything queued for the workers (a whole takeover's resumes at worst).
    if (!settle(std::chrono::seconds(10))) return -ETIMEDOUT;
    const auto now = sas_.find(id);
    if (now == sas_.end()) return -EINVAL;  // refused: the acknowledgement said why (warned)
    handle = now->second.handle;
    return 0;
}

void WarmSas::release_unclaimed() {
    std::vector<SaId> stale;
    for (const auto& [id, sa] : sas_)
        if (!sa.claimed) stale.push_back(id);
    for (SaId id : stale) uninstall(id);
}

// In key order (SaManager's maps and the workers' tables take them several times faster
// in order than in a hash's); the values moved out: the takeover is their last reader.
state::Records WarmSas::take_records() {
    state::Records out;
    out.reserve(records_.size());
    for (auto& [k, v] : records_) out.emplace_back(k, std::move(v));
    return out;
}

WarmStats WarmSas::stats() const { return {records_.size(), sas_.size(), refused_, n_in_flight_}; }

void WarmSas::resync(const state::Records& records) {
    std::unordered_map<std::string, std::string> now(records.begin(), records.end());
    std::vector<std::string> gone;
    for (const auto& [k, v] : records_)
        if (!now.contains(k)) gone.push_back(k);
    for (const auto& k : gone) apply(k, std::nullopt);
    for (const auto& [k, v] : records) apply(k, v);
}

}  // namespace pcscf::ctl::standby
