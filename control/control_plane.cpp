#include "control/control_plane.hpp"

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
    }
    ControlPlane* self = c.get();
    c->sas_->set_listener([self](const SaInfo& sa, const esp::SaEvent& e) {
        if (self->hook_) self->hook_(sa, e);
        if (self->registrar_) self->registrar_->on_sa_event(sa, e);
    });
    return c;
}

ControlPlane::Round ControlPlane::round(Clock::time_point now) {
    Round r;
    r.sa_events = sas_->pump();
    if (round_) r.sip = round_->run(r.sa_events, now);
    if (registrar_) registrar_->flush_state(now);
    return r;
}

Expected<ControlPlane::Restored> ControlPlane::attach_state(std::unique_ptr<state::StateBackend> store,
                                                            uint32_t checkpoint_interval, bool reset,
                                                            const SaManager::Install& install,
                                                            const std::function<void(const std::string&)>& warn) {
    const auto start = Clock::now();
    auto records = store->load();
    if (!records) return std::unexpected(in_context(records.error(), "reading the state store " + store->describe()));
    auto r = attach_state(std::move(store), std::move(*records), checkpoint_interval, reset, install, warn);
    if (r) restored_.took = r->took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    return r;
}

Expected<ControlPlane::Restored> ControlPlane::attach_state(std::unique_ptr<state::StateBackend> store,
                                                            state::Records records, uint32_t checkpoint_interval,
                                                            bool reset, const SaManager::Install& install,
                                                            const std::function<void(const std::string&)>& warn) {
    const auto start = Clock::now();
    const std::string where = store->describe();
    // Sort the records out; anything this version cannot read stops the start.
    std::vector<StoredSa> sas;
    sas.reserve(records.size() / 2);  // an SA record and its mark each
    std::unordered_map<SaId, SeqMark> marks;
    marks.reserve(records.size() / 2);
    std::vector<secagree::StoredRegistration> regs;
    std::optional<std::string> format;
    uint32_t generation = 0;  // of the last start
    Expected<void> readable;
    for (const auto& [k, v] : records) {
        if (k == state::kFormatKey) {
            format = v;
        } else if (k == kGenerationKey) {
            if (auto g = decode_generation(v)) generation = *g;
            else readable = std::unexpected(in_context(g.error(), k));
        } else if (id_of(k, "sa/")) {
            if (auto s = decode_sa(v)) sas.push_back(std::move(*s));
            else readable = std::unexpected(in_context(s.error(), k));
        } else if (auto id = id_of(k, "seq/")) {
            if (auto m = decode_seq(v)) marks.emplace(*id, *m);
            else readable = std::unexpected(in_context(m.error(), k));
        } else if (k.starts_with(secagree::kRegistrationPrefix)) {
            if (auto r = secagree::decode_registration(v)) regs.push_back(std::move(*r));
            else readable = std::unexpected(in_context(r.error(), k));
        } else {
            readable = fail(Errc::invalid, "unknown record " + k);
        }
    }
    if (readable && format && *format != state::kFormat)
        readable = fail(Errc::invalid, "the store is in format '" + *format + "', this version writes '" +
                                           std::string(state::kFormat) + "'");
    if (readable && !format && !records.empty()) readable = fail(Errc::invalid, "the store has no format record");
    if (!readable || reset) {
        if (!reset)
            return std::unexpected(in_context(readable.error(), "the state store " + where +
                                                                    " cannot be used (start with --state-reset "
                                                                    "to discard it)"));
        if (auto c = store->clear(); !c) return std::unexpected(in_context(c.error(), "clearing " + where));
        sas.clear();
        marks.clear();
        regs.clear();
    }
    // This start's generation, written at once, before any SA sends a number: marks of
    // earlier ones resume two intervals further for each start since (resume_at). The format
    // goes with it into a store that has none.
    if (reset) generation = 0;
    ++generation;
    const bool formatted = format && !reset;
    state::Batch first{{{std::string(kGenerationKey), encode_generation(generation)}}, {}};
    if (!formatted) first.puts.emplace_back(std::string(state::kFormatKey), std::string(state::kFormat));
    if (auto w = store->write(first); !w)
        return std::unexpected(in_context(w.error(), "writing to the state store " + where));

    writer_ = std::make_unique<state::StateWriter>(std::move(store), [warn](bool healthy, std::string_view line) {
        if (!healthy) warn(std::string(line));
    });
    if (!reset) writer_->seed(records);  // what the store holds, for a rewrite should it lose it
    writer_->seed(first.puts);
    sas_->set_state(writer_.get(), checkpoint_interval, generation);
    if (registrar_) registrar_->set_state(writer_.get());

    Restored r;
    const size_t stored = sas.size();
    r.sas = sas_->restore(std::move(sas), marks, install, warn);
    if (registrar_) {
        r.registrations = registrar_->restore(std::move(regs), Clock::now(), warn);
        // SAs of a registration that was not finished, or was on its way out: they go.
        const auto keep = registrar_->referenced_sas();
        for (const SaInfo& sa : sas_->list(0, sas_->size()))
            if (sa.label != "manual" && !keep.contains(sa.id)) {
                (void)sas_->remove(sa.id);
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
