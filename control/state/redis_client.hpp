#pragma once
// One synchronous connection to Redis (hiredis), for one thread at a time. It connects on
// the first command, authenticates and selects the database; after an I/O error it drops
// the connection and the next command connects again, so a caller that retries (the
// StateWriter, a standby's follower) rides over a Redis restart without doing anything.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "control/error.hpp"
#include "control/state/redis_url.hpp"

struct redisContext;
struct redisReply;

namespace pcscf::ctl::state {

// A reply, or one element of an array reply; valid while the Reply it belongs to lives.
class ReplyView {
public:
    explicit ReplyView(const redisReply* r) : r_(r) {}
    bool is_nil() const;
    bool is_array() const;
    bool is_integer() const;
    bool is_string() const;  // a bulk string or a status ("OK")
    std::string_view str() const;
    long long integer() const;
    size_t size() const;  // elements of an array, 0 for the rest
    ReplyView operator[](size_t i) const;

private:
    const redisReply* r_;
};

class Reply {
public:
    explicit Reply(redisReply* r);
    const ReplyView& operator*() const { return view_; }
    const ReplyView* operator->() const { return &view_; }

private:
    struct Free {
        void operator()(redisReply* r) const;
    };
    std::unique_ptr<redisReply, Free> owned_;
    ReplyView view_;
};

class RedisClient {
public:
    // `timeout`: for connecting, and for each command to be sent and answered.
    explicit RedisClient(RedisUrl url, std::chrono::milliseconds timeout = std::chrono::seconds(5));
    RedisClient(RedisClient&&) noexcept;
    RedisClient& operator=(RedisClient&&) noexcept;
    ~RedisClient();

    // Connects now if not connected: Errc::io when Redis cannot be reached, Errc::refused
    // when it refuses the credentials or the database.
    Expected<void> connect();
    // Binary-safe arguments. Errc::io when the connection failed (it is dropped), Errc::refused
    // with Redis's own text ("NOSCRIPT ...", "WRONGPASS ...") for an error reply.
    // `slack`: how much longer than the timeout this one may take (XREAD BLOCK, a big script).
    Expected<Reply> command(const std::vector<std::string_view>& argv, std::chrono::milliseconds slack = {});

    bool connected() const { return ctx_ != nullptr; }
    const RedisUrl& url() const { return url_; }
    std::string where() const;  // "host:port", for messages

private:
    Expected<Reply> send(const std::vector<std::string_view>& argv);
    std::unexpected<Error> drop(const std::string& doing);

    RedisUrl url_;
    std::chrono::milliseconds timeout_;
    redisContext* ctx_ = nullptr;
};

// A Lua script run with EVALSHA: loaded (SCRIPT LOAD) on first use, and again when Redis
// has forgotten it (NOSCRIPT: it restarted, or SCRIPT FLUSH).
class RedisScript {
public:
    explicit RedisScript(std::string source) : source_(std::move(source)) {}
    Expected<void> load(RedisClient& c);
    // Redis's error replies come back as Errc::refused with its text ("FENCED 3").
    Expected<Reply> run(RedisClient& c, const std::vector<std::string_view>& keys,
                        const std::vector<std::string_view>& args, std::chrono::milliseconds slack = {});

private:
    std::string source_, sha_;
};

}  // namespace pcscf::ctl::state
