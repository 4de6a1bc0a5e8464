#include "control/sa/sa_manager.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "sa_contract/hmac_key.hpp"
#include "sa_contract/owner.hpp"

namespace pcscf::ctl {

namespace {

auto outbound_key(const esp::SaConfig& c) { return std::tuple{c.ue_addr.bytes, c.ue_port, c.pcscf_port}; }

std::string errno_text(int err) {
    switch (-err) {
        case EEXIST: return "already installed on the worker";
        case ENOENT: return "not installed on the worker";
        case ENOSPC: return "the worker's table is full";
        case ERANGE: return "SPI outside the configured range";
        case EXDEV: return "SPI belongs to another worker";
        case EINVAL: return "invalid record";
        default: return std::strerror(-err);
    }
}

}  // namespace

std::string_view name(SaState s) {
    switch (s) {
        case SaState::pending: return "pending";
        case SaState::active: return "active";
        case SaState::removing: return "removing";
    }
    return "?";
}

SaManager::SaManager(esp::SaChannel& rings, const esp::SpiLayout& layout)
    : rings_(rings), layout_(layout), spis_(layout), backlog_(layout.workers) {
    // Sized for every inbound SPI at once: growing it rehashes every entry in one go, a
    // stall of the control thread that grows with the SAs (tens of ms at a million).
    inbound_by_spi_.reserve(layout.span());
}

Expected<IMB_MGR*> SaManager::imb() {
    if (!imb_) {
        auto m = esp::ImbManager::create();
        if (!m) return fail(Errc::exhausted, m.error());
        imb_.emplace(std::move(*m));
    }
    return imb_->get();
}

Expected<esp::HmacKey> SaManager::expand(esp::Alg alg, std::span<const uint8_t> key) {
    // The AEADs have no HMAC state: their key and salt travel in SaRecord::cipher.
    if (!esp::is_hmac(alg)) {
        if (!key.empty())
            return fail(Errc::invalid, "alg=" + std::string(esp::name(alg)) + " takes no integrity key (" +
                                           std::to_string(key.size()) +
                                           " bytes given): its key goes in the cipher key");
        return esp::HmacKey{};
    }
    auto mgr = imb();
    if (!mgr) return std::unexpected(mgr.error());
    auto k = esp::expand_key(*mgr, alg, key);
    if (!k) return fail(Errc::invalid, k.error());
    return *k;
}

Expected<esp::CipherKey> SaManager::cipher_key(esp::Alg alg, esp::Ealg ealg, esp::AkaKey ck, esp::AkaKey ik) {
    std::lock_guard lock(mu_);
    auto mgr = imb();
    if (!mgr) return std::unexpected(mgr.error());
    auto k = esp::cipher_key(*mgr, alg, ealg, ck, ik);
    if (!k) return fail(Errc::refused, k.error());
    return *k;
}

Expected<SaManager::Prepared> SaManager::prepare(const SaRequest& req, SaId id, const esp::HmacKey* expanded) {
    if (req.ue.is_unspecified()) return fail(Errc::invalid, "the UE address is required");
    if (req.dir == esp::Direction::outbound) {
        if (req.spi == 0) return fail(Errc::invalid, "an outbound SA needs the UE's SPI (not 0)");
        if (req.ue_port == 0 || req.pcscf_port == 0) return fail(Errc::invalid, "an outbound SA needs both ports");
    }
    if (req.spi != 0 && req.spi < 256)  // RFC 4303 2.1, either direction
        return fail(Errc::invalid, "SPI " + std::to_string(req.spi) + " is reserved (1-255)");
    if (auto ok = check_cipher(req.alg, req.ealg, req.cipher_key.size()); !ok) return std::unexpected(ok.error());
    if (req.mode == esp::Mode::udp_enc_tun && (!req.ue.is_v4() || !req.ue_inner.is_v4()))
        return fail(Errc::invalid, "a UDP-enc-tun SA needs the UE's public and inner IPv4 addresses (NAT44 only)");
    if (req.mode != esp::Mode::udp_enc_tun && (req.encap_port != 0 || !req.ue_inner.is_unspecified()))
        return fail(Errc::invalid, "an encapsulation port and inner address are for a UDP-enc-tun SA only");
    auto key = expanded ? Expected<esp::HmacKey>(*expanded) : expand(req.alg, req.key);
    if (!key) return std::unexpected(key.error());

    SaInfo sa;
    sa.id = id;
    sa.label = req.label;
    sa.raw_key_len = uint8_t(std::min(req.key.size(), sa.raw_key.size()));
    std::copy_n(req.key.begin(), sa.raw_key_len, sa.raw_key.begin());
    sa.cfg.dir = req.dir;
    sa.cfg.alg = req.alg;
    sa.cfg.ealg = req.ealg;
    sa.cipher.len = uint8_t(req.cipher_key.size());
    std::copy_n(req.cipher_key.begin(), sa.cipher.len, sa.cipher.bytes.begin());
    sa.cfg.ue_addr = req.ue;
    sa.cfg.pcscf_addr = req.pcscf;
    sa.cfg.ue_port = req.ue_port;
    sa.cfg.pcscf_port = req.pcscf_port;
    sa.cfg.cookie = sa.id;
    sa.cfg.mode = req.mode;
    sa.cfg.ue_inner = req.ue_inner;
    sa.cfg.encap_port = req.encap_port;
    if (req.dir == esp::Direction::outbound) {
        if (auto it = outbound_by_key_.find(outbound_key(sa.cfg)); it != outbound_by_key_.end())
            return fail(Errc::exists,
                        "SA " + std::to_string(it->second) + " already protects this UE address and port pair");
        sa.cfg.spi = req.spi;
        sa.worker = esp::owner_of(req.ue, layout_.workers);
    } else if (req.spi != 0) {
        if (!layout_.contains(req.spi))
            return fail(Errc::invalid, "SPI " + std::to_string(req.spi) + " is outside the inbound range " +
                                           std::to_string(layout_.base) + ".." +
                                           std::to_string(layout_.base + layout_.span() - 1));
        if (!spis_.reserve(req.spi)) return fail(Errc::exists, "SPI " + std::to_string(req.spi) + " is already in use");
        sa.cfg.spi = req.spi;
        sa.worker = layout_.owner(req.spi);
    } else {
        sa.worker = esp::owner_of(req.ue, layout_.workers);
        auto spi = spis_.allocate(sa.worker, req.avoid_spis);
        if (!spi) return fail(Errc::exhausted, "no free inbound SPI on worker " + std::to_string(sa.worker));
        sa.cfg.spi = *spi;
    }
    return Prepared{std::move(sa), *key};
}

void SaManager::unprepare(const SaInfo& sa) {
    if (sa.cfg.dir == esp::Direction::inbound) spis_.release(sa.cfg.spi);
}

SaId SaManager::commit(SaInfo sa, const esp::HmacKey& key) {
    ++next_id_;
    sa.generation = generation_;
    sa.hmac = key;
    sa.sent = std::chrono::steady_clock::now();
    if (state_) state_->put(sa_record_key(sa.id), encode(sa, key));
    if (sa.cfg.dir == esp::Direction::inbound) inbound_by_spi_[sa.cfg.spi] = sa.id;
    else outbound_by_key_[outbound_key(sa.cfg)] = sa.id;
    const SaId id = sa.id;
    sas_.emplace(id, std::move(sa));
    return id;
}

Expected<SaId> SaManager::add(const SaRequest& req) {
    std::lock_guard lock(mu_);
    auto p = prepare(req, next_id_, nullptr);
    if (!p) return std::unexpected(p.error());
    if (auto sent = send(p->sa, esp::SaOp::add, p->key); !sent) {
        unprepare(p->sa);
        return std::unexpected(sent.error());
    }
    return commit(std::move(p->sa), p->key);
}

Expected<std::vector<SaId>> SaManager::add_all(std::span<const SaRequest> reqs) {
    std::lock_guard lock(mu_);
    std::vector<Prepared> ps;
    ps.reserve(reqs.size());
    auto undo = [&] {
        for (const Prepared& p : ps) unprepare(p.sa);
    };
    for (size_t i = 0; i < reqs.size(); ++i) {
        // A set's SAs share one key: expanded once.
        const bool same_key = i > 0 && reqs[i].alg == reqs[i - 1].alg && reqs[i].key == reqs[i - 1].key;
        auto p = prepare(reqs[i], next_id_ + i, same_key ? &ps.back().key : nullptr);
        if (!p) {
            undo();
            return std::unexpected(p.error());
        }
        if (!ps.empty() && p->sa.worker != ps.front().sa.worker) {
            unprepare(p->sa);
            undo();
            return fail(Errc::invalid, "the SAs of one group must belong to one worker");
        }
        ps.push_back(std::move(*p));
    }
    if (ps.empty()) return std::vector<SaId>{};
    const uint32_t worker = ps.front().sa.worker;
    std::vector<esp::SaRecord> recs;
    recs.reserve(ps.size());
    for (const Prepared& p : ps) recs.push_back(record(p.sa, esp::SaOp::add, p.key));
    if (!send_together(worker, recs)) {
        undo();
        return fail(Errc::busy, "worker " + std::to_string(worker) + " has too many SA changes queued; try again");
    }
    std::vector<SaId> ids;
    ids.reserve(ps.size());
    for (Prepared& p : ps) ids.push_back(commit(std::move(p.sa), p.key));
    return ids;
}

esp::SaRecord SaManager::record(const SaInfo& sa, esp::SaOp op, const esp::HmacKey& key) {
    esp::SaRecord rec;
    rec.op = op;
    rec.request_id = next_request_++;
    rec.sa = sa.cfg;
    rec.key = key;
    if (op != esp::SaOp::remove) rec.cipher = sa.cipher;  // CK_ESP goes where it is needed only
    return rec;
}

bool SaManager::send_together(uint32_t worker, std::span<const esp::SaRecord> recs) {
    // Records reach a worker in order: nothing overtakes what waits in its backlog.
    return backlog_[worker].empty() && rings_.send_all(worker, recs);
}

Expected<void> SaManager::send(SaInfo& sa, esp::SaOp op, const esp::HmacKey& key, bool may_wait) {
    const esp::SaRecord rec = record(sa, op, key);
    // Records reach a worker in order: nothing overtakes what waits in its backlog.
    auto& waiting = backlog_[sa.worker];
    const bool sent = waiting.empty() && rings_.send(sa.worker, rec);
    if (sent || op == esp::SaOp::remove || may_wait) {
        if (!sent) waiting.push_back(rec);
        if (op == esp::SaOp::update) ++sa.updates;
        return {};
    }
    return fail(Errc::busy, "worker " + std::to_string(sa.worker) + " has too many SA changes queued; try again");
}

Expected<void> SaManager::remove(SaId id) {
    std::lock_guard lock(mu_);
    auto it = sas_.find(id);
    if (it == sas_.end()) return fail(Errc::not_found, "no SA " + std::to_string(id));
    if (it->second.state == SaState::removing) return {};
    if (auto sent = send(it->second, esp::SaOp::remove, {}); !sent) return sent;
    removing(it->second);
    return {};
}

void SaManager::remove_all(std::span<const SaId> ids) {
    std::lock_guard lock(mu_);
    std::vector<SaInfo*> group;
    group.reserve(ids.size());
    for (SaId id : ids)
        if (auto it = sas_.find(id); it != sas_.end() && it->second.state != SaState::removing)
            group.push_back(&it->second);
    if (group.empty()) return;
    const uint32_t worker = group.front()->worker;
    const bool one_worker =
        std::all_of(group.begin(), group.end(), [&](const SaInfo* sa) { return sa->worker == worker; });
    std::vector<esp::SaRecord> recs;
    if (one_worker)
        for (const SaInfo* sa : group) recs.push_back(record(*sa, esp::SaOp::remove, {}));
    if (!one_worker || !send_together(worker, recs))
        for (SaInfo* sa : group) (void)send(*sa, esp::SaOp::remove, {});  // never refused: a backlog
    for (SaInfo* sa : group) removing(*sa);
}

void SaManager::removing(SaInfo& sa) {
    sa.state = SaState::removing;
    // The selectors are free for a new outbound SA at once: the worker's ring is FIFO, so
    // it applies this removal before any add sent after it (a second 401 re-uses the UE's
    // ports and SPIs).
    if (sa.cfg.dir == esp::Direction::outbound) {
        auto k = outbound_by_key_.find(outbound_key(sa.cfg));
        if (k != outbound_by_key_.end() && k->second == sa.id) outbound_by_key_.erase(k);
    }
}

Expected<void> SaManager::rekey(SaId id, esp::Alg alg, std::span<const uint8_t> key) {
    std::lock_guard lock(mu_);
    auto it = sas_.find(id);
    if (it == sas_.end()) return fail(Errc::not_found, "no SA " + std::to_string(id));
    // An HMAC key only: an AEAD's key is its cipher key, and the pair must stay one Annex H allows.
    if (!esp::is_hmac(alg) || !esp::is_hmac(it->second.cfg.alg))
        return fail(Errc::invalid, "SA " + std::to_string(id) + ": a rekey changes an HMAC key (alg=" +
                                       std::string(esp::name(it->second.cfg.alg)) +
                                       " to alg=" + std::string(esp::name(alg)) + " is not one)");
    if (it->second.state != SaState::active)
        return fail(Errc::busy, "SA " + std::to_string(id) + " is " + std::string(name(it->second.state)));
    auto k = expand(alg, key);
    if (!k) return std::unexpected(k.error());
    const esp::Alg old = it->second.cfg.alg;
    it->second.cfg.alg = alg;
    if (auto sent = send(it->second, esp::SaOp::update, *k); !sent) {
        it->second.cfg.alg = old;
        return sent;
    }
    it->second.hmac = *k;
    if (state_) state_->put(sa_record_key(id), encode(it->second, *k));
    return {};
}

Expected<void> SaManager::set_encap_port(SaId id, uint16_t port) {
    std::lock_guard lock(mu_);
    auto it = sas_.find(id);
    if (it == sas_.end() || it->second.state == SaState::removing)
        return fail(Errc::not_found, "no SA " + std::to_string(id));
    SaInfo& sa = it->second;
    if (sa.cfg.mode != esp::Mode::udp_enc_tun)
        return fail(Errc::invalid, "SA " + std::to_string(id) + " is not a UDP-enc-tun SA: it has no NAT port");
    sa.cfg.encap_port = port;
    (void)send(sa, esp::SaOp::update, sa.hmac, true);  // never refused: it waits in the backlog
    if (state_) state_->put(sa_record_key(id), encode(sa, sa.hmac));
    return {};
}

void SaManager::forget(std::map<SaId, SaInfo>::iterator it) {
    if (state_) {
        state_->del(sa_record_key(it->first));
        if (it->second.marked) state_->del(seq_record_key(it->first));
    }
    const esp::SaConfig& c = it->second.cfg;
    if (c.dir == esp::Direction::inbound) {
        inbound_by_spi_.erase(c.spi);
        spis_.release(c.spi);  // only now: the worker no longer has it
    } else if (auto k = outbound_by_key_.find(outbound_key(c)); k != outbound_by_key_.end() && k->second == it->first) {
        outbound_by_key_.erase(k);
    }
    sas_.erase(it);
}

void SaManager::handle(const esp::SaEvent& e) {
    Listener notify;
    SaInfo snapshot;
    {
        std::lock_guard lock(mu_);
        auto it = sas_.find(e.cookie);
        if (it == sas_.end()) return;  // an event for an SA already forgotten
        SaInfo& sa = it->second;
        if (e.kind == esp::EventKind::seq_checkpoint) {  // for the state store only
            if (state_) {
                state_->put(seq_record_key(sa.id),
                            encode(SeqMark{uint32_t(e.seq), checkpoint_interval_, false, generation_}));
                sa.marked = true;
            }
            return;
        }
        const bool applied = e.kind == esp::EventKind::applied;
        if (applied && e.op == esp::SaOp::add && e.result == 0) {
            sa.state = SaState::active;
            sa.handle = e.handle;
            if (sa.sent != std::chrono::steady_clock::time_point{})
                install_latency_.observe(std::chrono::steady_clock::now() - sa.sent);
        }
        if (applied && e.op == esp::SaOp::update && sa.updates != 0) --sa.updates;
        if (e.kind == esp::EventKind::first_use) sa.used = true;
        // The inbound SA took the new NAT port itself (sa_record.hpp): the registry follows.
        if (e.kind == esp::EventKind::encap_port && sa.cfg.mode == esp::Mode::udp_enc_tun &&
            sa.cfg.encap_port != e.encap_port) {
            sa.cfg.encap_port = e.encap_port;
            if (state_) state_->put(sa_record_key(sa.id), encode(sa, sa.hmac));
        }
        snapshot = sa;
        // Gone from its worker (deleted, or never installed): forget it.
        if (applied && (e.op == esp::SaOp::remove || (e.op == esp::SaOp::add && e.result != 0))) forget(it);
        notify = listener_;
    }
    if (notify) notify(snapshot, e);
}

uint32_t SaManager::pump() {
    {
        std::lock_guard lock(mu_);
        for (uint32_t w = 0; w < backlog_.size(); ++w)
            while (!backlog_[w].empty() && rings_.send(w, backlog_[w].front())) backlog_[w].pop_front();
    }
    std::array<esp::SaEvent, 64> ev;
    uint32_t total = 0;
    for (uint32_t n; (n = rings_.receive_events(ev)) > 0; total += n)
        for (uint32_t i = 0; i < n; ++i) handle(ev[i]);
    return total;
}

std::optional<SaInfo> SaManager::find(SaId id) const {
    std::lock_guard lock(mu_);
    auto it = sas_.find(id);
    if (it == sas_.end()) return std::nullopt;
    return it->second;
}

bool SaManager::updating(SaId id) const {
    std::lock_guard lock(mu_);
    auto it = sas_.find(id);
    return it != sas_.end() && it->second.updates != 0;
}

std::optional<SaId> SaManager::find_inbound(uint32_t spi) const {
    std::lock_guard lock(mu_);
    auto it = inbound_by_spi_.find(spi);
    if (it == inbound_by_spi_.end()) return std::nullopt;
    return it->second;
}

std::vector<SaId> SaManager::select(const std::function<bool(const SaInfo&)>& pred) const {
    std::lock_guard lock(mu_);
    std::vector<SaId> out;
    for (const auto& [id, sa] : sas_)
        if (pred(sa)) out.push_back(id);
    return out;
}

std::vector<SaInfo> SaManager::list(size_t offset, size_t max) const {
    std::lock_guard lock(mu_);
    std::vector<SaInfo> out;
    auto it = sas_.begin();
    for (size_t i = 0; i < offset && it != sas_.end(); ++i) ++it;
    for (; it != sas_.end() && out.size() < max; ++it) out.push_back(it->second);
    return out;
}

size_t SaManager::backlog() const {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (const auto& q : backlog_) n += q.size();
    return n;
}

size_t SaManager::size() const {
    std::lock_guard lock(mu_);
    return sas_.size();
}

void SaManager::set_listener(Listener l) {
    std::lock_guard lock(mu_);
    listener_ = std::move(l);
}

std::string describe_result(int result) { return result == 0 ? "ok" : errno_text(result); }

void SaManager::set_state(state::StateSink* sink, uint32_t checkpoint_interval, uint32_t generation) {
    std::lock_guard lock(mu_);
    state_ = sink;
    checkpoint_interval_ = checkpoint_interval;
    generation_ = generation;
}

std::vector<SaId> SaManager::restore(std::vector<StoredSa> sas, std::vector<std::pair<SaId, SeqMark>> marks,
                                     const Install& install, const std::function<void(const std::string&)>& warn) {
    std::lock_guard lock(mu_);
    inbound_by_spi_.reserve(inbound_by_spi_.size() + sas.size());
    // By id, so that each goes in at the registry's end (the store's order is its keys' text).
    std::sort(sas.begin(), sas.end(), [](const StoredSa& a, const StoredSa& b) { return a.info.id < b.info.id; });
    std::sort(marks.begin(), marks.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<SaId> back;
    back.reserve(sas.size());
    auto next_mark = marks.begin();  // both in id order: walked together
    for (StoredSa& s : sas) {
        SaInfo& sa = s.info;
        while (next_mark != marks.end() && next_mark->first < sa.id) ++next_mark;
        const bool marked = next_mark != marks.end() && next_mark->first == sa.id;
        sa.cfg.seq_start =
            resume_at(sa, marked ? std::optional(next_mark->second) : std::nullopt, checkpoint_interval_, generation_);
        // The owner under the layout of this run (the worker count may have changed).
        const uint32_t stored_worker = sa.worker;
        std::string why;
        if (sa.cfg.dir == esp::Direction::inbound) {
            if (!layout_.contains(sa.cfg.spi) || !spis_.reserve(sa.cfg.spi))
                why = "its SPI is outside this run's range or taken";
            else sa.worker = layout_.owner(sa.cfg.spi);
        } else {
            sa.worker = esp::owner_of(sa.cfg.ue_addr, layout_.workers);
            if (outbound_by_key_.contains(outbound_key(sa.cfg))) why = "another SA has its selectors";
        }
        esp::SaRecord rec;
        rec.op = esp::SaOp::add;
        rec.sa = sa.cfg;
        rec.key = s.key;
        rec.cipher = sa.cipher;
        sa.hmac = s.key;
        if (why.empty()) {
            const int r = install(sa.worker, rec, sa.handle);
            if (r != 0) {
                if (sa.cfg.dir == esp::Direction::inbound) spis_.release(sa.cfg.spi);
                why = "worker " + std::to_string(sa.worker) + ": " + errno_text(r);
            }
        }
        if (!why.empty()) {
            warn("SA " + std::to_string(sa.id) + " (" + sa.label + ") not restored: " + why);
            if (state_) {
                state_->del(sa_record_key(sa.id));
                state_->del(seq_record_key(sa.id));
            }
            continue;
        }
        sa.state = SaState::active;
        if (sa.cfg.dir == esp::Direction::inbound) inbound_by_spi_[sa.cfg.spi] = sa.id;
        else outbound_by_key_[outbound_key(sa.cfg)] = sa.id;
        next_id_ = std::max(next_id_, sa.id + 1);
        // The store stays as it is: its generation says how many starts the marks are
        // behind (resume_at). The SA's own record is rewritten only if its owner changed.
        if (state_) {
            if (sa.worker != stored_worker) state_->put(sa_record_key(sa.id), encode(sa, s.key));
            sa.marked = marked;
        }
        back.push_back(sa.id);
        sas_.emplace_hint(sas_.end(), sa.id, std::move(sa));
    }
    return back;
}

void SaManager::store_exact_seqs(const std::function<std::optional<uint32_t>(const SaInfo&)>& seq_of) {
    std::lock_guard lock(mu_);
    if (!state_) return;
    for (auto& [id, sa] : sas_)
        if (auto seq = seq_of(sa)) {
            state_->put(seq_record_key(id), encode(SeqMark{*seq, checkpoint_interval_, true, generation_}));
            sa.marked = true;
        }
}

}  // namespace pcscf::ctl
