#include "sip/security.hpp"

#include <algorithm>

#include "sip/limits.hpp"
#include "sip/params.hpp"
#include "sip/scalar.hpp"
#include "sip/text.hpp"

namespace pcscf::sip {

namespace {

constexpr std::string_view ipsec_3gpp = "ipsec-3gpp";

template <class Enum, std::size_t N>
std::optional<Enum> lookup(const std::pair<std::string_view, Enum> (&table)[N], std::string_view value) {
    for (const auto& [name, e] : table)
        if (text::iequals(name, value)) return e;
    return std::nullopt;
}

// In enum order: to_string indexes them.
constexpr std::pair<std::string_view, IntegrityAlg> integrity_algs[] = {
    {"hmac-md5-96", IntegrityAlg::hmac_md5_96},
    {"hmac-sha-1-96", IntegrityAlg::hmac_sha_1_96},
    {"aes-gmac", IntegrityAlg::aes_gmac},
    {"null", IntegrityAlg::null},
    {"hmac-sha-256-128", IntegrityAlg::hmac_sha_256_128}};
constexpr std::pair<std::string_view, EncryptionAlg> encryption_algs[] = {{"null", EncryptionAlg::null},
                                                                          {"des-ede3-cbc", EncryptionAlg::des_ede3_cbc},
                                                                          {"aes-cbc", EncryptionAlg::aes_cbc},
                                                                          {"aes-gcm", EncryptionAlg::aes_gcm}};
constexpr std::pair<std::string_view, Mode> modes[] = {{"trans", Mode::trans}, {"UDP-enc-tun", Mode::udp_enc_tun}};

MechanismParam owned(const Param& p) { return {std::string(p.name), std::string(p.value), p.has_value, p.quoted}; }

// Fills the ipsec-3gpp fields from the parameters; what is not one of them stays in `rest`.
// A value we do not implement (alg, ealg, prot, mod) is not an error: its reason goes to
// `unsupported` and checking goes on, so that a malformed offer is still refused.
Result<Ipsec3gpp> interpret_ipsec(const Params& params, std::vector<MechanismParam>& rest, std::string& unsupported) {
    Ipsec3gpp out;
    bool have_alg = false, have_spi_c = false, have_spi_s = false, have_port_c = false, have_port_s = false;
    const auto not_implemented = [&](std::string reason) {
        if (unsupported.empty()) unsupported = std::move(reason);
    };
    for (const auto& p : params) {
        const auto is = [&](std::string_view n) { return text::iequals(p.name, n); };
        const bool known = is("alg") || is("ealg") || is("prot") || is("mod") || is("spi-c") || is("spi-s") ||
                           is("port-c") || is("port-s");
        if (!known) {
            if (!is("q")) rest.push_back(owned(p));
            continue;
        }
        if (!p.has_value || p.value.empty()) return fail("ipsec-3gpp parameter " + quote(p.name) + " has no value");
        if (is("alg")) {
            have_alg = true;
            if (const auto alg = lookup(integrity_algs, p.value)) out.alg = *alg;
            else
                not_implemented("unknown alg " + quote(p.value) +
                                " (expected hmac-md5-96, hmac-sha-1-96, hmac-sha-256-128, aes-gmac or null)");
        } else if (is("ealg")) {
            if (const auto ealg = lookup(encryption_algs, p.value)) out.ealg = *ealg;
            else
                not_implemented("unknown ealg " + quote(p.value) +
                                " (expected null, des-ede3-cbc, aes-cbc or aes-gcm)");
        } else if (is("prot")) {
            if (!text::iequals(p.value, "esp"))
                not_implemented("prot " + quote(p.value) + " is not supported (only esp)");
        } else if (is("mod")) {
            if (const auto mod = lookup(modes, p.value)) out.mod = *mod;
            else not_implemented("mod " + quote(p.value) + " is not supported (only trans and UDP-enc-tun)");
        } else if (is("spi-c") || is("spi-s")) {
            // spivalue = 10DIGIT; 0 to 4294967295 (Annex H). SPI 0 is reserved (RFC 4303 2.1).
            auto spi = text::parse_number(p.value, 0xffffffffULL, "ipsec-3gpp " + std::string(p.name));
            if (!spi) return std::unexpected(spi.error());
            if (*spi == 0) return fail("ipsec-3gpp " + std::string(p.name) + " is 0, a reserved SPI");
            (is("spi-c") ? out.spi_c : out.spi_s) = static_cast<std::uint32_t>(*spi);
            (is("spi-c") ? have_spi_c : have_spi_s) = true;
        } else {
            auto port = parse_port(p.value, "ipsec-3gpp " + std::string(p.name));
            if (!port) return std::unexpected(port.error());
            (is("port-c") ? out.port_c : out.port_s) = *port;
            (is("port-c") ? have_port_c : have_port_s) = true;
        }
    }
    const std::pair<bool, std::string_view> required[] = {{have_alg, "alg"},
                                                          {have_spi_c, "spi-c"},
                                                          {have_spi_s, "spi-s"},
                                                          {have_port_c, "port-c"},
                                                          {have_port_s, "port-s"}};
    for (const auto& [have, name] : required)
        if (!have) return fail("ipsec-3gpp mechanism has no " + std::string(name));
    return out;
}

bool same_param(const MechanismParam& a, const MechanismParam& b) {
    if (!text::iequals(a.name, b.name) || a.has_value != b.has_value || a.quoted != b.quoted) return false;
    return a.quoted ? a.value == b.value : text::iequals(a.value, b.value);
}

// a and b hold the same elements in any order, for an equivalence `same`.
template <class T, class Same>
bool same_set(std::span<const T> a, std::span<const T> b, Same same) {
    if (a.size() != b.size()) return false;
    std::vector<bool> used(b.size(), false);
    for (const auto& x : a) {
        std::size_t i = 0;
        while (i < b.size() && (used[i] || !same(x, b[i]))) ++i;
        if (i == b.size()) return false;
        used[i] = true;
    }
    return true;
}

std::string format_q(std::uint16_t thousandths) {
    if (thousandths >= 1000) return "1";
    std::string s = "0." + std::to_string(1000 + thousandths).substr(1);
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s;
}

}  // namespace

std::string_view to_string(IntegrityAlg alg) noexcept { return integrity_algs[static_cast<std::size_t>(alg)].first; }

std::string_view to_string(EncryptionAlg alg) noexcept { return encryption_algs[static_cast<std::size_t>(alg)].first; }

std::string_view to_string(Mode mod) noexcept { return modes[static_cast<std::size_t>(mod)].first; }

bool operator==(const SecurityMechanism& a, const SecurityMechanism& b) {
    return text::iequals(a.name, b.name) && a.ipsec == b.ipsec && a.q == b.q &&
           same_set(std::span(a.params), std::span(b.params), same_param);
}

Result<SecurityMechanism> parse_security_mechanism(std::string_view element) {
    const auto trimmed = text::trim_lws(element);
    text::Cursor c(trimmed);
    SecurityMechanism out;
    const auto name = c.token();
    if (name.empty()) return fail("security mechanism " + quote(trimmed) + " has no name");
    out.name = name;
    Params params;
    if (auto r = parse_params(c, params, "security mechanism " + std::string(name)); !r)
        return std::unexpected(r.error());
    c.skip_lws();
    if (!c.done()) return fail("security mechanism " + quote(name) + ": unexpected " + quote(c.rest()));
    if (const auto* q = find_param(params, "q")) {
        auto value = parse_qvalue(q->value);
        if (!value) return std::unexpected(in_context(value.error(), "security mechanism " + quote(name)));
        out.q = *value;
    }
    const auto generic = [&] {
        for (const auto& p : params)
            if (!text::iequals(p.name, "q")) out.params.push_back(owned(p));
    };
    if (text::iequals(name, ipsec_3gpp)) {
        auto ipsec = interpret_ipsec(params, out.params, out.unsupported);
        if (!ipsec) return std::unexpected(ipsec.error());
        if (out.unsupported.empty()) {
            out.ipsec = *ipsec;
        } else {
            out.params.clear();  // kept as written, so that it compares and formats as received
            generic();
        }
    } else {
        generic();
    }
    return out;
}

Result<std::vector<SecurityMechanism>> parse_security_list(std::string_view value) {
    return text::parse_list<SecurityMechanism>(value, limits::max_mechanisms, "mechanism", parse_security_mechanism);
}

bool same_mechanisms(std::span<const SecurityMechanism> a, std::span<const SecurityMechanism> b) {
    return same_set(a, b, [](const SecurityMechanism& x, const SecurityMechanism& y) { return x == y; });
}

std::string format_mechanism(const SecurityMechanism& m) {
    std::string out;
    if (m.ipsec) {
        const auto& s = *m.ipsec;
        out = std::string(ipsec_3gpp) + ";alg=" + std::string(to_string(s.alg)) +
              ";ealg=" + std::string(to_string(s.ealg)) + ";prot=esp;mod=" + std::string(to_string(s.mod)) +
              ";spi-c=" + std::to_string(s.spi_c) + ";spi-s=" + std::to_string(s.spi_s) +
              ";port-c=" + std::to_string(s.port_c) + ";port-s=" + std::to_string(s.port_s);
    } else {
        out = m.name;
    }
    for (const auto& p : m.params) out += ';' + format_param(p.name, p.value, p.has_value, p.quoted);
    if (m.q) out += ";q=" + format_q(*m.q);
    return out;
}

std::string format_mechanisms(std::span<const SecurityMechanism> mechanisms) {
    std::string out;
    for (const auto& m : mechanisms) {
        if (!out.empty()) out += ", ";
        out += format_mechanism(m);
    }
    return out;
}

}  // namespace pcscf::sip
