#include "dataplane/esp/engine.hpp"

#include <rte_memory.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <utility>

#include "dataplane/esp/shared_counter.hpp"

namespace pcscf::esp {

namespace {

// UDP-enc-tun is IPv4 only (RFC 3948; TS 33.203 Annex M puts the UE behind an IPv4 NAT)
// and needs the UE's inner address; a transport-mode SA carries none of its addressing.
bool mode_ok(const SaConfig& sa) noexcept {
    switch (sa.mode) {
        case Mode::transport: return sa.encap_port == 0 && sa.ue_inner.is_unspecified();
        case Mode::udp_enc_tun:
            return sa.ue_addr.is_v4() && sa.ue_inner.is_v4() &&
                   (sa.pcscf_addr.is_unspecified() || sa.pcscf_addr.is_v4());
    }
    return false;
}

template <class Record>
void set_mode(Record& r, const SaConfig& sa) noexcept {
    r.flags = uint8_t((r.flags & ~Record::kUdpEncTun) | (sa.mode == Mode::udp_enc_tun ? Record::kUdpEncTun : 0));
}

}  // namespace

uint32_t look_ahead_sas_for_l2(long l2_bytes) noexcept {
    constexpr uint32_t kUnknown = 16384;
    if (l2_bytes <= 0) return kUnknown;
    return uint32_t(std::min<long>(l2_bytes / long(sizeof(InboundSa)), UINT32_MAX));
}

// Asked once: every EngineConfig takes it as its default.
uint32_t default_look_ahead_sas() noexcept {
    static const uint32_t sas = look_ahead_sas_for_l2(sysconf(_SC_LEVEL2_CACHE_SIZE));
    return sas;
}

std::expected<std::unique_ptr<Engine>, std::string> Engine::create(const EngineConfig& cfg) {
    if (!cfg.spi.valid())
        return std::unexpected(
            std::string("SPI layout invalid: base must be >= 256 and "
                        "base + workers * slots must fit in 32 bits"));
    if (cfg.seq_checkpoint != 0 && (cfg.seq_checkpoint & (cfg.seq_checkpoint - 1)) != 0)
        return std::unexpected("the sequence checkpoint interval must be a power of 2, not " +
                               std::to_string(cfg.seq_checkpoint));
    if (cfg.worker >= cfg.spi.workers)
        return std::unexpected("worker " + std::to_string(cfg.worker) + " outside " + std::to_string(cfg.spi.workers) +
                               " workers");
    auto imb = ImbManager::create();
    if (!imb) return std::unexpected(imb.error());
    const int socket = cfg.socket < 0 ? SOCKET_ID_ANY : cfg.socket;
    auto in = InboundTable::create(cfg.spi.slots_per_worker, cfg.replay_window, socket);
    if (!in) return std::unexpected(in.error());
    auto out = OutboundTable::create(cfg.outbound_capacity, socket);
    if (!out) return std::unexpected(out.error());
    auto keys = CipherKeyPool::create(cfg.cipher_capacity, socket);
    if (!keys) return std::unexpected(keys.error());
    auto iv = IvSource::create(imb->get(), cfg.worker, socket);
    if (!iv) return std::unexpected(iv.error());
    return std::make_unique<Engine>(cfg, std::move(*imb), std::move(*in), std::move(*out), std::move(*keys),
                                    std::move(*iv));
}

Engine::Engine(const EngineConfig& cfg, ImbManager imb, InboundTable in, OutboundTable out, CipherKeyPool keys,
               IvSource iv) noexcept
    : cfg_(cfg),
      spi_(cfg.spi),
      checkpoint_mask_(cfg.seq_checkpoint != 0 ? cfg.seq_checkpoint - 1 : ~0u),
      imb_(std::move(imb)),
      in_(std::move(in)),
      out_(std::move(out)),
      keys_(std::move(keys)),
      iv_(std::move(iv)),
      batch_(imb_.get()) {}

const InboundSa* Engine::find_inbound(uint32_t spi) const noexcept {
    if (!spi_.owned_by(spi, cfg_.worker)) return nullptr;
    const InboundSa& sa = in_.at(spi_.slot(spi));
    return sa.spi == spi ? &sa : nullptr;
}

const OutboundSa* Engine::find_outbound(const OutboundKey& key) const noexcept {
    const int32_t pos = out_.find(key);
    return pos < 0 ? nullptr : &out_.at(pos);
}

std::optional<SaStats> Engine::inbound_stats(uint32_t spi) const noexcept {
    const InboundSa* sa = find_inbound(spi);
    if (sa == nullptr) return std::nullopt;
    return SaStats{peek(sa->packets), peek(sa->bytes), peek(in_.drops(spi_.slot(spi)))};
}

std::optional<SaStats> Engine::outbound_stats(const OutboundKey& key) const noexcept {
    const OutboundSa* sa = find_outbound(key);
    if (sa == nullptr) return std::nullopt;
    return SaStats{peek(sa->packets), peek(sa->bytes), peek(sa->drops)};
}

int32_t Engine::handle_of(const SaConfig& sa) const noexcept {
    if (sa.dir == Direction::inbound) return find_inbound(sa.spi) != nullptr ? int32_t(spi_.slot(sa.spi)) : -1;
    const int32_t pos = out_.find(OutboundKey{sa.ue_addr, sa.ue_port, sa.pcscf_port});
    return pos >= 0 && out_.at(pos).spi == sa.spi ? pos : -1;
}

// Counters the worker writes while telemetry reads them (shared_counter.hpp): a reader
// only ever sees a slightly old value.
SaStats Engine::stats_at(Direction dir, int32_t handle) const noexcept {
    if (handle < 0) return {};
    if (dir == Direction::inbound) {
        if (uint32_t(handle) >= in_.slots()) return {};
        const InboundSa& sa = in_.at(uint32_t(handle));
        return {peek(sa.packets), peek(sa.bytes), peek(in_.drops(uint32_t(handle)))};
    }
    if (uint32_t(handle) >= out_.pool_size()) return {};
    const OutboundSa& sa = out_.at(handle);
    return {peek(sa.packets), peek(sa.bytes), peek(sa.drops)};
}

std::optional<uint32_t> Engine::seq_at(Direction dir, int32_t handle) const noexcept {
    if (handle < 0) return std::nullopt;
    if (dir == Direction::inbound) {
        if (uint32_t(handle) >= in_.slots() || in_.at(uint32_t(handle)).spi == 0) return std::nullopt;
        return in_.at(uint32_t(handle)).replay_last;
    }
    if (uint32_t(handle) >= out_.pool_size() || out_.at(handle).spi == 0) return std::nullopt;
    return uint32_t(out_.at(handle).seq);
}

int Engine::apply(const SaRecord& rec, int32_t* handle) noexcept {
    int32_t scratch;
    int32_t& at = handle != nullptr ? *handle : scratch;
    at = -1;
    const SaConfig& sa = rec.sa;
    if (sa.spi == 0) return -EINVAL;                  // SPI 0 is reserved (RFC 4303 2.1)
    if (!transform(sa.alg, sa.ealg)) return -EINVAL;  // no pair of TS 33.203 Annex H
    if (rec.op < SaOp::add || rec.op > SaOp::resume) return -EINVAL;
    if ((rec.op == SaOp::add || rec.op == SaOp::update) &&
        (rec.cipher.len != cipher_key_len(sa.alg, sa.ealg) || !mode_ok(sa)))
        return -EINVAL;
    switch (sa.dir) {
        case Direction::inbound: return apply_inbound(rec, at);
        case Direction::outbound: return apply_outbound(rec, at);
    }
    return -EINVAL;
}

void Engine::apply(std::span<const SaRecord> recs, int* results, int32_t* handles) noexcept {
    for (size_t off = 0; off < recs.size(); off += kApplyGroup) {
        const auto group = recs.subspan(off, std::min<size_t>(kApplyGroup, recs.size() - off));
        if (group.size() > 1) prefetch_tables(group);  // one record: nothing to overlap
        for (size_t i = 0; i < group.size(); ++i)
            results[off + i] = apply(group[i], handles != nullptr ? &handles[off + i] : nullptr);
    }
}

// Only brings lines in: each record is then applied on its own, so a record that changes
// what a later one of the group finds is still handled exactly.
void Engine::prefetch_tables(std::span<const SaRecord> recs) const noexcept {
    union Keys {  // left unconstructed: zeroing 64 keys would cost more than a small group
        Keys() noexcept {}
        OutboundKey k[kApplyGroup];
    } keys;
    const OutboundKey* key_of[kApplyGroup];
    uint32_t n = 0;
    for (const SaRecord& r : recs) {
        const SaConfig& sa = r.sa;
        if (sa.dir == Direction::inbound) {
            if (!spi_.owned_by(sa.spi, cfg_.worker)) continue;
            const uint32_t slot = spi_.slot(sa.spi);
            if (r.op == SaOp::add) in_.prefetch_install(slot);
            else if (r.op == SaOp::remove) in_.prefetch_clear(slot);
            else in_.prefetch(slot);
        } else {
            key_of[n] = std::construct_at(&keys.k[n], sa.ue_addr, sa.ue_port, sa.pcscf_port);
            ++n;
        }
    }
    if (n == 0) return;
    int32_t pos[kApplyGroup];
    out_.find_bulk(key_of, n, pos);  // every key's buckets at once, then the records found
}

int Engine::apply_inbound(const SaRecord& rec, int32_t& handle) noexcept {
    const SaConfig& sa = rec.sa;
    if (!spi_.contains(sa.spi)) return -ERANGE;
    if (spi_.owner(sa.spi) != cfg_.worker) return -EXDEV;
    const uint32_t slot = spi_.slot(sa.spi);
    InboundSa& cur = in_.at(slot);
    switch (rec.op) {
        case SaOp::add: {
            if (cur.spi != 0) return -EEXIST;
            Transform xf = Transform::hmac;
            Ealg ealg = Ealg::null;
            uint32_t cipher = 0;
            if (const int r = rekey(xf, ealg, cipher, rec); r < 0) return r;
            in_.install(slot, sa, rec.key, cipher);
            handle = int32_t(slot);
            return 0;
        }
        case SaOp::remove:
            if (cur.spi != sa.spi) return -ENOENT;
            release_cipher(cur.xf, cur.cipher);
            in_.clear(slot);
            return 0;
        case SaOp::update:
            if (cur.spi != sa.spi) return -ENOENT;
            if (const int r = rekey(cur.xf, cur.ealg, cur.cipher, rec); r < 0) return r;
            cur.alg = sa.alg;
            cur.key = HmacKey160::of(rec.key);
            cur.ue_addr = sa.ue_addr;
            cur.pcscf_addr = sa.pcscf_addr;
            cur.set_ports(sa.ue_port, sa.pcscf_port);
            set_mode(cur, sa);
            in_.nat(slot) = NatSide::of(sa);
            in_.cookie(slot) = sa.cookie;
            handle = int32_t(slot);
            return 0;
        case SaOp::resume:
            if (cur.spi != sa.spi) return -ENOENT;
            in_.resume(slot, sa.seq_start);
            handle = int32_t(slot);
            return 0;
    }
    return -EINVAL;
}

int Engine::apply_outbound(const SaRecord& rec, int32_t& handle) noexcept {
    const SaConfig& sa = rec.sa;
    // The lookup key is exact: outbound SAs cannot have wildcard selectors.
    if (sa.ue_addr.is_unspecified() || sa.ue_port == 0 || sa.pcscf_port == 0) return -EINVAL;
    if (rec.op == SaOp::add) {
        // Taken selectors say so even when no key block is left.
        if (*transform(sa.alg, sa.ealg) != Transform::hmac &&
            out_.find(OutboundKey{sa.ue_addr, sa.ue_port, sa.pcscf_port}) >= 0)
            return -EEXIST;
        Transform xf = Transform::hmac;
        Ealg ealg = Ealg::null;
        uint32_t cipher = 0;
        if (const int r = rekey(xf, ealg, cipher, rec); r < 0) return r;
        const int32_t pos = out_.insert(sa, rec.key, cipher);
        if (pos < 0) {
            release_cipher(xf, cipher);
            return pos;
        }
        handle = pos;
        return 0;
    }
    const int32_t pos = out_.find(OutboundKey{sa.ue_addr, sa.ue_port, sa.pcscf_port});
    if (pos < 0 || out_.at(pos).spi != sa.spi) return -ENOENT;
    if (rec.op == SaOp::remove) {
        release_cipher(out_.at(pos).xf, out_.at(pos).cipher);
        out_.erase(pos);
        return 0;
    }
    OutboundSa& cur = out_.at(pos);
    handle = pos;
    if (rec.op == SaOp::resume) {
        cur.seq = std::max(cur.seq, uint64_t{sa.seq_start});
        return 0;
    }
    if (const int r = rekey(cur.xf, cur.ealg, cur.cipher, rec); r < 0) {
        handle = -1;
        return r;
    }
    cur.alg = sa.alg;
    cur.key = HmacKey160::of(rec.key);
    cur.pcscf_addr = sa.pcscf_addr;
    set_mode(cur, sa);
    out_.nat(pos) = NatSide::of(sa);  // the sequence number goes on
    out_.cookie(pos) = sa.cookie;
    return 0;
}

int Engine::rekey(Transform& xf, Ealg& ealg, uint32_t& cipher, const SaRecord& rec) noexcept {
    const Transform want = transform(rec.sa.alg, rec.sa.ealg).value_or(Transform::hmac);  // apply() checked
    const HmacKey sha256 = rec.sa.alg == Alg::hmac_sha256_128 ? rec.key : HmacKey{};
    if (want == Transform::hmac) {
        release_cipher(xf, cipher);
        cipher = 0;
    } else if (xf == Transform::hmac) {
        const int32_t index = keys_.add(imb(), want, rec.sa.ealg, rec.cipher.span(), sha256);
        if (index < 0) return index;
        cipher = uint32_t(index);
    } else {
        keys_.set(cipher, imb(), want, rec.sa.ealg, rec.cipher.span(),
                  sha256);  // between bursts: no packet holds the old one
    }
    xf = want;
    ealg = rec.sa.ealg;
    return 0;
}

void Engine::raise(EventKind kind, Direction dir, uint32_t spi, uint64_t cookie, uint64_t seq,
                   uint16_t encap_port) noexcept {
    if (n_events_ == kMaxEvents) {
        ++stats_.events_lost;
        return;
    }
    SaEvent& e = events_[n_events_++];
    e = SaEvent{};
    e.kind = kind;
    e.dir = dir;
    e.worker = cfg_.worker;
    e.spi = spi;
    e.cookie = cookie;
    e.seq = seq;
    e.encap_port = encap_port;
}

uint16_t partition_good(std::span<rte_mbuf*> pkts, net::DropReason* reasons) noexcept {
    // Nothing moves before the first drop (most bursts have none).
    size_t first = 0;
    while (first < pkts.size() && reasons[first] == net::kPass) ++first;
    auto good = uint16_t(first);
    for (size_t i = first; i < pkts.size(); ++i) {
        if (reasons[i] != net::kPass) continue;
        std::swap(pkts[good], pkts[i]);
        std::swap(reasons[good], reasons[i]);
        ++good;
    }
    return good;
}

}  // namespace pcscf::esp
