#pragma once
// The model the ESP inbound fuzz target checks the engine against, written apart from the
// engine's code: the IP header rules of ip_header.hpp, anti-replay as a set of the
// sequence numbers seen (RFC 4303 3.4.3), the ICV and CBC decryption by OpenSSL
// (tests/esp/cbc_reference.hpp), the trailer (RFC 4303 2.4-2.6) and the SA's
// selectors. For every packet it says which drop
// reason the engine must give it, or which decapsulated packet it must produce.
#include <cstdint>
#include <set>
#include <vector>

#include "net/drop_reason.hpp"
#include "net/ip_addr.hpp"
#include "sa_contract/sa_config.hpp"

namespace pcscf::fuzz {

struct ModelSa {
    esp::Alg alg = esp::Alg::hmac_sha1_96;
    uint32_t spi = 0;
    std::vector<uint8_t> key;              // raw, key_len(alg) bytes (none for aes-gmac, null)
    net::IpAddr ue, pcscf;                 // pcscf unspecified: any
    uint16_t ue_port = 0, pcscf_port = 0;  // 0: any
    uint64_t cookie = 0;
    esp::Ealg ealg = esp::Ealg::null;
    std::vector<uint8_t> ckey;  // raw, cipher_key_len(alg, ealg) bytes: CK_ESP, or key || salt
};

// RFC 4303 3.4.3 without ESN: sequence numbers start at 1; one is accepted if it is above
// the highest seen, or at most `window - 1` below it and not seen before.
class ReplayModel {
public:
    explicit ReplayModel(uint32_t window) : window_(window) {}
    bool fresh(uint32_t seq) const;
    bool accept(uint32_t seq);  // fresh(seq), and then remembered

private:
    uint32_t window_;
    uint32_t top_ = 0;
    std::set<uint32_t> seen_;  // only those inside the window are kept
};

// One packet as handed to Engine::inbound().
struct ModelPacket {
    std::vector<uint8_t> frame;  // l2_len bytes of link header, then the IP packet
    uint16_t l2_len = 0;
    uint64_t rx_cksum = 0;  // the NIC's IPv4 checksum verdict (RTE_MBUF_F_RX_IP_CKSUM_*)
    bool chained = false;   // held in two segments
};

struct Verdict {
    net::DropReason reason = net::kPass;
    int sa = -1;  // index of the SA the packet counted against
    uint32_t seq = 0;
    uint32_t esp_bytes = 0;       // the ESP packet's IP length (the SA's byte counter)
    std::vector<uint8_t> output;  // the decapsulated frame, when it verified
    bool checksum_known = true;   // false: a trusted (RX GOOD) wrong IPv4 checksum went in
};

struct ModelSaState {
    ReplayModel replay, at_chunk_start;
    bool used = false;
    uint64_t packets = 0, bytes = 0, drops = 0;
};

class EspModel {
public:
    EspModel(uint32_t window, std::vector<ModelSa> sas);

    // The engine checks for replays before the ICV against the window as it stood at the
    // start of its chunk of packets, and again, exactly, after the ICV.
    void start_chunk();
    // The verdict on the next packet (the replay state moves on as the engine's must).
    Verdict judge(const ModelPacket& p);
    // Counts a verdict against its SA (a dummy packet is no fault of the sender's: not a
    // drop of the SA); true if it is the SA's first packet to pass.
    bool count(const Verdict& v);

    const std::vector<ModelSa>& sas() const { return sas_; }
    const ModelSaState& state(size_t i) const { return state_[i]; }

private:
    std::vector<ModelSa> sas_;
    std::vector<ModelSaState> state_;
};

}  // namespace pcscf::fuzz
