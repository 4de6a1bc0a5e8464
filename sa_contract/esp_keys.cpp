#include "sa_contract/esp_keys.hpp"

#include <intel-ipsec-mb.h>

#include <algorithm>
#include <bit>
#include <vector>

namespace pcscf::esp {

namespace {

constexpr size_t kSha256Block = 64;

std::array<uint8_t, 32> sha256(IMB_MGR* mgr, std::span<const uint8_t> data) {
    std::array<uint8_t, 32> out{};
    IMB_SHA256(mgr, data.data(), data.size(), out.data());
    return out;
}

// DES keys after odd parity, as FIPS 46-3 / SP 800-67 list them: 4 weak, 12 semi-weak.
constexpr std::array<uint64_t, 16> kDesWeakKeys{
    0x0101010101010101, 0xfefefefefefefefe, 0xe0e0e0e0f1f1f1f1, 0x1f1f1f1f0e0e0e0e,
    0x01fe01fe01fe01fe, 0xfe01fe01fe01fe01, 0x1fe01fe00ef10ef1, 0xe01fe01ff10ef10e,
    0x01e001e001f101f1, 0xe001e001f101f101, 0x1ffe1ffe0efe0efe, 0xfe1ffe1ffe0efe0e,
    0x011f011f010e010e, 0x1f011f010e010e01, 0xe0fee0fef1fef1fe, 0xfee0fee0fef1fef1,
};

uint8_t odd_parity(uint8_t b) {
    const uint8_t high = b & 0xfe;
    return high | uint8_t((std::popcount(high) & 1) ^ 1);
}

uint64_t load_be64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
    return v;
}

bool des_weak(const uint8_t* k) { return std::ranges::find(kDesWeakKeys, load_be64(k)) != kDesWeakKeys.end(); }

}  // namespace

std::expected<std::array<uint8_t, 32>, std::string> hmac_sha256(IMB_MGR* mgr, std::span<const uint8_t> key,
                                                                std::span<const uint8_t> msg) {
    if (key.size() > kSha256Block)
        return std::unexpected("HMAC-SHA-256 keys longer than 64 bytes are not supported, got " +
                               std::to_string(key.size()));
    // inner = H((K ^ ipad) || msg), out = H((K ^ opad) || inner), K zero-padded to 64.
    std::vector<uint8_t> buf(kSha256Block + std::max<size_t>(msg.size(), 32));
    for (size_t i = 0; i < kSha256Block; ++i) buf[i] = (i < key.size() ? key[i] : 0) ^ 0x36;
    std::ranges::copy(msg, buf.begin() + kSha256Block);
    const auto inner = sha256(mgr, {buf.data(), kSha256Block + msg.size()});
    for (size_t i = 0; i < kSha256Block; ++i) buf[i] = (i < key.size() ? key[i] : 0) ^ 0x5c;
    std::ranges::copy(inner, buf.begin() + kSha256Block);
    const auto out = sha256(mgr, {buf.data(), kSha256Block + inner.size()});
    std::ranges::fill(buf, 0);
    return out;
}

std::expected<std::array<uint8_t, 32>, std::string> kdf_33220(IMB_MGR* mgr, std::span<const uint8_t> key, uint8_t fc,
                                                              std::span<const std::span<const uint8_t>> params) {
    std::vector<uint8_t> s{fc};
    for (size_t i = 0; i < params.size(); ++i) {
        const auto p = params[i];
        if (p.empty() || p.size() > 0xffff)
            return std::unexpected("KDF parameter P" + std::to_string(i) + " has length " + std::to_string(p.size()) +
                                   ", not 1 to 65535");
        s.insert(s.end(), p.begin(), p.end());
        s.push_back(uint8_t(p.size() >> 8));
        s.push_back(uint8_t(p.size()));
    }
    return hmac_sha256(mgr, key, s);
}

std::array<uint8_t, 16> ck_esp_aes_cbc(AkaKey ck) noexcept {
    std::array<uint8_t, 16> k;
    std::ranges::copy(ck, k.begin());
    return k;
}

std::expected<std::array<uint8_t, 24>, std::string> derive_ck_esp_3des(AkaKey ck) {
    std::array<uint8_t, 24> k;
    for (size_t i = 0; i < 16; ++i) k[i] = odd_parity(ck[i]);
    std::copy_n(k.begin(), 8, k.begin() + 16);  // K3 = K1
    if (std::equal(k.begin(), k.begin() + 8, k.begin() + 8))
        return std::unexpected(
            std::string("des-ede3-cbc: CK1 and CK2 are the same DES key (3DES would be single DES)"));
    if (des_weak(k.data()) || des_weak(k.data() + 8))
        return std::unexpected(std::string("des-ede3-cbc: CK1 or CK2 is a DES weak or semi-weak key"));
    return k;
}

std::expected<AeadKey, std::string> derive_aead_key_salt(IMB_MGR* mgr, AkaKey ck, AkaKey ik, uint8_t fc) {
    std::string_view label;
    if (fc == kFcAesGcmSalt) {
        label = "AES_GCM_SALT";
    } else if (fc == kFcAesGmacSalt) {
        label = "AES_GMAC_SALT";
    } else {
        return std::unexpected("FC " + std::to_string(fc) + " is neither 0x59 (AES-GCM salt) nor 0x58 (AES-GMAC salt)");
    }
    std::array<uint8_t, 32> key;  // CK_IM || IK_IM
    std::ranges::copy(ck, key.begin());
    std::ranges::copy(ik, key.begin() + 16);
    const std::array<std::span<const uint8_t>, 1> params{
        std::span{reinterpret_cast<const uint8_t*>(label.data()), label.size()}};
    auto out = kdf_33220(mgr, key, fc, params);
    std::ranges::fill(key, 0);
    if (!out) return std::unexpected(out.error());
    AeadKey r;
    std::ranges::copy(fc == kFcAesGcmSalt ? ck : ik, r.key.begin());
    std::copy(out->end() - 4, out->end(), r.salt.begin());  // the 32 least significant bits
    return r;
}

std::expected<CipherKey, std::string> cipher_key(IMB_MGR* mgr, Alg alg, Ealg ealg, AkaKey ck, AkaKey ik) {
    const auto t = transform(alg, ealg);
    if (!t)
        return std::unexpected("alg=" + std::string(name(alg)) + " with ealg=" + std::string(name(ealg)) +
                               " is no pair of TS 33.203 Annex H");
    CipherKey out;
    auto put = [&out](std::span<const uint8_t> a, std::span<const uint8_t> b = {}) {
        std::ranges::copy(a, out.bytes.begin());
        std::ranges::copy(b, out.bytes.begin() + a.size());
        out.len = uint8_t(a.size() + b.size());
    };
    switch (*t) {
        case Transform::hmac:
        case Transform::hmac_sha256: return out;
        case Transform::cbc_hmac:
            if (ealg == Ealg::aes_cbc) {
                put(ck_esp_aes_cbc(ck));
                return out;
            }
            if (auto k = derive_ck_esp_3des(ck); k) {
                put(*k);
                return out;
            } else {
                return std::unexpected(k.error());
            }
        case Transform::gcm:
        case Transform::gmac: {
            auto k = derive_aead_key_salt(mgr, ck, ik, *t == Transform::gcm ? kFcAesGcmSalt : kFcAesGmacSalt);
            if (!k) return std::unexpected(k.error());
            put(k->key, k->salt);
            return out;
        }
    }
    return std::unexpected(std::string("unknown transform"));
}

}  // namespace pcscf::esp
