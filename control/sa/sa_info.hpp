#pragma once
// What the control side says of an SA: a request to add one, and the registry's entry for
// it (SaManager's view, as telemetry and the state store see it too).
#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/ip_addr.hpp"
#include "sa_contract/sa_config.hpp"

namespace pcscf::ctl {

using SaId = uint64_t;

struct SaRequest {
    esp::Direction dir = esp::Direction::inbound;
    esp::Alg alg = esp::Alg::hmac_sha1_96;
    std::vector<uint8_t> key;  // IK_ESP: 16 bytes (MD5) or 20 (SHA-1)
    esp::Ealg ealg = esp::Ealg::null;
    std::vector<uint8_t> cipher_key;  // CK_ESP (TS 33.203 Annex I): cipher_key_len(ealg) bytes, none for null
    uint32_t spi = 0;                 // outbound: the UE's SPI; inbound: 0 = allocate
    net::IpAddr ue, pcscf;
    uint16_t ue_port = 0, pcscf_port = 0;
    std::vector<uint32_t> avoid_spis;  // inbound allocation differs from these (the UE's)
    std::string label;                 // who asked: "manual", an IMPI
    // UDP-enc-tun (esp::SaConfig): `ue` is then the UE's public address, `ue_inner` its
    // own; both IPv4. encap_port 0: not learnt yet.
    esp::Mode mode = esp::Mode::transport;
    net::IpAddr ue_inner;
    uint16_t encap_port = 0;
};

enum class SaState : uint8_t {
    pending,   // record sent, not yet acknowledged
    active,    // installed on its worker
    removing,  // delete sent, not yet acknowledged
};
std::string_view name(SaState s);
// "ok" or what a worker's negative errno means for an SA record.
std::string describe_result(int result);

struct SaInfo {
    SaId id = 0;
    esp::SaConfig cfg;
    uint32_t worker = 0;
    int32_t handle = -1;  // the SA's place in its worker's table, once active
    SaState state = SaState::pending;
    bool used = false;     // inbound: a packet has verified on it
    uint32_t updates = 0;  // update records sent to its worker and not yet acknowledged
    std::string label;
    // The key as given, for the operator (pcscf-espctl keys, to decode a capture); none
    // for an SA restored from a state store, which keeps only the expanded key.
    std::array<uint8_t, 32> raw_key{};
    uint8_t raw_key_len = 0;
    // CK_ESP as the worker takes it (it expands the key schedule itself): kept, and
    // stored with the SA, so a restored or standby SA deciphers as before. Empty for null.
    esp::CipherKey cipher;
    esp::HmacKey hmac;                             // the expanded key the worker has, for an update record
    std::chrono::steady_clock::time_point sent{};  // its add record, for the install latency
    uint32_t generation = 0;                       // with a state store: the start that added it (sa_state.hpp)
    bool marked = false;  // with a state store: a sequence mark of it is stored (deleted with it)
};

}  // namespace pcscf::ctl
