// pcscf-espd in a pair (docs/operations.md, "Running a pair"): a standby follows the
// primary's store in Redis and takes over when keepalived moves the address to it.
#include <chrono>

#include "control/daemon/daemon.hpp"
#include "control/daemon/log.hpp"
#include "control/daemon/service_notify.hpp"
#include "control/state/redis_store.hpp"

namespace pcscf::ctl {

namespace {
void warn_state(const std::string& line) { log_warn(line, LogArea::state); }
}  // namespace

Expected<void> Daemon::start_standby() {
    auto f = standby::Follower::open(*opts_.redis, dp_->rings().control(), dp_->config().engine.spi, warn_state);
    if (!f) return std::unexpected(in_context(f.error(), "following " + opts_.redis->str()));
    follower_ = std::move(*f);
    const auto start = std::chrono::steady_clock::now();
    auto warm = follower_->start([this](uint32_t worker, const esp::SaRecord& rec, int32_t& handle) {
        return dp_->preload(worker, rec, handle);
    });
    if (!warm) return std::unexpected(warm.error());
    dp_->set_serving(false);
    {
        std::lock_guard lock(role_.mu);
        role_.follower = follower_.get();
    }
    role_.role = Role::standby;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    log_info("standby: following " + opts_.redis->str() + ": " + std::to_string(*warm) + " SA(s) installed in " +
             std::to_string(ms.count()) + " ms, passing no ESP until told to take over");
    return {};
}

Expected<void> Daemon::take_over() {
    const auto start = std::chrono::steady_clock::now();
    role_.role = Role::taking_over;
    log_info("taking over: claiming " + opts_.redis->str());
    auto store = state::RedisBackend::open(*opts_.redis);
    if (!store) return std::unexpected(store.error());
    auto epoch = (*store)->claim();
    if (!epoch) return std::unexpected(in_context(epoch.error(), "claiming the store"));
    // From the claim on, the old primary can write nothing more: what the feed holds now is all.
    if (auto c = follower_->catch_up(std::chrono::seconds(5)); !c) return c;
    standby::WarmSas& warm = follower_->warm();
    // SaManager's own acknowledgements (SAs the Registrar lets go after the restore) reach it
    // through the warm SAs' pump from here on.
    warm.forward_others([this](const esp::SaEvent& e) { plane_->sas().handle(e); });
    auto r = plane_->attach_state(
        std::move(*store), warm.take_records(), opts_.seq_checkpoint, false,
        [&warm](uint32_t worker, const esp::SaRecord& rec, int32_t& handle) {
            return warm.take_over(worker, rec, handle);
        },
        warn_state);
    if (!r) return std::unexpected(r.error());
    place_state_thread();
    warm.release_unclaimed();
    if (!warm.settle(std::chrono::seconds(5)))
        return fail(Errc::busy, "the workers did not acknowledge every SA's resumption in time");
    {
        std::lock_guard lock(role_.mu);
        role_.follower = nullptr;
    }
    follower_.reset();
    dp_->set_serving(true);
    role_.epoch = *epoch;
    role_.role = Role::primary;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    role_.takeover_ms = ms.count();
    log_info("took over (epoch " + std::to_string(*epoch) + "): " + std::to_string(r->sas) + " SA(s) and " +
             std::to_string(r->registrations) + " registration(s) serving after " + std::to_string(ms.count()) + " ms" +
             (r->dropped ? " (" + std::to_string(r->dropped) + " SA(s) not kept)" : ""));
    notify_status("primary (epoch " + std::to_string(*epoch) + "): took over in " + std::to_string(ms.count()) + " ms");
    return {};
}

bool Daemon::check_role() {
    if (role_.takeover_requested.exchange(false) && follower_) {
        if (auto t = take_over(); !t) {
            // Half taken over is no state to serve in: stop, and let the service manager
            // start this node again (as a standby) while keepalived moves the address on.
            log_error("taking over failed: " + t.error().message);
            exit_code_ = 1;
            return false;
        }
    }
    if (role_.stand_down_requested.exchange(false) && role_.role.load() == Role::primary) {
        log_error(
            "told to stand down (keepalived: another node has the address): stopping; start this node "
            "again as a standby");
        exit_code_ = kExitStoodDown;
        return false;
    }
    if (const auto s = plane_->state_stats(); s && s->fenced) {
        role_.role = Role::fenced;
        log_error("another node claimed the store (a newer epoch): this node stops serving");
        exit_code_ = kExitStoodDown;
        return false;
    }
    return true;
}

}  // namespace pcscf::ctl
