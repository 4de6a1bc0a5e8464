#include "control/secagree/registration_state.hpp"

#include "control/state/codec.hpp"

namespace pcscf::secagree {

namespace {

// 2 added the Service-Route, 3 each set's mode, inner address and NAT port (UDP-enc-tun);
// a record of 1 (no Service-Route) or 2 is still read, its sets in transport mode.
constexpr uint8_t kVersion = 3;
using Millis = std::chrono::milliseconds;

void put_set(ctl::state::Encoder& e, const std::optional<SaSet>& s) {
    e.num(uint8_t(s.has_value()));
    if (!s) return;
    const sip::Ipsec3gpp& u = s->ue_side;
    e.num(s->alg).bytes(s->ue.bytes).bytes(s->pcscf.bytes);
    e.num(u.alg).num(u.ealg).num(u.spi_c).num(u.spi_s).num(u.port_c).num(u.port_s);
    e.num(s->spi_pc).num(s->spi_ps).num(s->port_pc).num(s->port_ps);
    for (ctl::SaId id : s->ids) e.num(id);
    e.num(u.mod).bytes(s->ue_inner.bytes).num(s->encap_port);
}

bool get_set(ctl::state::Decoder& d, std::optional<SaSet>& s, uint8_t version) {
    uint8_t present = 0;
    if (!d.num(present)) return false;
    if (!present) return true;
    SaSet v;
    sip::Ipsec3gpp& u = v.ue_side;
    bool ok = d.num(v.alg) && d.bytes(v.ue.bytes) && d.bytes(v.pcscf.bytes) && d.num(u.alg) && d.num(u.ealg) &&
              d.num(u.spi_c) && d.num(u.spi_s) && d.num(u.port_c) && d.num(u.port_s) && d.num(v.spi_pc) &&
              d.num(v.spi_ps) && d.num(v.port_pc) && d.num(v.port_ps);
    for (ctl::SaId& id : v.ids) ok = ok && d.num(id);
    if (version >= 3) ok = ok && d.num(u.mod) && d.bytes(v.ue_inner.bytes) && d.num(v.encap_port);
    // trans, or UDP-enc-tun between IPv4 addresses (NAT44 only).
    ok = ok && (u.mod == sip::Mode::trans || (u.mod == sip::Mode::udp_enc_tun && v.ue.is_v4() && v.ue_inner.is_v4()));
    v.ealg = to_esp(u.ealg);  // the offer chosen names the pair's ealg: nothing more to store
    // A known ealg making a pair Annex H allows with the set's alg: anything else is a
    // damaged record.
    ok = ok && to_sip(v.ealg) == u.ealg && esp::transform(v.alg, v.ealg);
    if (ok) s = v;
    return ok;
}

int64_t ms(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<Millis>(t.time_since_epoch()).count();
}

}  // namespace

std::string registration_key(const std::string& impi, const net::IpAddr& ue) {
    return std::string(kRegistrationPrefix) + impi + "/" + ue.to_string();
}

std::string encode(const StoredRegistration& r) {
    ctl::state::Encoder e;
    e.num(kVersion).str(r.impi).bytes(r.ue.bytes).num(uint32_t(r.impus.size()));
    for (const auto& i : r.impus) e.str(i);
    put_set(e, r.current);
    e.num(ms(r.current_expiry));
    put_set(e, r.kept);
    e.num(ms(r.kept_expiry)).num(r.next_port_pc).num(uint8_t(r.tcp)).num(uint32_t(r.service_route.size()));
    for (const auto& s : r.service_route) e.str(s);
    return e.take();
}

ctl::Expected<StoredRegistration> decode_registration(std::string_view value) {
    StoredRegistration r;
    ctl::state::Decoder d(value);
    uint8_t version = 0, tcp = 0;
    uint32_t impus = 0, routes = 0;
    int64_t current_ms = 0, kept_ms = 0;
    bool ok = d.num(version) && version >= 1 && version <= kVersion && d.str(r.impi) && d.bytes(r.ue.bytes) &&
              d.num(impus) && impus <= 1024;
    for (uint32_t i = 0; ok && i < impus; ++i) ok = d.str(r.impus.emplace_back());
    ok = ok && get_set(d, r.current, version) && d.num(current_ms) && get_set(d, r.kept, version) && d.num(kept_ms) &&
         d.num(r.next_port_pc) && d.num(tcp);
    if (ok && version >= 2) ok = d.num(routes) && routes <= 64;
    for (uint32_t i = 0; ok && i < routes; ++i) ok = d.str(r.service_route.emplace_back());
    ok = ok && d.done();
    if (!ok) return ctl::fail(ctl::Errc::invalid, "a registration record is not in the expected form");
    r.current_expiry = std::chrono::system_clock::time_point(Millis(current_ms));
    r.kept_expiry = std::chrono::system_clock::time_point(Millis(kept_ms));
    r.tcp = tcp != 0;
    return r;
}

}  // namespace pcscf::secagree
