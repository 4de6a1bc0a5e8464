#include "control/state/state_writer.hpp"

#include <pthread.h>

namespace pcscf::ctl::state {

namespace {
constexpr auto kGather = std::chrono::milliseconds(5);  // changes of a few ms go as one batch
constexpr auto kRetry = std::chrono::milliseconds(200);
constexpr auto kCheckEvery = std::chrono::seconds(1);  // while idle: still ours? still there?
}  // namespace

StateWriter::StateWriter(std::unique_ptr<StateBackend> backend, Log log)
    : backend_(std::move(backend)),
      log_(std::move(log)),
      keep_all_(backend_->can_lose_contents()),
      thread_([this] { run(); }) {}

StateWriter::~StateWriter() {
    flush(std::chrono::seconds(10));
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

void StateWriter::seed(Records records) {
    if (!keep_all_) return;
    std::lock_guard lock(mu_);
    all_.reserve(all_.size() + records.size());
    for (auto& [k, v] : records) all_.insert_or_assign(std::move(k), std::move(v));
}

void StateWriter::put(std::string key, std::string value) {
    {
        std::lock_guard lock(mu_);
        if (keep_all_) all_.insert_or_assign(key, value);
        pending_.insert_or_assign(std::move(key), std::move(value));
    }
    wake_.notify_one();
}

void StateWriter::del(std::string key) {
    {
        std::lock_guard lock(mu_);
        if (keep_all_) all_.erase(key);
        pending_.insert_or_assign(std::move(key), std::nullopt);
    }
    wake_.notify_one();
}

bool StateWriter::flush(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    wake_.notify_one();
    return written_.wait_for(lock, timeout, [&] { return stats_.fenced || (pending_.empty() && in_flight_ == 0); }) &&
           !stats_.fenced;
}

WriterStats StateWriter::stats() const {
    std::lock_guard lock(mu_);
    WriterStats s = stats_;
    s.pending = pending_.size() + in_flight_;
    return s;
}

void StateWriter::run() {
    ::pthread_setname_np(::pthread_self(), "state-writer");  // in top -H, ps -L
    std::unique_lock lock(mu_);
    while (true) {
        const bool woken = wake_.wait_for(
            lock, kCheckEvery, [&] { return stop_ || stats_.emptied || (!pending_.empty() && !stats_.fenced); });
        if (stats_.fenced) return;  // stopping; what is pending is another node's to write now
        if (!woken) {
            if (!check_idle(lock)) return;
            continue;
        }
        if (stats_.emptied) {
            if (stop_) return;
            rewrite_all(lock);
            continue;
        }
        if (pending_.empty()) return;  // stopping, and nothing left
        lock.unlock();
        std::this_thread::sleep_for(kGather);
        lock.lock();
        auto taken = std::exchange(pending_, {});
        in_flight_ = taken.size();
        lock.unlock();

        Batch b;
        for (auto& [k, v] : taken) {
            if (v) b.puts.emplace_back(k, std::move(*v));
            else b.dels.push_back(k);
        }
        const auto r = backend_->write(b);

        lock.lock();
        in_flight_ = 0;
        if (r) {
            ++stats_.batches;
            stats_.records += taken.size();
            if (!stats_.healthy) log_(true, "state store " + backend_->describe() + " written again");
            stats_.healthy = true;
            written_.notify_all();
            continue;
        }
        // Kept for the next attempt, unless a newer change to the key came meanwhile.
        for (auto& [k, v] : b.puts) pending_.try_emplace(k, std::move(v));
        for (auto& k : b.dels) pending_.try_emplace(k, std::nullopt);
        failed(r.error());
        if (stop_ && !stats_.emptied) return;  // a clean stop does not wait for a store that is down
        if (!stats_.fenced && !stats_.emptied) {
            lock.unlock();
            std::this_thread::sleep_for(kRetry);
            lock.lock();
        }
    }
}

void StateWriter::failed(const Error& e) {
    ++stats_.failures;
    if (e.code == Errc::fenced) {  // a newer primary writes now: retrying would be wrong
        stats_.fenced = true;
        stats_.healthy = false;
        log_(false, "state store " + backend_->describe() + ": " + e.message);
        written_.notify_all();
        return;
    }
    if (e.code == Errc::not_found && keep_all_) {  // emptied: everything goes in again
        if (!stats_.emptied)
            log_(false, "state store " + backend_->describe() + ": " + e.message +
                            "; claiming it again and writing every record");
        stats_.emptied = true;
        stats_.healthy = false;
        return;
    }
    if (stats_.healthy) log_(false, "state store " + backend_->describe() + " failed: " + e.message);
    stats_.healthy = false;
}

bool StateWriter::check_idle(std::unique_lock<std::mutex>& lock) {
    if (stop_) return false;
    lock.unlock();
    const auto r = backend_->check();
    lock.lock();
    if (r) {
        if (!stats_.healthy && pending_.empty() && in_flight_ == 0) {
            log_(true, "state store " + backend_->describe() + " reachable again");
            stats_.healthy = true;
        }
        return true;
    }
    failed(r.error());
    return !stats_.fenced;
}

// Claims the emptied store and writes every record into it, the pending changes included
// (all_ has them already).
void StateWriter::rewrite_all(std::unique_lock<std::mutex>& lock) {
    lock.unlock();
    auto claimed = backend_->reclaim();
    lock.lock();
    if (!claimed) {
        failed(claimed.error());
        lock.unlock();
        std::this_thread::sleep_for(kRetry);
        lock.lock();
        return;
    }
    Batch b;
    b.puts.assign(all_.begin(), all_.end());
    auto taken = std::exchange(pending_, {});
    in_flight_ = taken.size();
    lock.unlock();
    const auto r = backend_->write(b);
    lock.lock();
    in_flight_ = 0;
    if (!r) {
        for (auto& [k, v] : taken) pending_.try_emplace(k, std::move(v));
        failed(r.error());
        return;
    }
    ++stats_.batches;
    ++stats_.rewrites;
    stats_.records += b.puts.size();
    stats_.emptied = false;
    stats_.healthy = true;
    log_(true, "state store " + backend_->describe() + " claimed again: " + std::to_string(b.puts.size()) +
                   " records written into it");
    written_.notify_all();
}

}  // namespace pcscf::ctl::state
