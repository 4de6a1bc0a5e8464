#pragma once
// The four SAs one sec-agree negotiation creates for a UE (TS 33.203 7.1, two pairs):
//
//   UE port_uc -> P-CSCF port_ps   inbound,  SPI spi_ps (ours)
//   P-CSCF port_ps -> UE port_uc   outbound, SPI spi_uc (the UE's)
//   P-CSCF port_pc -> UE port_us   outbound, SPI spi_us (the UE's)
//   UE port_us -> P-CSCF port_pc   inbound,  SPI spi_pc (ours)
//
// UDP and TCP share them. Installed and removed through SaManager, four at a time.
#include <array>
#include <cstdint>
#include <expected>
#include <span>
#include <string>

#include "control/sa/sa_manager.hpp"
#include "control/secagree/algorithm_policy.hpp"
#include "sip/security.hpp"

namespace pcscf::secagree {

esp::Mode to_esp(sip::Mode m);
sip::Mode to_sip(esp::Mode m);

struct SaSet {
    enum Slot : uint8_t { in_ps, out_uc, out_us, in_pc };

    esp::Alg alg = esp::Alg::hmac_sha1_96;
    esp::Ealg ealg = esp::Ealg::null;  // the same as ue_side.ealg: the offer chosen names the pair
    net::IpAddr ue, pcscf;
    sip::Ipsec3gpp ue_side;  // the UE's SPIs and ports (spi_c/port_c: uc, spi_s/port_s: us), and mod
    uint32_t spi_pc = 0, spi_ps = 0;
    uint16_t port_pc = 0, port_ps = 0;
    std::array<ctl::SaId, 4> ids{};
    // UDP-enc-tun (ue_side.mod, TS 33.203 Annex M): `ue` is the NAT's public address,
    // `ue_inner` the UE's own (SM1's Via sent-by), `encap_port` the NAT's port for the UE's
    // 4500 as the datapath learnt it (0: not yet).
    net::IpAddr ue_inner;
    uint16_t encap_port = 0;

    uint16_t port_uc() const { return ue_side.port_c; }
    uint16_t port_us() const { return ue_side.port_s; }
    bool has(ctl::SaId id) const;
    AlgPair pair() const { return {alg, ealg}; }
    esp::Mode mode() const { return to_esp(ue_side.mod); }
    // The P-CSCF's side as Security-Server (TS 33.203 7.2, Annex H): one ipsec-3gpp
    // mechanism per pair, best first with q decreasing, each with this set's SPIs and ports.
    std::vector<sip::SecurityMechanism> security_server(std::span<const AlgPair> pairs) const;
};

// q of the i-th mechanism we list, best first: 1, 0.9, ... 0.1.
uint16_t q_of(size_t i);

// Installs the four SAs of `pair` with IK_ESP for an HMAC (TS 33.203 Annex I, from the
// 16-byte IK; none for aes-gmac and alg=null) and `cipher_key` (SaRecord::cipher, from
// SaManager::cipher_key; empty for an HMAC with ealg=null); our SPIs are allocated
// different from the UE's. ue_side.mod=UDP-enc-tun makes them UDP-enc-tun SAs: `ue` the
// UE's public address, `ue_inner` its own, NAT port not known yet. All four or none: a
// refusal rolls back.
ctl::Expected<SaSet> install_sa_set(ctl::SaManager& sas, AlgPair pair, const net::IpAddr& ue, const net::IpAddr& pcscf,
                                    const sip::Ipsec3gpp& ue_side, uint16_t port_pc, uint16_t port_ps,
                                    std::span<const uint8_t, 16> ik, std::span<const uint8_t> cipher_key,
                                    const std::string& label, const net::IpAddr& ue_inner = {});

// Integrity only (ealg=null): what the benchmarks install.
inline ctl::Expected<SaSet> install_sa_set(ctl::SaManager& sas, esp::Alg alg, const net::IpAddr& ue,
                                           const net::IpAddr& pcscf, const sip::Ipsec3gpp& ue_side, uint16_t port_pc,
                                           uint16_t port_ps, std::span<const uint8_t, 16> ik,
                                           const std::string& label) {
    return install_sa_set(sas, AlgPair{alg, esp::Ealg::null}, ue, pcscf, ue_side, port_pc, port_ps, ik, {}, label);
}

inline constexpr std::array<SaSet::Slot, 4> kAllSlots{SaSet::in_ps, SaSet::out_uc, SaSet::out_us, SaSet::in_pc};

// Deletes the SAs of the set in `slots` (all four by default).
void remove_sa_set(ctl::SaManager& sas, const SaSet& set, std::span<const SaSet::Slot> slots = kAllSlots);

esp::Alg to_esp(sip::IntegrityAlg a);
sip::IntegrityAlg to_sip(esp::Alg a);
esp::Ealg to_esp(sip::EncryptionAlg e);
sip::EncryptionAlg to_sip(esp::Ealg e);

}  // namespace pcscf::secagree
