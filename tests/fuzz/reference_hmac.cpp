#include "tests/fuzz/reference_hmac.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdlib>

namespace pcscf::fuzz {

std::vector<uint8_t> reference_icv(esp::Alg alg, std::span<const uint8_t> key, std::span<const uint8_t> data) {
    const EVP_MD* md = alg == esp::Alg::hmac_md5_96       ? EVP_md5()
                       : alg == esp::Alg::hmac_sha256_128 ? EVP_sha256()
                                                          : EVP_sha1();
    const uint32_t icv_len = esp::icv_len(alg, esp::Transform::hmac);
    uint8_t full[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (HMAC(md, key.data(), int(key.size()), data.data(), data.size(), full, &len) == nullptr || len < icv_len)
        std::abort();
    return {full, full + icv_len};
}

}  // namespace pcscf::fuzz
