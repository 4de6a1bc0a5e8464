#include "sa_contract/hmac_key.hpp"

#include <intel-ipsec-mb.h>

#include <algorithm>

namespace pcscf::esp {

EspKey ik_esp(Alg alg, std::span<const uint8_t, 16> ik) noexcept {
    EspKey k;
    std::copy(ik.begin(), ik.end(), k.bytes.begin());  // the rest stays zero
    k.len = key_len(alg);
    return k;
}

std::expected<HmacKey, std::string> expand_key(IMB_MGR* mgr, Alg alg, std::span<const uint8_t> key) {
    if (key.size() != key_len(alg))
        return std::unexpected(std::string(name(alg)) + " needs a " + std::to_string(key_len(alg)) + "-byte key, got " +
                               std::to_string(key.size()));
    return hmac_states(mgr, alg, key);
}

std::expected<HmacKey, std::string> hmac_states(IMB_MGR* mgr, Alg alg, std::span<const uint8_t> key) {
    // The block is 64 bytes for MD5, SHA-1 and SHA-256; shorter keys are zero-padded.
    if (key.size() > 64)
        return std::unexpected("HMAC keys longer than 64 bytes are not supported, got " + std::to_string(key.size()));
    std::array<uint8_t, 64> ipad_block{}, opad_block{};
    for (size_t i = 0; i < 64; ++i) {
        const uint8_t k = i < key.size() ? key[i] : 0;
        ipad_block[i] = k ^ 0x36;
        opad_block[i] = k ^ 0x5c;
    }
    HmacKey out;
    if (alg == Alg::hmac_md5_96) {
        IMB_MD5_ONE_BLOCK(mgr, ipad_block.data(), out.ipad.data());
        IMB_MD5_ONE_BLOCK(mgr, opad_block.data(), out.opad.data());
    } else if (alg == Alg::hmac_sha256_128) {
        IMB_SHA256_ONE_BLOCK(mgr, ipad_block.data(), out.ipad.data());
        IMB_SHA256_ONE_BLOCK(mgr, opad_block.data(), out.opad.data());
    } else {
        IMB_SHA1_ONE_BLOCK(mgr, ipad_block.data(), out.ipad.data());
        IMB_SHA1_ONE_BLOCK(mgr, opad_block.data(), out.opad.data());
    }
    return out;
}

}  // namespace pcscf::esp
