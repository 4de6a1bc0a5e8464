#include "control/control_plane.hpp"

#include <algorithm>

namespace pcscf::ctl {

Expected<std::unique_ptr<ControlPlane>> ControlPlane::create(esp::SaChannel& rings, const esp::SpiLayout& layout,
                                                             const std::optional<SipConfig>& sip,
                                                             proxy::SipProxy::Trace trace, EventHook hook) {
    std::unique_ptr<ControlPlane> c(new ControlPlane());
    c->hook_ = std::move(hook);
    c->sas_ = std::make_unique<SaManager>(rings, layout);
    if (sip) {
        // The first access address of each family, as the proxy sends from: the SAs must
        // name the address the UE's messages go to and come from.
        net::IpAddr v4, v6;
        for (const auto& a : sip->proxy.access) {
            net::IpAddr& first = a.is_v4() ? v4 : v6;
            if (first.is_unspecified()) first = a;
        }
        c->registrar_ = std::make_unique<secagree::Registrar>(*c->sas_, sip->registrar, v4, v6);
        auto p = proxy::SipProxy::create(sip->proxy, sip->registrar, *c->registrar_, std::move(trace));
        if (!p) return std::unexpected(in_context(p.error(), "starting the SIP proxy"));
        c->proxy_ = std::move(*p);
        c->round_.emplace(*c->registrar_, *c->proxy_, c->sip_status_);
        std::lock_guard lock(c->sip_status_.mu);
        c->sip_status_.enabled = true;
        c->sip_status_.proxy = sip->proxy;
        c->sip_status_.registrar = sip->registrar;
    }
    ControlPlane* self = c.get();
    c->sas_->set_listener([self](const SaInfo& sa, const esp::SaEvent& e) {
        if (self->hook_) self->hook_(sa, e);
        if (self->registrar_) self->registrar_->on_sa_event(sa, e);
    });
    return c;
}

void ControlPlane::reconfigure_sip(const SipConfig& sip) {
    if (!proxy_) return;
    proxy_->reconfigure(sip.proxy);
    registrar_->reconfigure(sip.registrar.algorithms, sip.registrar.reg_await_auth);
    std::lock_guard lock(sip_status_.mu);
    sip_status_.proxy = proxy_->config();
    sip_status_.registrar = registrar_->config();
}

ControlPlane::Round ControlPlane::round(Clock::time_point now) {
    Round r;
    r.sa_events = sas_->pump();
    if (round_) r.sip = round_->run(r.sa_events, now);
    if (registrar_) registrar_->flush_state(now);
    return r;
}

// A store's records sorted out as they are read; anything this version cannot read is
// noted in `readable` and stops the start.
struct ControlPlane::Contents {
    std::vector<StoredSa> sas;
    std::vector<std::pair<SaId, SeqMark>> marks;
    std::vector<secagree::StoredRegistration> regs;
    std::optional<std::string> format;
    uint32_t generation = 0;  // of the last start
    size_t records = 0;
    Expected<void> readable;

    void reserve(size_t n) {
        sas.reserve(n / 2);  // an SA record and its mark each (an upper bound)
        marks.reserve(n / 2);
        regs.reserve(n / 9);  // a UE's registration and its four SAs' two records each
    }
    void take_all(const state::Records& rs) {
        reserve(rs.size());
        for (const auto& [k, v] : rs) take(k, v);
    }
    void take(std::string_view k, std::string_view v) {
        ++records;
        if (k == state::kFormatKey) {
            format = std::string(v);
        } else if (k == kGenerationKey) {
            if (auto g = decode_generation(v)) generation = *g;
            else note(g.error(), k);
        } else if (id_of(k, "sa/")) {
            if (auto s = decode_sa(v)) sas.push_back(std::move(*s));
            else note(s.error(), k);
        } else if (auto id = id_of(k, "seq/")) {
            if (auto m = decode_seq(v)) marks.emplace_back(*id, *m);
            else note(m.error(), k);
        } else if (k.starts_with(secagree::kRegistrationPrefix)) {
            if (auto r = secagree::decode_registration(v)) regs.push_back(std::move(*r));
            else note(r.error(), k);
        } else {
            readable = fail(Errc::invalid, "unknown record " + std::string(k));
        }
    }
    void note(const Error& e, std::string_view k) { readable = std::unexpected(in_context(e, std::string(k))); }
    // What stops the start, after the last record.
    Expected<void> check() const {
        if (!readable) return readable;
        if (format && *format != state::kFormat)
            return fail(Errc::invalid, "the store is in format '" + *format + "', this version writes '" +
                                           std::string(state::kFormat) + "'");
        if (!format && records != 0) return fail(Errc::invalid, "the store has no format record");
        return {};
    }
};

Expected<ControlPlane::Restored> ControlPlane::attach_state(std::unique_ptr<state::StateBackend> store,
                                                            uint32_t checkpoint_interval, bool reset,
                                                            const SaManager::Install& install,
                                                            const std::function<void(const std::string&)>& warn) {
    const auto start = Clock::now();
    const std::string where = store->describe();
    Contents c;
    state::Records records;  // a copy for the writer to keep, if it keeps one
    Expected<void> read;
    if (store->can_lose_contents()) {
        auto all = store->load();
        if (all) records = std::move(*all);
        else read = std::unexpected(all.error());
        c.take_all(records);
    } else {  // decoded where the store holds them, no copy of the records in between
        if (auto n = store->count()) c.reserve(*n);
        read = store->scan([&c](std::string_view k, std::string_view v) { c.take(k, v); });
    }
    if (!read) return std::unexpected(in_context(read.error(), "reading the state store " + where));
    auto r = attach(std::move(store), c, std::move(records), checkpoint_interval, reset, install, warn);
    if (r) restored_.took = r->took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    return r;
}

Expected<ControlPlane::Restored> ControlPlane::attach_state(std::unique_ptr<state::StateBackend> store,
                                                            state::Records records, uint32_t checkpoint_interval,
                                                            bool reset, const SaManager::Install& install,
                                                            const std::function<void(const std::string&)>& warn) {
    Contents c;
    c.take_all(records);
    return attach(std::move(store), c, std::move(records), checkpoint_interval, reset, install, warn);
}

Expected<ControlPlane::Restored> ControlPlane::attach(std::unique_ptr<state::StateBackend> store, Contents& c,
                                                      state::Records records, uint32_t checkpoint_interval, bool reset,
                                                      const SaManager::Install& install,
                                                      const std::function<void(const std::string&)>& warn) {
    const auto start = Clock::now();
    const std::string where = store->describe();
    if (auto readable = c.check(); !readable || reset) {
        if (!reset)
            return std::unexpected(in_context(readable.error(), "the state store " + where +
                                                                    " cannot be used (start with --state-reset "
                                                                    "to discard it)"));
        if (auto cl = store->clear(); !cl) return std::unexpected(in_context(cl.error(), "clearing " + where));
        c = Contents{};
        records.clear();
    }
    // This start's generation, written at once, before any SA sends a number: marks of
    // earlier ones resume two intervals further for each start since (resume_at). The format
    // goes with it into a store that has none.
    const uint32_t generation = c.generation + 1;
    const bool formatted = c.format.has_value();
    state::Batch first{{{std::string(kGenerationKey), encode_generation(generation)}}, {}};
    if (!formatted) first.puts.emplace_back(std::string(state::kFormatKey), std::string(state::kFormat));
    if (auto w = store->write(first); !w)
        return std::unexpected(in_context(w.error(), "writing to the state store " + where));

    writer_ = std::make_unique<state::StateWriter>(std::move(store), [warn](bool healthy, std::string_view line) {
        if (!healthy) warn(std::string(line));
    });
    writer_->seed(std::move(records));  // what the store holds, for a rewrite should it lose it
    writer_->seed(first.puts);
    sas_->set_state(writer_.get(), checkpoint_interval, generation);
    if (registrar_) registrar_->set_state(writer_.get());

    Restored r;
    const size_t stored = c.sas.size();
    const std::vector<SaId> back = sas_->restore(std::move(c.sas), std::move(c.marks), install, warn);
    r.sas = back.size();
    if (registrar_) {
        r.registrations = registrar_->restore(std::move(c.regs), back, Clock::now(), warn);
        // SAs of a registration that was not finished, or was on its way out: they go.
        const auto keep = registrar_->referenced_sas();
        for (const SaId id : sas_->select([&keep](const SaInfo& sa) {
                 return sa.label != "manual" && !std::binary_search(keep.begin(), keep.end(), sa.id);
             })) {
            (void)sas_->remove(id);
            ++r.dropped;
        }
        registrar_->flush_state(Clock::now());
    }
    r.dropped += stored - r.sas;
    r.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    restored_ = r;
    return r;
}

std::optional<state::WriterStats> ControlPlane::state_stats() const {
    if (!writer_) return std::nullopt;
    return writer_->stats();
}

std::optional<std::thread::native_handle_type> ControlPlane::state_thread() {
    if (!writer_) return std::nullopt;
    return writer_->native_handle();
}

std::string ControlPlane::state_last_change() const { return writer_ ? writer_->last_change() : std::string(); }

bool ControlPlane::close_state(const std::function<std::optional<uint32_t>(const SaInfo&)>& seq_of,
                               std::chrono::milliseconds timeout) {
    if (!writer_) return true;
    sas_->store_exact_seqs(seq_of);
    if (registrar_) registrar_->flush_state(Clock::now());
    return writer_->flush(timeout);
}

}  // namespace pcscf::ctl
