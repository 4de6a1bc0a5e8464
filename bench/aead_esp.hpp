#pragma once
// AES-GCM-128 (RFC 4106) and AES-GMAC-128 (RFC 4543) ESP in transport mode, straight
// through IPsec-MB and nothing else: what the benchmark workloads seal their inbound
// packets with (independently of the engine, which must then accept them), and the
// reference the engine's AEAD rows are measured against (the same jobs on the same
// packets). Both: 8-byte explicit IV after the ESP header, nonce = 4-byte salt || IV,
// 16-byte ICV. GCM: AAD = SPI || sequence number, encrypts payload .. trailer. GMAC: AAD
// = ESP header .. trailer (IV included), nothing encrypted. Two ways through IPsec-MB:
// its job API (aead_jobs), and its direct GCM calls as the engine makes them
// (aead_calls), the faster for one packet.
// Header-only, so that tests/bench (built before bench/) checks it against OpenSSL.
#include <intel-ipsec-mb.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <vector>

#include "dataplane/esp/crypto_batch.hpp"
#include "sa_contract/sa_config.hpp"

namespace pcscf::bench {

// One SA's AEAD key: the AES-128 schedule and GHASH key (IMB_AES128_GCM_PRE), the salt.
// intel-ipsec-mb.h aligns gcm_key_data to 64 bytes only where LINUX is defined, and its
// AVX-512 code needs that alignment (a vector of unaligned ones crashes): aligned here.
struct alignas(64) AeadKey {
    gcm_key_data key;
    std::array<uint8_t, 4> salt{};
};
static_assert(alignof(AeadKey) == 64);

// `key_salt`: what SaRecord::cipher carries for aes-gcm and aes-gmac, the 16-byte AES key
// then the 4-byte salt (esp::kAeadKeyLen).
inline void expand_aead_key(IMB_MGR* mgr, std::span<const uint8_t> key_salt, AeadKey& out) {
    if (key_salt.size() != esp::kAeadKeyLen) throw std::invalid_argument("an AEAD key is 16 bytes of key, 4 of salt");
    IMB_AES128_GCM_PRE(mgr, key_salt.data(), &out.key);
    std::memcpy(out.salt.data(), key_salt.data() + 16, 4);
}

// One ESP packet for aead_jobs() and aead_calls(): `esp` points at the SPI, `len` bytes run from there to
// the end of the trailer (the IV at esp + 8), the tag goes to `icv` (16 bytes).
struct AeadPacket {
    uint8_t* esp = nullptr;
    uint32_t len = 0;
    uint8_t* icv = nullptr;
    const AeadKey* key = nullptr;
};

// Nonces are made for this many packets at a time, and live until their jobs complete.
inline constexpr size_t kNonceChunk = 64;

// The nonces of up to kNonceChunk packets, salt || IV, each made by two stores. Made for all the
// packets before IPsec-MB reads the first: a nonce read right after its two stores waits
// for them to reach the cache (one wide load cannot be forwarded from two narrow stores),
// 10-20 ns a packet for AES-GCM, which the engine, making its nonces a pass ahead, does
// not pay. A reference that paid it would not be the fastest way IPsec-MB has.
inline void fill_nonces(std::span<const AeadPacket> ps, uint8_t (*nonce)[16]) {
    for (size_t k = 0; k < ps.size(); ++k) {
        std::memcpy(nonce[k], ps[k].key->salt.data(), 4);
        std::memcpy(nonce[k] + 4, ps[k].esp + esp::kEspHeaderLen, esp::kAeadIvLen);
    }
}

// One IPsec-MB job per packet, as an ESP stack on IPsec-MB's job API submits them:
// GCM (IMB_CIPHER_GCM + IMB_AUTH_AES_GMAC) encrypts (`encrypt`) or decrypts in place what
// follows the IV, the tag over SPI || seq and the ciphertext; GMAC
// (IMB_AUTH_AES_GMAC_128) tags all `len` bytes, either way. Every job is completed before
// it returns; returns how many ended in another status than IMB_STATUS_COMPLETED.
inline uint32_t aead_jobs(IMB_MGR* mgr, esp::Transform tf, bool encrypt, std::span<const AeadPacket> ps) {
    constexpr uint32_t hdr = esp::kEspHeaderLen + esp::kAeadIvLen;
    alignas(16) uint8_t nonce[kNonceChunk][16];
    const bool gcm = tf == esp::Transform::gcm;
    uint32_t failed = 0;
    auto done = [&](const IMB_JOB* j) { failed += j->status != IMB_STATUS_COMPLETED; };
    for (size_t at = 0; at < ps.size(); at += kNonceChunk) {
        const size_t n = std::min(kNonceChunk, ps.size() - at);
        fill_nonces(ps.subspan(at, n), nonce);
        for (size_t k = 0; k < n; ++k) {
            const AeadPacket& p = ps[at + k];
            IMB_JOB* j = IMB_GET_NEXT_JOB(mgr);
            j->auth_tag_output = p.icv;
            j->auth_tag_output_len_in_bytes = esp::kAeadIcvLen;
            j->src = p.esp;
            if (gcm) {
                j->cipher_mode = IMB_CIPHER_GCM;
                j->hash_alg = IMB_AUTH_AES_GMAC;
                j->chain_order = encrypt ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
                j->cipher_direction = encrypt ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
                j->enc_keys = &p.key->key;
                j->dec_keys = &p.key->key;
                j->key_len_in_bytes = IMB_KEY_128_BYTES;
                j->iv = nonce[k];
                j->iv_len_in_bytes = 12;
                j->dst = p.esp + hdr;
                j->cipher_start_src_offset_in_bytes = hdr;
                j->msg_len_to_cipher_in_bytes = p.len - hdr;
                j->hash_start_src_offset_in_bytes = hdr;
                j->msg_len_to_hash_in_bytes = p.len - hdr;
                j->u.GCM.aad = p.esp;  // SPI || sequence number
                j->u.GCM.aad_len_in_bytes = esp::kEspHeaderLen;
            } else {
                j->cipher_mode = IMB_CIPHER_NULL;
                j->hash_alg = IMB_AUTH_AES_GMAC_128;
                j->chain_order = IMB_ORDER_HASH_CIPHER;
                j->cipher_direction = IMB_DIR_DECRYPT;
                j->dst = p.esp;
                j->cipher_start_src_offset_in_bytes = 0;
                j->msg_len_to_cipher_in_bytes = 0;
                j->hash_start_src_offset_in_bytes = 0;
                j->msg_len_to_hash_in_bytes = p.len;
                j->u.GMAC._key = &p.key->key;
                j->u.GMAC._iv = nonce[k];
                j->u.GMAC.iv_len_in_bytes = 12;
            }
            for (const IMB_JOB* d = IMB_SUBMIT_JOB(mgr); d != nullptr; d = IMB_GET_COMPLETED_JOB(mgr)) done(d);
        }
        for (const IMB_JOB* d; (d = IMB_FLUSH_JOB(mgr)) != nullptr;) done(d);
    }
    return failed;
}

// The same work through IPsec-MB's direct GCM calls, one per packet, as the engine makes
// them (esp::aead_direct): the fastest way IPsec-MB has for one packet, so the reference
// the engine's AEAD rows are held to. Returns how many calls IPsec-MB refused.
inline uint32_t aead_calls(IMB_MGR* mgr, esp::Transform tf, bool encrypt, std::span<const AeadPacket> ps) {
    constexpr uint32_t hdr = esp::kEspHeaderLen + esp::kAeadIvLen;
    const bool gcm = tf == esp::Transform::gcm;
    alignas(16) uint8_t nonce[kNonceChunk][16];
    uint32_t failed = 0;
    for (size_t at = 0; at < ps.size(); at += kNonceChunk) {
        const size_t n = std::min(kNonceChunk, ps.size() - at);
        fill_nonces(ps.subspan(at, n), nonce);
        for (size_t k = 0; k < n; ++k) {
            const AeadPacket& p = ps[at + k];
            const uint32_t len = gcm ? p.len - hdr : p.len;
            failed += !esp::aead_direct(mgr, {tf, !encrypt, &p.key->key, nonce[k], p.esp, hdr, len, p.icv});
        }
    }
    return failed;
}

// An ESP packet in transport mode (RFC 4303) around a plain IPv4 or IPv6 packet (no
// extension headers): the IP header with protocol 50 and the new length (and IPv4
// checksum), SPI, `seq`, `iv_len` zero bytes of IV, the plain packet's payload, padding
// 1, 2, 3, ... to a multiple of `pad_block` (from the payload on), pad length, next
// header (the plain packet's protocol), `icv_len` zero bytes of ICV.
inline std::vector<uint8_t> esp_transport(std::span<const uint8_t> plain, uint32_t spi, uint32_t seq, uint32_t iv_len,
                                          uint32_t icv_len, uint32_t pad_block = 4) {
    if (plain.empty() || (plain[0] >> 4 != 4 && plain[0] >> 4 != 6)) throw std::invalid_argument("not an IP packet");
    const bool v4 = plain[0] >> 4 == 4;
    const size_t l3 = v4 ? (plain[0] & 0x0f) * 4u : 40u;
    if (plain.size() < l3) throw std::invalid_argument("truncated IP header");
    const size_t body = plain.size() - l3;
    const size_t pad = (pad_block - (body + esp::kEspTrailerLen) % pad_block) % pad_block;
    std::vector<uint8_t> p(plain.begin(), plain.begin() + ptrdiff_t(l3));
    const uint8_t next = v4 ? p[9] : p[6];
    auto be32 = [&](uint32_t v) {
        for (int s = 24; s >= 0; s -= 8) p.push_back(uint8_t(v >> s));
    };
    be32(spi);
    be32(seq);
    p.insert(p.end(), iv_len, 0);
    p.insert(p.end(), plain.begin() + ptrdiff_t(l3), plain.end());
    for (size_t i = 1; i <= pad; ++i) p.push_back(uint8_t(i));
    p.push_back(uint8_t(pad));
    p.push_back(next);
    p.insert(p.end(), icv_len, 0);
    if (v4) {
        p[2] = uint8_t(p.size() >> 8), p[3] = uint8_t(p.size());
        p[9] = 50;
        p[10] = p[11] = 0;
        uint32_t sum = 0;
        for (size_t i = 0; i < l3; i += 2) sum += uint32_t(p[i] << 8 | p[i + 1]);
        while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
        p[10] = uint8_t(~sum >> 8), p[11] = uint8_t(~sum);
    } else {
        const size_t len = p.size() - 40;
        p[4] = uint8_t(len >> 8), p[5] = uint8_t(len);
        p[6] = 50;
    }
    if (p.size() > 0xffff) throw std::invalid_argument("too long for IP");
    return p;
}

}  // namespace pcscf::bench
