#pragma once
// SaManager's records in the state store: each SA as it was added (with its expanded key,
// so it can be installed again as it was) under "sa/<id>", and its sequence number mark
// under "seq/<id>". docs/architecture.md ("What survives a restart") gives the argument
// for where a restored SA's sequence numbers resume.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "control/error.hpp"
#include "control/sa/sa_info.hpp"
#include "sa_contract/sa_config.hpp"

namespace pcscf::ctl {

struct StoredSa {
    SaInfo info;  // state and counters are not stored: a restored SA is active
    esp::HmacKey key;
};

// The last sequence number the state store heard of for an SA: a checkpoint (a multiple
// of `interval` the worker reported passing), or the exact number at a clean stop.
struct SeqMark {
    uint32_t seq = 0;
    uint32_t interval = 0;
    bool exact = false;
};

std::string sa_record_key(SaId id);
std::string seq_record_key(SaId id);
// The id in "sa/<id>" or "seq/<id>", if the key is one.
std::optional<SaId> id_of(std::string_view key, std::string_view prefix);

std::string encode(const SaInfo& sa, const esp::HmacKey& key);
Expected<StoredSa> decode_sa(std::string_view value);
std::string encode(const SeqMark& m);
Expected<SeqMark> decode_seq(std::string_view value);

// Where a restored SA's numbers resume (SaConfig::seq_start): exactly after an exact mark;
// two intervals past a checkpoint (one checkpoint may have been on its way to the store
// when the process died, and every number is below the last checkpoint reported plus one
// interval); two intervals of `interval_now` with no mark at all (the first checkpoint
// may be the one that was lost).
uint32_t resume_at(const std::optional<SeqMark>& mark, uint32_t interval_now);

}  // namespace pcscf::ctl
