#pragma once
// Transport-mode ESP with AES-128-GCM (RFC 4106) or AES-128-GMAC (RFC 4543) done by
// OpenSSL's libcrypto, apart from the engine's IPsec-MB path: seal_aead() builds what a
// peer sends (or a packet that lies), open_aead() checks everything about a packet our
// outbound made and gives back the packet that went in. Keying material is the 16-byte
// AES key followed by the 4-byte salt; nonce = salt || the packet's 8-byte IV.
#include <openssl/evp.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "net/ip_header.hpp"
#include "sa_contract/sa_config.hpp"

namespace pcscf::test {

// GCM over `text` with `aad`; encrypt: returns ciphertext || tag; decrypt: `text` is
// ciphertext || tag, returns the plaintext or nullopt when the tag is wrong.
inline std::optional<std::vector<uint8_t>> openssl_gcm(bool encrypt, const std::vector<uint8_t>& keymat,
                                                       const uint8_t* iv8, const std::vector<uint8_t>& aad,
                                                       const std::vector<uint8_t>& text) {
    if (keymat.size() != esp::kAeadKeyLen) throw std::runtime_error("AES-GCM keying material is 20 bytes");
    uint8_t nonce[12];
    std::memcpy(nonce, keymat.data() + 16, 4);
    std::memcpy(nonce + 4, iv8, 8);
    const size_t tag = esp::kAeadIcvLen;
    if (!encrypt && text.size() < tag) return std::nullopt;
    const size_t len = encrypt ? text.size() : text.size() - tag;
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    std::vector<uint8_t> out(len + tag);
    int n = 0, m = 0;
    bool ok = EVP_CipherInit_ex(c, EVP_aes_128_gcm(), nullptr, nullptr, nullptr, encrypt ? 1 : 0) == 1 &&
              EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, nullptr) == 1 &&
              EVP_CipherInit_ex(c, nullptr, nullptr, keymat.data(), nonce, encrypt ? 1 : 0) == 1 &&
              (aad.empty() || EVP_CipherUpdate(c, nullptr, &n, aad.data(), int(aad.size())) == 1) &&
              (len == 0 || EVP_CipherUpdate(c, out.data(), &n, text.data(), int(len)) == 1);
    if (ok && !encrypt)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, int(tag), const_cast<uint8_t*>(text.data() + len)) == 1;
    const bool final_ok = ok && EVP_CipherFinal_ex(c, out.data() + (len == 0 ? 0 : n), &m) == 1;
    if (final_ok && encrypt) EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, int(tag), out.data() + len);
    EVP_CIPHER_CTX_free(c);
    if (!ok) throw std::runtime_error("OpenSSL GCM set-up failed");
    if (!final_ok) return std::nullopt;
    if (!encrypt) out.resize(len);
    return out;
}

struct AeadSeal {
    esp::Transform xf = esp::Transform::gcm;  // gcm or gmac
    uint32_t spi = 0x1001;
    uint32_t seq = 1;
    std::vector<uint8_t> keymat;           // key || salt
    std::vector<uint8_t> iv;               // empty: 8 bytes 0x5a
    std::optional<uint8_t> next_header;    // default: the packet's transport protocol
    std::optional<uint8_t> pad_len_field;  // default: the true pad length
};

inline std::vector<uint8_t> seal_aead(const std::vector<uint8_t>& plain, const AeadSeal& s) {
    const net::IpInfo info = *net::parse_ip(plain.data(), uint32_t(plain.size()));
    const uint32_t payload = info.total_len - info.l3_len;
    const uint32_t pad = (4 - (payload + 2) % 4) % 4;
    std::vector<uint8_t> body(plain.begin() + info.l3_len, plain.begin() + info.total_len);
    for (uint32_t i = 0; i < pad; ++i) body.push_back(uint8_t(i + 1));
    body.push_back(s.pad_len_field.value_or(uint8_t(pad)));
    body.push_back(s.next_header.value_or(info.proto));
    std::vector<uint8_t> iv = s.iv.empty() ? std::vector<uint8_t>(8, 0x5a) : s.iv;
    std::vector<uint8_t> esp;
    for (int sh = 24; sh >= 0; sh -= 8) esp.push_back(uint8_t(s.spi >> sh));
    for (int sh = 24; sh >= 0; sh -= 8) esp.push_back(uint8_t(s.seq >> sh));
    if (s.xf == esp::Transform::gcm) {
        const auto ct = *openssl_gcm(true, s.keymat, iv.data(), esp, body);  // AAD: SPI || seq
        esp.insert(esp.end(), iv.begin(), iv.end());
        esp.insert(esp.end(), ct.begin(), ct.end());
    } else {
        esp.insert(esp.end(), iv.begin(), iv.end());
        esp.insert(esp.end(), body.begin(), body.end());
        const auto tag = *openssl_gcm(true, s.keymat, iv.data(), esp, {});  // AAD: all of it (RFC 4543 3.3)
        esp.insert(esp.end(), tag.begin(), tag.end());
    }
    std::vector<uint8_t> out(plain.begin(), plain.begin() + info.l3_len);
    out.insert(out.end(), esp.begin(), esp.end());
    net::IpInfo patched = info;
    net::patch_ip(out.data(), patched, net::kProtoEsp, int32_t(out.size()) - int32_t(info.total_len));
    return out;
}

// What open_aead() found in a packet our outbound made.
struct AeadOpened {
    std::string error;           // empty when every check passed
    std::vector<uint8_t> plain;  // the packet before ESP
    std::vector<uint8_t> iv;
    uint32_t spi = 0, seq = 0;
};

inline AeadOpened open_aead(const std::vector<uint8_t>& pkt, esp::Transform xf, const std::vector<uint8_t>& keymat) {
    AeadOpened o;
    auto info = net::parse_ip(pkt.data(), uint32_t(pkt.size()));
    if (!info || info->proto != net::kProtoEsp || info->total_len != pkt.size()) {
        o.error = "not a well-formed ESP packet";
        return o;
    }
    const uint8_t* e = pkt.data() + info->l3_len;
    const uint32_t esp_len = info->total_len - info->l3_len;
    const uint32_t tag = esp::kAeadIcvLen;
    if (esp_len < 8 + 8 + 4 + tag) {
        o.error = "too short";
        return o;
    }
    if (esp_len % 4 != 0) {
        o.error = "ESP not 32-bit aligned (RFC 4303 2.4)";
        return o;
    }
    o.spi = uint32_t(e[0]) << 24 | uint32_t(e[1]) << 16 | uint32_t(e[2]) << 8 | e[3];
    o.seq = uint32_t(e[4]) << 24 | uint32_t(e[5]) << 16 | uint32_t(e[6]) << 8 | e[7];
    o.iv.assign(e + 8, e + 16);
    std::vector<uint8_t> body;
    if (xf == esp::Transform::gcm) {
        auto p = openssl_gcm(false, keymat, e + 8, {e, e + 8}, {e + 16, e + esp_len});
        if (!p) {
            o.error = "GCM tag does not verify";
            return o;
        }
        body = std::move(*p);
    } else {
        const auto want = *openssl_gcm(true, keymat, e + 8, {e, e + esp_len - tag}, {});
        if (std::memcmp(want.data(), e + esp_len - tag, tag) != 0) {
            o.error = "GMAC tag does not verify";
            return o;
        }
        body.assign(e + 16, e + esp_len - tag);
    }
    const uint32_t n = uint32_t(body.size());
    const uint32_t pad = body[n - 2];
    const uint8_t next = body[n - 1];
    if (pad + 2 > n || pad >= 4) {
        o.error = "pad length " + std::to_string(pad) + " not the least 4-byte alignment needs";
        return o;
    }
    for (uint32_t k = 0; k < pad; ++k)
        if (body[n - 2 - pad + k] != k + 1) {
            o.error = "padding not 1, 2, 3 (RFC 4303 2.4)";
            return o;
        }
    std::vector<uint8_t> head(pkt.begin(), pkt.begin() + info->l3_len);
    net::IpInfo h = *info;
    net::patch_ip(head.data(), h, next, -int32_t(16 + pad + 2 + tag));
    o.plain = head;
    o.plain.insert(o.plain.end(), body.begin(), body.end() - 2 - pad);
    return o;
}

}  // namespace pcscf::test
