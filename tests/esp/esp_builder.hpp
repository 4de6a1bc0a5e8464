#pragma once
// Hand-made transport-mode ESP for tests that need packets no peer would send: a
// trailer that lies, a wrong next header, a sequence number of our choosing. The ICV is
// genuine (our HMAC is checked against RFC 2202 and scapy elsewhere), so the engine gets
// past the integrity check and must catch the fault after it.
#include <optional>
#include <vector>

#include "dataplane/esp/crypto_batch.hpp"
#include "net/ip_header.hpp"
#include "sa_contract/hmac_key.hpp"

namespace pcscf::test {

struct Seal {
    uint32_t spi = 0x1001;
    uint32_t seq = 1;
    esp::Alg alg = esp::Alg::hmac_sha1_96;
    esp::HmacKey key;
    std::optional<uint8_t> next_header;     // default: the packet's transport protocol
    std::optional<uint8_t> pad_len_field;   // default: the true pad length
    std::optional<uint8_t> pad_first_byte;  // default: 1 (RFC 4303)
    uint32_t extra_pad = 0;                 // more padding than alignment needs
};

inline std::vector<uint8_t> seal(IMB_MGR* mgr, const std::vector<uint8_t>& plain, const Seal& s) {
    using namespace pcscf::esp;
    using namespace pcscf::net;
    const net::IpInfo info = *net::parse_ip(plain.data(), uint32_t(plain.size()));
    const uint32_t payload = info.total_len - info.l3_len;
    const uint32_t pad = ((4 - ((payload + 2) & 3)) & 3) + s.extra_pad;
    std::vector<uint8_t> out(plain.begin(), plain.begin() + info.l3_len);
    for (int sh = 24; sh >= 0; sh -= 8) out.push_back(uint8_t(s.spi >> sh));
    for (int sh = 24; sh >= 0; sh -= 8) out.push_back(uint8_t(s.seq >> sh));
    out.insert(out.end(), plain.begin() + info.l3_len, plain.end());
    for (uint32_t i = 0; i < pad; ++i) out.push_back(uint8_t(i + 1));
    if (pad > 0 && s.pad_first_byte) out[out.size() - pad] = *s.pad_first_byte;
    out.push_back(s.pad_len_field.value_or(uint8_t(pad)));
    out.push_back(s.next_header.value_or(info.proto));
    const size_t esp_off = info.l3_len;
    const uint32_t icv = icv_len(s.alg, Transform::hmac);
    out.resize(out.size() + icv);
    net::IpInfo patched = info;
    net::patch_ip(out.data(), patched, net::kProtoEsp, int32_t(out.size() - plain.size()));
    CryptoBatch b(mgr);
    b.add(s.alg, s.key, out.data() + esp_off, uint32_t(out.size() - esp_off - icv), out.data() + out.size() - icv);
    b.run();
    return out;
}

}  // namespace pcscf::test
