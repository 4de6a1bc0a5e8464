#include "dataplane/service/record_apply.hpp"

#include <cassert>

namespace pcscf::dp {

void apply_and_acknowledge(esp::Engine& engine, const RecordRuns& recs, uint32_t worker,
                           std::span<esp::SaEvent> acks) noexcept {
    assert(recs.size() <= kMaxRecords && acks.size() >= recs.size());
    int result[kMaxRecords];
    int32_t handle[kMaxRecords];
    const uint32_t n1 = uint32_t(recs.first.size());
    engine.apply(recs.first, result, handle);
    engine.apply(recs.second, result + n1, handle + n1);
    for (uint32_t i = 0; i < recs.size(); ++i) {
        const esp::SaRecord& r = recs[i];
        esp::SaEvent& e = acks[i];
        e = esp::SaEvent{};
        e.kind = esp::EventKind::applied;
        e.result = result[i];
        e.handle = handle[i];
        e.dir = r.sa.dir;
        e.op = r.op;
        e.worker = worker;
        e.spi = r.sa.spi;
        e.request_id = r.request_id;
        e.cookie = r.sa.cookie;
    }
}

}  // namespace pcscf::dp
