#include "control/sa/sa_request_text.hpp"

#include <charconv>
#include <set>

namespace pcscf::ctl {

namespace {

std::expected<uint64_t, std::string> number(std::string_view key, std::string_view v, uint64_t max) {
    uint64_t n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size() || v.empty() || n > max)
        return std::unexpected(std::string(key) + ": '" + std::string(v) + "' is not a number in 0.." +
                               std::to_string(max));
    return n;
}

std::expected<std::vector<uint8_t>, std::string> hex(std::string_view field, std::string_view v) {
    if (v.starts_with("0x")) v.remove_prefix(2);
    if (v.size() % 2 != 0) return std::unexpected(std::string(field) + ": odd number of hex digits");
    std::vector<uint8_t> out;
    for (size_t i = 0; i < v.size(); i += 2) {
        uint8_t b = 0;
        const auto [end, ec] = std::from_chars(v.data() + i, v.data() + i + 2, b, 16);
        if (ec != std::errc() || end != v.data() + i + 2)
            return std::unexpected(std::string(field) + ": '" + std::string(v.substr(i, 2)) + "' is not hex");
        out.push_back(b);
    }
    return out;
}

}  // namespace

Expected<SaRequest> parse_sa_request(std::string_view text) {
    const auto bad = [](std::string m) { return fail(Errc::invalid, std::move(m)); };
    SaRequest r;
    r.label = "manual";
    std::set<std::string, std::less<>> seen;
    while (!text.empty()) {
        const size_t comma = text.find(',');
        const std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        if (item.empty()) continue;
        const size_t eq = item.find('=');
        if (eq == std::string_view::npos) return bad("'" + std::string(item) + "' is not key=value");
        const std::string_view k = item.substr(0, eq), v = item.substr(eq + 1);
        if (!seen.insert(std::string(k)).second) return bad(std::string(k) + " given twice");
        if (k == "dir") {
            if (v == "in") r.dir = esp::Direction::inbound;
            else if (v == "out") r.dir = esp::Direction::outbound;
            else return bad("dir: '" + std::string(v) + "' is neither in nor out");
        } else if (k == "alg") {
            auto a = esp::parse_alg(v);
            if (!a) return bad("alg: '" + std::string(v) + "' is not hmac-md5-96, hmac-sha-1-96, aes-gmac or null");
            r.alg = *a;
        } else if (k == "ealg") {
            auto e = esp::parse_ealg(v);
            if (!e) return bad("ealg: '" + std::string(v) + "' is not null, aes-cbc, des-ede3-cbc or aes-gcm");
            r.ealg = *e;
        } else if (k == "key" || k == "ekey") {
            auto b = hex(k, v);
            if (!b) return bad(b.error());
            (k == "key" ? r.key : r.cipher_key) = std::move(*b);
        } else if (k == "spi") {
            auto n = number(k, v, UINT32_MAX);
            if (!n) return bad(n.error());
            r.spi = uint32_t(*n);
        } else if (k == "ue" || k == "pcscf" || k == "ue_inner") {
            auto a = net::IpAddr::parse(v);
            if (!a) return bad(std::string(k) + ": " + a.error());
            (k == "ue" ? r.ue : k == "pcscf" ? r.pcscf : r.ue_inner) = *a;
        } else if (k == "ue_port" || k == "pcscf_port" || k == "encap_port") {
            auto n = number(k, v, UINT16_MAX);
            if (!n) return bad(n.error());
            (k == "ue_port" ? r.ue_port : k == "pcscf_port" ? r.pcscf_port : r.encap_port) = uint16_t(*n);
        } else if (k == "mode") {  // TS 33.203 Annex H's mod= values, case as RFC 3329 leaves it
            if (v == "trans") r.mode = esp::Mode::transport;
            else if (v == "UDP-enc-tun" || v == "udp-enc-tun") r.mode = esp::Mode::udp_enc_tun;
            else return bad("mode: '" + std::string(v) + "' is neither trans nor UDP-enc-tun");
        } else if (k == "label") {
            r.label = std::string(v);
        } else {
            return bad("unknown field '" + std::string(k) +
                       "' (dir, alg, key, ealg, ekey, spi, ue, ue_port, pcscf, pcscf_port, mode, ue_inner, "
                       "encap_port, label)");
        }
    }
    for (const char* required : {"dir", "alg", "ue"})
        if (!seen.contains(required)) return bad(std::string(required) + " is required");
    // Which keys the pair takes; their lengths are SaManager's check (check_cipher).
    if (!esp::transform(r.alg, r.ealg))
        return bad("alg=" + std::string(esp::name(r.alg)) + " with ealg=" + std::string(esp::name(r.ealg)) +
                   " is not a pair TS 33.203 Annex H allows (an HMAC with null, aes-cbc or des-ede3-cbc; null with "
                   "aes-gcm; aes-gmac with null)");
    if (esp::is_hmac(r.alg) && !seen.contains("key"))
        return bad("key is required with alg=" + std::string(esp::name(r.alg)));
    if (!esp::is_hmac(r.alg) && seen.contains("key"))
        return bad("alg=" + std::string(esp::name(r.alg)) + " takes no key: its key and salt go in ekey");
    const uint32_t ekey_len = esp::cipher_key_len(r.alg, r.ealg);
    if (ekey_len != 0 && !seen.contains("ekey"))
        return bad("ekey (" + std::to_string(ekey_len) + " bytes" +
                   (ekey_len == esp::kAeadKeyLen ? ", the AES key || salt" : ", CK_ESP") + ") is required with alg=" +
                   std::string(esp::name(r.alg)) + ", ealg=" + std::string(esp::name(r.ealg)));
    if (ekey_len == 0 && seen.contains("ekey"))
        return bad("ekey needs ealg=aes-cbc, des-ede3-cbc or aes-gcm, or alg=aes-gmac");
    // UDP-enc-tun (TS 33.203 Annex M): `ue` is the NAT's public address, `ue_inner` the
    // UE's own; encap_port the NAT's port, or learnt from the UE's first packet if absent.
    if (r.mode == esp::Mode::udp_enc_tun && !seen.contains("ue_inner"))
        return bad("ue_inner (the UE's own address behind the NAT) is required with mode=UDP-enc-tun");
    if (r.mode != esp::Mode::udp_enc_tun && (seen.contains("ue_inner") || seen.contains("encap_port")))
        return bad("ue_inner and encap_port need mode=UDP-enc-tun");
    return r;
}

}  // namespace pcscf::ctl
