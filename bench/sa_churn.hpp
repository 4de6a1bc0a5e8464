#pragma once
// SA churn for benchmarks: SA add / delete records at a fixed rate on the SAs of an
// EngineWorkload that its packets do not use.
#include <cstdint>
#include <vector>

#include "bench/engine_workload.hpp"

namespace pcscf::bench {

// Where records go: the command ring to a worker, or an engine applying them directly.
class RecordSink {
public:
    virtual ~RecordSink() = default;
    virtual bool try_send(const esp::SaRecord& r) noexcept = 0;  // false: no room now
    virtual void send(const esp::SaRecord& r) = 0;               // waits for room
    virtual void flush() noexcept {}  // what was sent takes effect (a sink may group records)
};

// SA churn at a fixed rate: each step adds one SA and deletes another, alternating
// inbound and outbound, on SAs the traffic does not use. A candidate SA is taken away
// from its initial state (deleted if the workload installed it, added otherwise) and
// put back `lag` steps later, so the tables keep their size and every record succeeds.
// Records go to a RecordSink (the command ring in the pipeline, the engine itself in the
// SA scale benchmark) as they fall due (as SaManager sends each request at once), or with
// `batch_us` > 0 only every batch_us microseconds, all that fell due meanwhile together.
class Churn {
public:
    Churn(EngineWorkload& w, uint32_t installed_sas, double sas_per_second, double batch_us, uint32_t lag = 256);
    void prime(RecordSink& to);  // the first `lag` changes, untimed
    void start(uint64_t now_tsc) noexcept;
    void tick(RecordSink& to, uint64_t now_tsc) noexcept;  // sends what is due
    void unwind(RecordSink& to);                           // back to the initial state, untimed
    uint64_t records() const noexcept { return timed_; }   // sent since start()

private:
    struct Candidate {
        uint32_t sa;
        esp::Direction dir;
        bool installed;  // initially
    };
    esp::SaRecord record(uint64_t pos, bool away) const noexcept;

    const EngineWorkload& w_;
    std::vector<Candidate> c_;
    uint32_t lag_;
    uint64_t lo_ = 0, hi_ = 0;  // candidates [lo_, hi_) are away from their initial state
    uint64_t period_tsc_, batch_tsc_, next_tsc_ = 0, next_batch_ = 0, timed_ = 0;
};

}  // namespace pcscf::bench
