#pragma once
// Explicit IVs for the CBC ciphers. RFC 3602 2.3 (AES-CBC) and RFC 2451 2.3 (3DES-CBC)
// want each IV unpredictable and never reused under one key; a guessable IV is what
// lets an attacker choose plaintexts against CBC. Without a syscall, a lock or a shared
// generator per packet: each engine draws a random AES-128 key once (getrandom) and
// encrypts a counter with it, IV = AES-ECB_K(counter || worker || SPI), truncated to
// the cipher's block (8 bytes for 3DES). No one without K can predict it, and as AES is
// a permutation and the counter never repeats, no two blocks are ever the same: the
// construction NIST SP 800-38A Appendix C recommends. A burst's IVs cost one ECB job.
//
// Threading: one source per engine, used by its worker only.
#include <cstdint>
#include <expected>
#include <string>

struct IMB_MGR;

namespace pcscf::esp {

class IvSource {
public:
    static constexpr uint32_t kMax = 64;  // IVs per fill()

    static std::expected<IvSource, std::string> create(IMB_MGR* mgr, uint32_t worker, int socket);
    IvSource(IvSource&& o) noexcept;
    IvSource& operator=(IvSource&&) = delete;
    ~IvSource();

    // Writes n <= kMax blocks of 16 bytes to `out` (16-byte aligned), the k-th for the SA
    // `spi[k]`. Returns false if IPsec-MB failed (nothing usable is then in `out`).
    bool fill(IMB_MGR* mgr, uint8_t (*out)[16], const uint32_t* spi, uint32_t n) noexcept;
    uint64_t used() const noexcept { return counter_; }

private:
    IvSource(uint8_t* sched, uint32_t worker) noexcept : sched_(sched), worker_(worker) {}

    uint8_t* sched_;  // the AES-128 encryption round keys of K (rte_zmalloc'd)
    uint32_t worker_;
    uint64_t counter_ = 0;
};

}  // namespace pcscf::esp
