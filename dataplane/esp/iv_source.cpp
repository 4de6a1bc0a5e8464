#include "dataplane/esp/iv_source.hpp"

#include <intel-ipsec-mb.h>
#include <rte_malloc.h>
#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

namespace pcscf::esp {

namespace {
constexpr size_t kSchedule = 16 * 11;  // AES-128 round keys
}

std::expected<IvSource, std::string> IvSource::create(IMB_MGR* mgr, uint32_t worker, int socket) {
    std::array<uint8_t, 16> key{};
    for (size_t got = 0; got < key.size();) {
        const ssize_t r = getrandom(key.data() + got, key.size() - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return std::unexpected(std::string("getrandom for the IV key: ") + std::strerror(errno));
        got += size_t(r);
    }
    // Room for the decryption schedule IMB_AES_KEYEXP_128 also writes; only the first is used.
    auto* sched = static_cast<uint8_t*>(rte_zmalloc_socket("pcscf_iv_key", 2 * kSchedule, 64, socket));
    if (sched == nullptr) return std::unexpected(std::string("cannot allocate the IV key schedule"));
    IMB_AES_KEYEXP_128(mgr, key.data(), sched, sched + kSchedule);
    std::memset(sched + kSchedule, 0, kSchedule);
    explicit_bzero(key.data(), key.size());
    return IvSource(sched, worker);
}

IvSource::IvSource(IvSource&& o) noexcept
    : sched_(std::exchange(o.sched_, nullptr)), worker_(o.worker_), counter_(o.counter_) {}

IvSource::~IvSource() {
    if (sched_ != nullptr) explicit_bzero(sched_, 2 * kSchedule);
    rte_free(sched_);
}

bool IvSource::fill(IMB_MGR* mgr, uint8_t (*out)[16], const uint32_t* spi, uint32_t n) noexcept {
    if (n == 0) return true;
    for (uint32_t k = 0; k < n; ++k) {
        const uint64_t c = ++counter_;
        std::memcpy(out[k], &c, 8);
        std::memcpy(out[k] + 8, &worker_, 4);
        std::memcpy(out[k] + 12, &spi[k], 4);
    }
    // ECB is not multi-buffer: the job completes at once, behind none (the engine's
    // batches leave the manager empty).
    IMB_JOB* j = IMB_GET_NEXT_JOB(mgr);
    j->cipher_mode = IMB_CIPHER_ECB;
    j->cipher_direction = IMB_DIR_ENCRYPT;
    j->chain_order = IMB_ORDER_CIPHER_HASH;
    j->hash_alg = IMB_AUTH_NULL;
    j->enc_keys = sched_;
    j->dec_keys = sched_;
    j->key_len_in_bytes = IMB_KEY_128_BYTES;
    j->src = out[0];
    j->dst = out[0];
    j->cipher_start_src_offset_in_bytes = 0;
    j->msg_len_to_cipher_in_bytes = uint64_t{n} * 16;
    j->iv = nullptr;
    j->iv_len_in_bytes = 0;
    j->hash_start_src_offset_in_bytes = 0;
    j->msg_len_to_hash_in_bytes = 0;
    j->auth_tag_output = nullptr;
    j->auth_tag_output_len_in_bytes = 0;
    j->user_data = this;
    bool ok = false;
    for (j = IMB_SUBMIT_JOB(mgr); j != nullptr; j = IMB_GET_COMPLETED_JOB(mgr))
        if (j->user_data == this) ok = j->status == IMB_STATUS_COMPLETED;
    for (j = IMB_FLUSH_JOB(mgr); j != nullptr; j = IMB_FLUSH_JOB(mgr))
        if (j->user_data == this) ok = j->status == IMB_STATUS_COMPLETED;
    return ok;
}

}  // namespace pcscf::esp
