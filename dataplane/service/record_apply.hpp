#pragma once
// What a worker does with the SA records it found in its command ring: apply them to its
// engine in order and write one acknowledgement per record (the result and, for an add,
// where the SA sits), for the control thread's SaManager. One function, so that the
// worker and the tests that stand in for a worker's loop do exactly the same.
#include <span>

#include "dataplane/esp/engine.hpp"
#include "dataplane/service/rings.hpp"

namespace pcscf::dp {

// At most this many records at once: one group of the engine's, whose table lines it
// requests together.
inline constexpr uint32_t kMaxRecords = esp::Engine::kApplyGroup;

// `recs` holds at most kMaxRecords, `acks` room for as many. Threading: the engine's
// worker only.
void apply_and_acknowledge(esp::Engine& engine, const RecordRuns& recs, uint32_t worker,
                           std::span<esp::SaEvent> acks) noexcept;

}  // namespace pcscf::dp
