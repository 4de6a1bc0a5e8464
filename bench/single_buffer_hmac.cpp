#include "bench/single_buffer_hmac.hpp"

#include <openssl/md5.h>
#include <openssl/sha.h>

#include <cstring>

namespace pcscf::bench {

struct SingleBufferHmac::States {
    SHA_CTX sha_inner, sha_outer;
    MD5_CTX md5_inner, md5_outer;
    SHA256_CTX sha256_inner, sha256_outer;
};

namespace {

// The inner hash over the data from the keyed inner state, then the outer over it.
template <class Ctx>
void finish(const Ctx& inner, const Ctx& outer, int (*update)(Ctx*, const void*, size_t),
            int (*final)(unsigned char*, Ctx*), size_t digest, const uint8_t* data, uint32_t len,
            uint8_t* tag) noexcept {
    uint8_t in[32];
    Ctx c = inner;
    update(&c, data, len);
    final(in, &c);
    c = outer;
    update(&c, in, digest);
    final(tag, &c);
}

}  // namespace

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
    SHA256_Init(&s_->sha256_inner);
    SHA256_Update(&s_->sha256_inner, ipad, 64);
    SHA256_Init(&s_->sha256_outer);
    SHA256_Update(&s_->sha256_outer, opad, 64);
}

SingleBufferHmac::~SingleBufferHmac() = default;

void SingleBufferHmac::icv(const uint8_t* data, uint32_t len, uint8_t* out) const noexcept {
    uint8_t tag[32];
    if (alg_ == esp::Alg::hmac_sha256_128)
        finish(s_->sha256_inner, s_->sha256_outer, SHA256_Update, SHA256_Final, 32, data, len, tag);
    else if (alg_ == esp::Alg::hmac_sha1_96)
        finish(s_->sha_inner, s_->sha_outer, SHA1_Update, SHA1_Final, 20, data, len, tag);
    else finish(s_->md5_inner, s_->md5_outer, MD5_Update, MD5_Final, 16, data, len, tag);
    std::memcpy(out, tag, esp::icv_len(alg_, esp::Transform::hmac));
}

}  // namespace pcscf::bench
