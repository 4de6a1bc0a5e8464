#include "control/secagree/sa_set.hpp"

#include <algorithm>
#include <array>

#include "sa_contract/hmac_key.hpp"

namespace pcscf::secagree {

esp::Mode to_esp(sip::Mode m) { return m == sip::Mode::udp_enc_tun ? esp::Mode::udp_enc_tun : esp::Mode::transport; }
sip::Mode to_sip(esp::Mode m) { return m == esp::Mode::udp_enc_tun ? sip::Mode::udp_enc_tun : sip::Mode::trans; }

// The SIP and ESP enums name the same Annex H algorithms.
esp::Alg to_esp(sip::IntegrityAlg a) {
    switch (a) {
        case sip::IntegrityAlg::hmac_md5_96: return esp::Alg::hmac_md5_96;
        case sip::IntegrityAlg::hmac_sha_1_96: return esp::Alg::hmac_sha1_96;
        case sip::IntegrityAlg::aes_gmac: return esp::Alg::aes_gmac;
        case sip::IntegrityAlg::null: return esp::Alg::null;
        case sip::IntegrityAlg::hmac_sha_256_128: return esp::Alg::hmac_sha256_128;
    }
    return esp::Alg::null;
}
sip::IntegrityAlg to_sip(esp::Alg a) {
    switch (a) {
        case esp::Alg::hmac_md5_96: return sip::IntegrityAlg::hmac_md5_96;
        case esp::Alg::hmac_sha1_96: return sip::IntegrityAlg::hmac_sha_1_96;
        case esp::Alg::aes_gmac: return sip::IntegrityAlg::aes_gmac;
        case esp::Alg::null: return sip::IntegrityAlg::null;
        case esp::Alg::hmac_sha256_128: return sip::IntegrityAlg::hmac_sha_256_128;
    }
    return sip::IntegrityAlg::null;
}

esp::Ealg to_esp(sip::EncryptionAlg e) {
    switch (e) {
        case sip::EncryptionAlg::null: return esp::Ealg::null;
        case sip::EncryptionAlg::des_ede3_cbc: return esp::Ealg::des_ede3_cbc;
        case sip::EncryptionAlg::aes_cbc: return esp::Ealg::aes_cbc;
        case sip::EncryptionAlg::aes_gcm: return esp::Ealg::aes_gcm;
    }
    return esp::Ealg::null;
}
sip::EncryptionAlg to_sip(esp::Ealg e) {
    switch (e) {
        case esp::Ealg::null: return sip::EncryptionAlg::null;
        case esp::Ealg::des_ede3_cbc: return sip::EncryptionAlg::des_ede3_cbc;
        case esp::Ealg::aes_cbc: return sip::EncryptionAlg::aes_cbc;
        case esp::Ealg::aes_gcm: return sip::EncryptionAlg::aes_gcm;
    }
    return sip::EncryptionAlg::null;
}

bool SaSet::has(ctl::SaId id) const { return std::find(ids.begin(), ids.end(), id) != ids.end(); }

uint16_t q_of(size_t i) { return uint16_t(1000 - 100 * std::min<size_t>(i, 9)); }

std::vector<sip::SecurityMechanism> SaSet::security_server(std::span<const AlgPair> pairs) const {
    std::vector<sip::SecurityMechanism> out;
    for (size_t i = 0; i < pairs.size(); ++i) {
        sip::SecurityMechanism m;
        m.name = "ipsec-3gpp";
        sip::Ipsec3gpp p;
        p.alg = to_sip(pairs[i].alg);
        p.ealg = to_sip(pairs[i].ealg);
        p.mod = ue_side.mod;
        p.spi_c = spi_pc;
        p.spi_s = spi_ps;
        p.port_c = port_pc;
        p.port_s = port_ps;
        m.ipsec = p;
        m.q = q_of(i);
        out.push_back(std::move(m));
    }
    return out;
}

ctl::Expected<SaSet> install_sa_set(ctl::SaManager& sas, AlgPair pair, const net::IpAddr& ue, const net::IpAddr& pcscf,
                                    const sip::Ipsec3gpp& ue_side, uint16_t port_pc, uint16_t port_ps,
                                    std::span<const uint8_t, 16> ik, std::span<const uint8_t> cipher_key,
                                    const std::string& label, const net::IpAddr& ue_inner) {
    const esp::Alg alg = pair.alg;
    SaSet set;
    set.alg = alg;
    set.ealg = pair.ealg;
    set.ue = ue;
    set.pcscf = pcscf;
    set.ue_side = ue_side;
    set.port_pc = port_pc;
    set.port_ps = port_ps;
    if (set.mode() == esp::Mode::udp_enc_tun) set.ue_inner = ue_inner;
    const esp::EspKey key = esp::ik_esp(alg, ik);

    struct Plan {
        SaSet::Slot slot;
        esp::Direction dir;
        uint32_t spi;  // 0: allocate (ours)
        uint16_t ue_port, pcscf_port;
    };
    const Plan plan[] = {
        {SaSet::in_ps, esp::Direction::inbound, 0, ue_side.port_c, port_ps},
        {SaSet::out_uc, esp::Direction::outbound, ue_side.spi_c, ue_side.port_c, port_ps},
        {SaSet::out_us, esp::Direction::outbound, ue_side.spi_s, ue_side.port_s, port_pc},
        {SaSet::in_pc, esp::Direction::inbound, 0, ue_side.port_s, port_pc},
    };
    // One group: the worker gets the four in one enqueue and answers them in one.
    std::array<ctl::SaRequest, 4> reqs;
    for (size_t i = 0; i < reqs.size(); ++i) {
        const Plan& p = plan[i];
        ctl::SaRequest& r = reqs[i];
        r.dir = p.dir;
        r.alg = alg;
        if (esp::is_hmac(alg)) r.key.assign(key.span().begin(), key.span().end());  // AEADs: all in cipher_key
        r.ealg = pair.ealg;
        r.cipher_key.assign(cipher_key.begin(), cipher_key.end());
        r.spi = p.spi;
        r.ue = ue;
        r.pcscf = pcscf;
        r.ue_port = p.ue_port;
        r.pcscf_port = p.pcscf_port;
        r.avoid_spis = {ue_side.spi_c, ue_side.spi_s};
        r.label = label;
        r.mode = set.mode();
        r.ue_inner = set.ue_inner;
    }
    auto ids = sas.add_all(reqs);
    if (!ids) return std::unexpected(ids.error());
    for (size_t i = 0; i < reqs.size(); ++i) set.ids[plan[i].slot] = (*ids)[i];
    set.spi_ps = sas.find(set.ids[SaSet::in_ps])->cfg.spi;
    set.spi_pc = sas.find(set.ids[SaSet::in_pc])->cfg.spi;
    return set;
}

void remove_sa_set(ctl::SaManager& sas, const SaSet& set, std::span<const SaSet::Slot> slots) {
    std::array<ctl::SaId, 4> ids{};
    size_t n = 0;
    for (SaSet::Slot s : slots)
        if (set.ids[s] != 0 && n < ids.size()) ids[n++] = set.ids[s];  // already gone: nothing to do
    sas.remove_all(std::span(ids).first(n));
}

}  // namespace pcscf::secagree
