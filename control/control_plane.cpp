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
    return r;
}

}  // namespace pcscf::ctl
