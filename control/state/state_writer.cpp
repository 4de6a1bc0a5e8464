#include "control/state/state_writer.hpp"

namespace pcscf::ctl::state {

namespace {
constexpr auto kGather = std::chrono::milliseconds(5);  // changes of a few ms go as one batch
constexpr auto kRetry = std::chrono::milliseconds(200);
}  // namespace

StateWriter::StateWriter(std::unique_ptr<StateBackend> backend, Log log)
    : backend_(std::move(backend)), log_(std::move(log)), thread_([this] { run(); }) {}

StateWriter::~StateWriter() {
    flush(std::chrono::seconds(10));
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

void StateWriter::put(std::string key, std::string value) {
    {
        std::lock_guard lock(mu_);
        pending_.insert_or_assign(std::move(key), std::move(value));
    }
    wake_.notify_one();
}

void StateWriter::del(std::string key) {
    {
        std::lock_guard lock(mu_);
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
    std::unique_lock lock(mu_);
    while (true) {
        wake_.wait(lock, [&] { return stop_ || (!pending_.empty() && !stats_.fenced); });
        if (stats_.fenced) return;     // stopping; what is pending is another node's to write now
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
        ++stats_.failures;
        if (r.error().code == Errc::fenced) {  // a newer primary writes now: retrying would be wrong
            stats_.fenced = true;
            stats_.healthy = false;
            log_(false, "state store " + backend_->describe() + ": " + r.error().message);
            written_.notify_all();
            continue;
        }
        if (stats_.healthy) log_(false, "state store " + backend_->describe() + " failed: " + r.error().message);
        stats_.healthy = false;
        if (stop_) return;  // a clean stop does not wait for a store that is down
        lock.unlock();
        std::this_thread::sleep_for(kRetry);
        lock.lock();
    }
}

}  // namespace pcscf::ctl::state
