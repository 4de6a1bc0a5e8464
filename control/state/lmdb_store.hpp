#pragma once
// The embedded state store: LMDB (Debian's liblmdb) in a directory of its own. A write is
// one LMDB transaction, durable when it returns (fsync), so what was written survives a
// kill -9 of the daemon and a crash of the host; the files are created 0600, since they
// hold SA keys.
#include <lmdb.h>

#include <memory>
#include <string>

#include "control/state/state_store.hpp"

namespace pcscf::ctl::state {

class LmdbBackend final : public StateBackend {
public:
    // Creates `dir` (0700) if needed. `map_bytes`: the largest the store may grow to.
    static Expected<std::unique_ptr<LmdbBackend>> open(const std::string& dir, size_t map_bytes = size_t{4} << 30);
    ~LmdbBackend() override;

    Expected<void> write(const Batch& b) override;
    Expected<Records> load() override;
    Expected<void> scan(const Visit& each) override;  // straight from the map, in key order
    std::optional<size_t> count() override;
    Expected<void> clear() override;
    std::string describe() const override { return "lmdb " + dir_; }

private:
    LmdbBackend(MDB_env* env, MDB_dbi dbi, std::string dir) : env_(env), dbi_(dbi), dir_(std::move(dir)) {}
    MDB_env* env_;
    MDB_dbi dbi_;
    std::string dir_;
};

}  // namespace pcscf::ctl::state
