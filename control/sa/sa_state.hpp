#pragma once
// SaManager's records in the state store: each SA as it was added (with its expanded key
// and CK_ESP, so it can be installed again as it was) under "sa/<id>", its sequence number mark under
// "seq/<id>", and the store's generation (one more at each start) under "meta/generation".
// docs/architecture.md ("What survives a restart") gives the argument for where a restored
// SA's sequence numbers resume.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "control/error.hpp"
#include "control/sa/sa_info.hpp"
#include "sa_contract/sa_config.hpp"

namespace pcscf::ctl {

struct StoredSa {
    SaInfo info;  // state and counters are not stored: a restored SA is active; CK_ESP in info.cipher
    esp::HmacKey key;
};

// The last sequence number the state store heard of for an SA: a checkpoint (a multiple
// of `interval` the worker reported passing), or the exact number at a clean stop.
struct SeqMark {
    uint32_t seq = 0;
    uint32_t interval = 0;
    bool exact = false;
    uint32_t generation = 0;  // of the start that wrote it
};

inline constexpr std::string_view kGenerationKey = "meta/generation";

// An SA's (alg, ealg) and the length of its cipher key, as SaManager and the store's
// records must have them: a pair esp::transform() allows, cipher_key_len(alg, ealg) bytes.
Expected<void> check_cipher(esp::Alg alg, esp::Ealg ealg, size_t cipher_len);

std::string sa_record_key(SaId id);
std::string seq_record_key(SaId id);
// The id in "sa/<id>" or "seq/<id>", if the key is one.
std::optional<SaId> id_of(std::string_view key, std::string_view prefix);

std::string encode(const SaInfo& sa, const esp::HmacKey& key);
Expected<StoredSa> decode_sa(std::string_view value);
std::string encode(const SeqMark& m);
Expected<SeqMark> decode_seq(std::string_view value);
std::string encode_generation(uint32_t generation);
Expected<uint32_t> decode_generation(std::string_view value);

// Where a restored SA's numbers resume (SaConfig::seq_start) in start `generation_now`:
// each start since the mark (or since the SA was added, without one) may have used numbers
// up to two intervals past where it resumed (one checkpoint may have been on its way to the
// store when the process died, and every number is below the last checkpoint reported plus
// one interval), so 2K per start; an exact mark (a clean stop) is exact for the first start
// after it.
uint32_t resume_at(const SaInfo& sa, const std::optional<SeqMark>& mark, uint32_t interval_now,
                   uint32_t generation_now);

}  // namespace pcscf::ctl
