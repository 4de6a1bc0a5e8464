#include "control/standby/follower.hpp"

namespace pcscf::ctl::standby {

namespace {
constexpr size_t kEntriesPerRound = 64;  // a round stays short; the next takes the rest
constexpr auto kRetry = std::chrono::milliseconds(200);

int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}
}  // namespace

Expected<std::unique_ptr<Follower>> Follower::open(const state::RedisUrl& url, esp::SaChannel& rings,
                                                   const esp::SpiLayout& layout, Warn warn) {
    auto feed = state::RedisFeed::open(url);
    if (!feed) return std::unexpected(feed.error());
    return std::unique_ptr<Follower>(new Follower(std::move(*feed), rings, layout, std::move(warn)));
}

Expected<size_t> Follower::start(const SaManager::Install& preload) {
    auto snap = feed_.snapshot();
    if (!snap) return std::unexpected(in_context(snap.error(), "reading the store to follow"));
    warm_.load(snap->records, preload);
    std::lock_guard lock(mu_);
    status_.position = snap->position;
    status_.serial = snap->serial;
    status_.snapshots = 1;
    warm_stats_ = warm_.stats();
    return warm_stats_.sas;
}

Expected<void> Follower::snapshot() {
    auto snap = feed_.snapshot();
    if (!snap) return std::unexpected(snap.error());
    warm_.resync(snap->records);
    std::lock_guard lock(mu_);
    status_.position = snap->position;
    status_.serial = snap->serial;
    ++status_.snapshots;
    return {};
}

Expected<bool> Follower::step(size_t max_entries) {
    std::string position;
    uint64_t serial;
    {
        std::lock_guard lock(mu_);
        position = status_.position;
        serial = status_.serial;
    }
    auto got = feed_.next(position, serial, std::chrono::milliseconds(0), max_entries);
    if (!got) return std::unexpected(got.error());
    if (got->gap) {
        warn_("the store's change feed moved on past this standby (trimmed or cleared): reading it whole again");
        if (auto s = snapshot(); !s) return std::unexpected(s.error());
        return true;
    }
    for (const auto& e : got->entries)
        for (const auto& c : e.changes) warm_.apply(c.key, c.value);
    if (got->entries.empty()) return false;
    std::lock_guard lock(mu_);
    status_.position = position;
    status_.serial = serial;
    status_.entries += got->entries.size();
    status_.lag_ms = wall_ms() - int64_t(got->entries.back().millis);
    return true;
}

void Follower::follow(std::chrono::steady_clock::time_point now) {
    warm_.pump();
    if (now >= retry_at_) {
        const auto r = step(kEntriesPerRound);
        std::lock_guard lock(mu_);
        if (!r) {
            ++status_.feed_errors;
            if (status_.healthy) warn_("following the store failed: " + r.error().message);
            status_.healthy = false;
            retry_at_ = now + kRetry;
        } else if (!status_.healthy) {
            status_.healthy = true;
            warn_("following the store again");
        }
    }
    std::lock_guard lock(mu_);
    warm_stats_ = warm_.stats();
}

Expected<void> Follower::catch_up(std::chrono::milliseconds timeout) {
    while (true) {
        auto more = step(1024);
        if (!more) return std::unexpected(in_context(more.error(), "catching up with the store"));
        if (!*more) break;
    }
    if (!warm_.settle(timeout)) return fail(Errc::busy, "the workers did not acknowledge every SA in time");
    std::lock_guard lock(mu_);
    warm_stats_ = warm_.stats();
    return {};
}

FollowStatus Follower::status() const {
    std::lock_guard lock(mu_);
    FollowStatus s = status_;
    s.warm = warm_stats_;
    return s;
}

}  // namespace pcscf::ctl::standby
