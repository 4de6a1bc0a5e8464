#include "bench/single_buffer_hmac.hpp"

#include <openssl/md5.h>
#include <openssl/sha.h>

#include <cstring>

namespace pcscf::bench {

struct SingleBufferHmac::States {
    SHA_CTX sha_inner, sha_outer;
    MD5_CTX md5_inner, md5_outer;
};

SingleBufferHmac::SingleBufferHmac(esp::Alg alg, std::span<const uint8_t> key)
    : alg_(alg), s_(std::make_unique<States>()) {
    uint8_t ipad[64], opad[64];
    for (size_t i = 0; i < 64; ++i) {
        const uint8_t k = i < key.size() ? key[i] : 0;
        ipad[i] = k ^ 0x36;
        opad[i] = k ^ 0x5c;
    }
    SHA1_Init(&s_->sha_inner);
    SHA1_Update(&s_->sha_inner, ipad, 64);
    SHA1_Init(&s_->sha_outer);
    SHA1_Update(&s_->sha_outer, opad, 64);
    MD5_Init(&s_->md5_inner);
    MD5_Update(&s_->md5_inner, ipad, 64);
    MD5_Init(&s_->md5_outer);
    MD5_Update(&s_->md5_outer, opad, 64);
}

SingleBufferHmac::~SingleBufferHmac() = default;

void SingleBufferHmac::icv(const uint8_t* data, uint32_t len, uint8_t* out) const noexcept {
    uint8_t inner[20], tag[20];
    if (alg_ == esp::Alg::hmac_sha1_96) {
        SHA_CTX c = s_->sha_inner;
        SHA1_Update(&c, data, len);
        SHA1_Final(inner, &c);
        c = s_->sha_outer;
        SHA1_Update(&c, inner, 20);
        SHA1_Final(tag, &c);
    } else {
        MD5_CTX c = s_->md5_inner;
        MD5_Update(&c, data, len);
        MD5_Final(inner, &c);
        c = s_->md5_outer;
        MD5_Update(&c, inner, 16);
        MD5_Final(tag, &c);
    }
    std::memcpy(out, tag, esp::kIcvLen);
}

}  // namespace pcscf::bench
