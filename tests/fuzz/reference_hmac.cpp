#include "tests/fuzz/reference_hmac.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdlib>

namespace pcscf::fuzz {

std::array<uint8_t, esp::kIcvLen> reference_icv(esp::Alg alg, std::span<const uint8_t> key,
                                                std::span<const uint8_t> data) {
    const EVP_MD* md = alg == esp::Alg::hmac_md5_96 ? EVP_md5() : EVP_sha1();
    uint8_t full[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (HMAC(md, key.data(), int(key.size()), data.data(), data.size(), full, &len) == nullptr || len < esp::kIcvLen)
        std::abort();
    std::array<uint8_t, esp::kIcvLen> icv;
    std::copy_n(full, icv.size(), icv.begin());
    return icv;
}

}  // namespace pcscf::fuzz
