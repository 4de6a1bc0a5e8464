#include "control/state/lmdb_store.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace pcscf::ctl::state {

namespace {

std::unexpected<Error> lmdb_error(const std::string& doing, int rc) {
    return fail(rc == MDB_MAP_FULL ? Errc::exhausted : Errc::io, doing + ": " + mdb_strerror(rc));
}

MDB_val val(std::string_view s) { return {s.size(), const_cast<char*>(s.data())}; }

}  // namespace

Expected<std::unique_ptr<LmdbBackend>> LmdbBackend::open(const std::string& dir, size_t map_bytes) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        return fail(Errc::io, "cannot create the state directory " + dir + ": " + std::strerror(errno));
    MDB_env* env = nullptr;
    if (int rc = mdb_env_create(&env); rc != 0) return lmdb_error("lmdb", rc);
    auto close = [&](std::unexpected<Error> e) {
        mdb_env_close(env);
        return e;
    };
    if (int rc = mdb_env_set_mapsize(env, map_bytes); rc != 0) return close(lmdb_error("lmdb map size", rc));
    if (int rc = mdb_env_open(env, dir.c_str(), 0, 0600); rc != 0)
        return close(lmdb_error("opening the state store in " + dir, rc));
    MDB_txn* txn = nullptr;
    MDB_dbi dbi = 0;
    if (int rc = mdb_txn_begin(env, nullptr, 0, &txn); rc != 0) return close(lmdb_error("lmdb", rc));
    if (int rc = mdb_dbi_open(txn, nullptr, 0, &dbi); rc != 0) {
        mdb_txn_abort(txn);
        return close(lmdb_error("lmdb", rc));
    }
    if (int rc = mdb_txn_commit(txn); rc != 0) return close(lmdb_error("lmdb", rc));
    return std::unique_ptr<LmdbBackend>(new LmdbBackend(env, dbi, dir));
}

LmdbBackend::~LmdbBackend() { mdb_env_close(env_); }

Expected<void> LmdbBackend::write(const Batch& b) {
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != 0) return lmdb_error("state write", rc);
    for (const auto& [k, v] : b.puts) {
        MDB_val key = val(k), data = val(v);
        if (int rc = mdb_put(txn, dbi_, &key, &data, 0); rc != 0) {
            mdb_txn_abort(txn);
            return lmdb_error("state write of " + k, rc);
        }
    }
    for (const auto& k : b.dels) {
        MDB_val key = val(k);
        if (int rc = mdb_del(txn, dbi_, &key, nullptr); rc != 0 && rc != MDB_NOTFOUND) {
            mdb_txn_abort(txn);
            return lmdb_error("state delete of " + k, rc);
        }
    }
    if (int rc = mdb_txn_commit(txn); rc != 0) return lmdb_error("state commit", rc);
    return {};
}

Expected<Records> LmdbBackend::load() {
    Records out;
    if (auto n = count()) out.reserve(*n);
    auto read = scan([&out](std::string_view k, std::string_view v) { out.emplace_back(k, v); });
    if (!read) return std::unexpected(read.error());
    return out;
}

Expected<void> LmdbBackend::scan(const Visit& each) {
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn); rc != 0) return lmdb_error("state read", rc);
    MDB_cursor* cur = nullptr;
    if (int rc = mdb_cursor_open(txn, dbi_, &cur); rc != 0) {
        mdb_txn_abort(txn);
        return lmdb_error("state read", rc);
    }
    MDB_val key, data;
    for (int rc = mdb_cursor_get(cur, &key, &data, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &key, &data, MDB_NEXT))
        each(std::string_view(static_cast<const char*>(key.mv_data), key.mv_size),
             std::string_view(static_cast<const char*>(data.mv_data), data.mv_size));
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return {};
}

std::optional<size_t> LmdbBackend::count() {
    MDB_txn* txn = nullptr;
    if (mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn) != 0) return std::nullopt;
    MDB_stat st;
    const bool ok = mdb_stat(txn, dbi_, &st) == 0;
    mdb_txn_abort(txn);
    return ok ? std::optional<size_t>(st.ms_entries) : std::nullopt;
}

Expected<void> LmdbBackend::clear() {
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != 0) return lmdb_error("state clear", rc);
    if (int rc = mdb_drop(txn, dbi_, 0); rc != 0) {
        mdb_txn_abort(txn);
        return lmdb_error("state clear", rc);
    }
    if (int rc = mdb_txn_commit(txn); rc != 0) return lmdb_error("state clear", rc);
    return {};
}

}  // namespace pcscf::ctl::state
