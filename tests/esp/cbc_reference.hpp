#pragma once
// Transport-mode ESP with AES-128-CBC or 3DES-CBC done by OpenSSL's libcrypto, an
// implementation apart from the engine's IPsec-MB path: seal_cbc() builds the packets a
// peer would send (or one that lies: wrong trailer, ciphertext cut short), open_cbc()
// checks everything about a packet our outbound made (RFC 4303 2 and 3.3, RFC 3602,
// RFC 2451) and gives back the packet that went in.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "net/ip_header.hpp"
#include "sa_contract/sa_config.hpp"

namespace pcscf::test {

inline std::vector<uint8_t> openssl_cbc(bool encrypt, esp::Ealg ealg, const std::vector<uint8_t>& key,
                                        const uint8_t* iv, const uint8_t* data, size_t len) {
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    const EVP_CIPHER* cipher = ealg == esp::Ealg::aes_cbc ? EVP_aes_128_cbc() : EVP_des_ede3_cbc();
    std::vector<uint8_t> out(len + 32);
    int n = 0, m = 0;
    const bool ok = EVP_CipherInit_ex(c, cipher, nullptr, key.data(), iv, encrypt ? 1 : 0) == 1 &&
                    EVP_CIPHER_CTX_set_padding(c, 0) == 1 && EVP_CipherUpdate(c, out.data(), &n, data, int(len)) == 1 &&
                    EVP_CipherFinal_ex(c, out.data() + n, &m) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok) throw std::runtime_error("OpenSSL CBC failed (length not a multiple of the block?)");
    out.resize(size_t(n + m));
    return out;
}

// HMAC-MD5-96, HMAC-SHA-1-96 or HMAC-SHA-256-128 (RFC 2403, 2404, 4868) of data[0, len):
// the ICV, icv_len bytes.
inline std::vector<uint8_t> openssl_icv(esp::Alg alg, std::span<const uint8_t> key, const uint8_t* data, size_t len) {
    uint8_t full[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    const EVP_MD* md = alg == esp::Alg::hmac_md5_96       ? EVP_md5()
                       : alg == esp::Alg::hmac_sha256_128 ? EVP_sha256()
                                                          : EVP_sha1();
    const uint32_t icv_len = esp::icv_len(alg, esp::Transform::hmac);
    if (HMAC(md, key.data(), int(key.size()), data, len, full, &n) == nullptr || n < icv_len)
        throw std::runtime_error("OpenSSL HMAC failed");
    return {full, full + icv_len};
}

struct CbcSeal {
    uint32_t spi = 0x1001;
    uint32_t seq = 1;
    esp::Alg alg = esp::Alg::hmac_sha1_96;
    std::vector<uint8_t> ikey;  // IK_ESP
    esp::Ealg ealg = esp::Ealg::aes_cbc;
    std::vector<uint8_t> ckey;              // CK_ESP
    std::vector<uint8_t> iv;                // empty: 0x5a...
    std::optional<uint8_t> next_header;     // default: the packet's transport protocol
    std::optional<uint8_t> pad_len_field;   // default: the true pad length
    std::optional<uint8_t> pad_first_byte;  // default: 1 (RFC 4303)
    uint32_t extra_blocks = 0;              // more padding than the block needs, in blocks
    int cut = 0;                            // ciphertext bytes removed (> 0) after encryption
};

inline std::vector<uint8_t> seal_cbc(const std::vector<uint8_t>& plain, const CbcSeal& s) {
    const net::IpInfo info = *net::parse_ip(plain.data(), uint32_t(plain.size()));
    const uint32_t block = esp::pad_block(s.ealg);
    const uint32_t payload = info.total_len - info.l3_len;
    const uint32_t pad = (block - (payload + 2) % block) % block + s.extra_blocks * block;
    std::vector<uint8_t> body(plain.begin() + info.l3_len, plain.begin() + info.total_len);
    for (uint32_t i = 0; i < pad; ++i) body.push_back(uint8_t(i + 1));
    if (pad > 0 && s.pad_first_byte) body[payload] = *s.pad_first_byte;
    body.push_back(s.pad_len_field.value_or(uint8_t(pad)));
    body.push_back(s.next_header.value_or(info.proto));
    std::vector<uint8_t> iv = s.iv;
    if (iv.empty()) iv.assign(esp::iv_len(s.ealg), 0x5a);
    auto ct = openssl_cbc(true, s.ealg, s.ckey, iv.data(), body.data(), body.size());
    ct.resize(ct.size() - std::min(ct.size(), size_t(std::max(s.cut, 0))));
    std::vector<uint8_t> out(plain.begin(), plain.begin() + info.l3_len);
    for (int sh = 24; sh >= 0; sh -= 8) out.push_back(uint8_t(s.spi >> sh));
    for (int sh = 24; sh >= 0; sh -= 8) out.push_back(uint8_t(s.seq >> sh));
    out.insert(out.end(), iv.begin(), iv.end());
    out.insert(out.end(), ct.begin(), ct.end());
    const auto icv = openssl_icv(s.alg, s.ikey, out.data() + info.l3_len, out.size() - info.l3_len);
    out.insert(out.end(), icv.begin(), icv.end());
    net::IpInfo patched = info;
    net::patch_ip(out.data(), patched, net::kProtoEsp, int32_t(out.size()) - int32_t(info.total_len));
    return out;
}

// What open_cbc() found in a packet our outbound made.
struct Opened {
    std::string error;           // empty when every check passed
    std::vector<uint8_t> plain;  // the packet before ESP
    std::vector<uint8_t> iv;
    uint32_t spi = 0, seq = 0;
};

inline Opened open_cbc(const std::vector<uint8_t>& pkt, esp::Alg alg, const std::vector<uint8_t>& ikey, esp::Ealg ealg,
                       const std::vector<uint8_t>& ckey) {
    Opened o;
    auto info = net::parse_ip(pkt.data(), uint32_t(pkt.size()));
    if (!info || info->proto != net::kProtoEsp || info->total_len != pkt.size()) {
        o.error = "not a well-formed ESP packet";
        return o;
    }
    const uint32_t ivl = esp::iv_len(ealg), block = esp::pad_block(ealg);
    const uint32_t icv_len = esp::icv_len(alg, esp::Transform::cbc_hmac);
    const uint8_t* e = pkt.data() + info->l3_len;
    const uint32_t esp_len = info->total_len - info->l3_len;
    if (esp_len < 8 + ivl + block + icv_len) {
        o.error = "too short";
        return o;
    }
    o.spi = uint32_t(e[0]) << 24 | uint32_t(e[1]) << 16 | uint32_t(e[2]) << 8 | e[3];
    o.seq = uint32_t(e[4]) << 24 | uint32_t(e[5]) << 16 | uint32_t(e[6]) << 8 | e[7];
    o.iv.assign(e + 8, e + 8 + ivl);
    const uint32_t ct_len = esp_len - 8 - ivl - icv_len;
    if (ct_len % block != 0) {
        o.error = "ciphertext not a multiple of the block";
        return o;
    }
    if (esp_len % 4 != 0) {
        o.error = "ESP not 32-bit aligned (RFC 4303 2.4)";
        return o;
    }
    const auto icv = openssl_icv(alg, ikey, e, esp_len - icv_len);
    if (std::memcmp(icv.data(), e + esp_len - icv_len, icv_len) != 0) {
        o.error = "ICV does not verify";
        return o;
    }
    const auto body = openssl_cbc(false, ealg, ckey, e + 8, e + 8 + ivl, ct_len);
    const uint32_t pad = body[ct_len - 2];
    const uint8_t next = body[ct_len - 1];
    if (pad + 2 > ct_len || pad >= block) {
        o.error = "pad length " + std::to_string(pad) + " not the least the block needs";
        return o;
    }
    for (uint32_t k = 0; k < pad; ++k)
        if (body[ct_len - 2 - pad + k] != k + 1) {
            o.error = "padding not 1, 2, 3, ... (RFC 4303 2.4)";
            return o;
        }
    std::vector<uint8_t> head(pkt.begin(), pkt.begin() + info->l3_len);
    net::IpInfo h = *info;
    net::patch_ip(head.data(), h, next, -int32_t(8 + ivl + pad + 2 + icv_len));
    o.plain = head;
    o.plain.insert(o.plain.end(), body.begin(), body.end() - 2 - pad);
    return o;
}

}  // namespace pcscf::test
