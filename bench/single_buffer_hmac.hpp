#pragma once
// The single-buffer baseline: one HMAC per packet with OpenSSL's digests and the keyed
// inner/outer states computed once, which is how the Linux kernel's ESP computes ICVs.
// Its own translation unit: IPsec-MB's compatibility macros (SHA1, MD5) clash with OpenSSL.
#include <cstdint>
#include <memory>
#include <span>

#include "sa_contract/sa_config.hpp"

namespace pcscf::bench {

class SingleBufferHmac {
public:
    SingleBufferHmac(esp::Alg alg, std::span<const uint8_t> key);
    ~SingleBufferHmac();
    // Writes the 96-bit ICV of data[0, len) to out.
    void icv(const uint8_t* data, uint32_t len, uint8_t* out) const noexcept;

private:
    struct States;
    esp::Alg alg_;
    std::unique_ptr<States> s_;
};

}  // namespace pcscf::bench
