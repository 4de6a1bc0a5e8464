#include "sa_contract/imb_manager.hpp"

#include <intel-ipsec-mb.h>

namespace pcscf::esp {

void ImbManager::Free::operator()(IMB_MGR* m) const noexcept { free_mb_mgr(m); }

std::expected<ImbManager, std::string> ImbManager::create() {
    IMB_MGR* m = alloc_mb_mgr(0);
    if (m == nullptr) return std::unexpected("IPsec-MB: cannot allocate a manager");
    ImbManager out(m);
    IMB_ARCH arch = IMB_ARCH_NONE;
    init_mb_mgr_auto(m, &arch);
    if (const int err = imb_get_errno(m); err != 0 || arch == IMB_ARCH_NONE)
        return std::unexpected(std::string("IPsec-MB: no usable architecture: ") + imb_get_strerror(err));
    return out;
}

std::string ImbManager::arch_name() const {
    switch (mgr_->used_arch) {
        case IMB_ARCH_SSE: return "sse";
        case IMB_ARCH_AVX: return "avx";
        case IMB_ARCH_AVX2: return "avx2";
        case IMB_ARCH_AVX512: return "avx512";
        default: return "none";
    }
}

}  // namespace pcscf::esp
