#include "control/state/redis_client.hpp"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace pcscf::ctl::state {

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
    return {static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>(ms.count() % 1000 * 1000)};
}

// hiredis sends with write(2), which raises SIGPIPE when Redis has gone, and that would end
// the process. Blocked in this thread for the call; a SIGPIPE the call raised is taken back.
class NoSigpipe {
public:
    NoSigpipe() {
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        sigset_t pending;
        sigpending(&pending);
        was_pending_ = sigismember(&pending, SIGPIPE) == 1;
        pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    }
    ~NoSigpipe() {
        sigset_t pending;
        sigpending(&pending);
        if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
            const timespec now{};
            sigtimedwait(&pipe_, nullptr, &now);
        }
        pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    NoSigpipe(const NoSigpipe&) = delete;
    NoSigpipe& operator=(const NoSigpipe&) = delete;

private:
    sigset_t pipe_, old_;
    bool was_pending_ = false;
};

}  // namespace

bool ReplyView::is_nil() const { return r_->type == REDIS_REPLY_NIL; }
bool ReplyView::is_array() const { return r_->type == REDIS_REPLY_ARRAY; }
bool ReplyView::is_integer() const { return r_->type == REDIS_REPLY_INTEGER; }
bool ReplyView::is_string() const { return r_->type == REDIS_REPLY_STRING || r_->type == REDIS_REPLY_STATUS; }
std::string_view ReplyView::str() const { return is_string() ? std::string_view(r_->str, r_->len) : ""; }
long long ReplyView::integer() const { return is_integer() ? r_->integer : 0; }
size_t ReplyView::size() const { return is_array() ? r_->elements : 0; }
ReplyView ReplyView::operator[](size_t i) const { return ReplyView(r_->element[i]); }

Reply::Reply(redisReply* r) : owned_(r), view_(r) {}
void Reply::Free::operator()(redisReply* r) const { freeReplyObject(r); }

RedisClient::RedisClient(RedisUrl url, std::chrono::milliseconds timeout) : url_(std::move(url)), timeout_(timeout) {}

RedisClient::RedisClient(RedisClient&& o) noexcept
    : url_(std::move(o.url_)), timeout_(o.timeout_), ctx_(std::exchange(o.ctx_, nullptr)) {}

RedisClient& RedisClient::operator=(RedisClient&& o) noexcept {
    if (this != &o) {
        if (ctx_) redisFree(ctx_);
        url_ = std::move(o.url_);
        timeout_ = o.timeout_;
        ctx_ = std::exchange(o.ctx_, nullptr);
    }
    return *this;
}

RedisClient::~RedisClient() {
    if (ctx_) redisFree(ctx_);
}

std::string RedisClient::where() const {
    const bool v6 = url_.host.find(':') != std::string::npos;
    return (v6 ? "[" + url_.host + "]" : url_.host) + ":" + std::to_string(url_.port);
}

std::unexpected<Error> RedisClient::drop(const std::string& doing) {
    std::string why = ctx_ ? ctx_->errstr : "out of memory";
    if (why.empty()) why = "connection failed";
    if (ctx_ && ctx_->err == REDIS_ERR_IO && why == std::strerror(EAGAIN)) why = "timed out waiting for an answer";
    if (ctx_) redisFree(ctx_);
    ctx_ = nullptr;
    return fail(Errc::io, "redis " + where() + ": " + doing + why);
}

Expected<void> RedisClient::connect() {
    if (ctx_) return {};
    ctx_ = redisConnectWithTimeout(url_.host.c_str(), url_.port, to_timeval(timeout_));
    if (!ctx_ || ctx_->err) return drop("cannot connect: ");
    if (redisSetTimeout(ctx_, to_timeval(timeout_)) != REDIS_OK) return drop("setting the timeout: ");
    redisEnableKeepAlive(ctx_);  // a standby's connection idles between changes

    auto refused = [&](Error e, const std::string& doing) {
        redisFree(ctx_);  // not usable as it is: the next command starts over
        ctx_ = nullptr;
        if (e.code == Errc::refused && e.message.starts_with("NOAUTH")) e.message += " (the URL has no password)";
        return std::unexpected(in_context(std::move(e), "redis " + where() + " " + doing));
    };
    if (!url_.password.empty()) {
        std::vector<std::string_view> auth{"AUTH"};
        if (!url_.user.empty()) auth.push_back(url_.user);
        auth.push_back(url_.password);
        if (auto r = send(auth); !r)
            return r.error().code == Errc::io ? std::unexpected(r.error())
                                              : refused(r.error(), "refused the credentials");
    }
    // Always, even for database 0: without a password a Redis that needs one says NOAUTH here.
    const std::string db = std::to_string(url_.db);
    if (auto r = send({"SELECT", db}); !r)
        return r.error().code == Errc::io ? std::unexpected(r.error()) : refused(r.error(), "refused SELECT " + db);
    return {};
}

Expected<Reply> RedisClient::send(const std::vector<std::string_view>& argv) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    ptrs.reserve(argv.size());
    lens.reserve(argv.size());
    for (const auto a : argv) {
        ptrs.push_back(a.data());
        lens.push_back(a.size());
    }
    void* raw;
    {
        NoSigpipe guard;
        raw = redisCommandArgv(ctx_, static_cast<int>(argv.size()), ptrs.data(), lens.data());
    }
    if (!raw) return drop("");
    const auto* r = static_cast<redisReply*>(raw);
    Reply reply(static_cast<redisReply*>(raw));
    if (r->type == REDIS_REPLY_ERROR) return fail(Errc::refused, std::string(r->str, r->len));
    return reply;
}

Expected<Reply> RedisClient::command(const std::vector<std::string_view>& argv, std::chrono::milliseconds slack) {
    if (auto c = connect(); !c) return std::unexpected(c.error());
    if (slack.count() > 0 && redisSetTimeout(ctx_, to_timeval(timeout_ + slack)) != REDIS_OK)
        return drop("setting the timeout: ");
    auto r = send(argv);
    if (slack.count() > 0 && ctx_ && redisSetTimeout(ctx_, to_timeval(timeout_)) != REDIS_OK)
        return drop("setting the timeout: ");
    return r;
}

Expected<void> RedisScript::load(RedisClient& c) {
    auto r = c.command({"SCRIPT", "LOAD", source_});
    if (!r) return std::unexpected(r.error());
    sha_ = (*r)->str();
    return {};
}

Expected<Reply> RedisScript::run(RedisClient& c, const std::vector<std::string_view>& keys,
                                 const std::vector<std::string_view>& args, std::chrono::milliseconds slack) {
    if (sha_.empty())
        if (auto l = load(c); !l) return std::unexpected(l.error());
    const std::string numkeys = std::to_string(keys.size());
    std::vector<std::string_view> argv{"EVALSHA", sha_, numkeys};
    argv.reserve(3 + keys.size() + args.size());
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = c.command(argv, slack);
    if (r || r.error().code != Errc::refused || !r.error().message.starts_with("NOSCRIPT")) return r;
    if (auto l = load(c); !l) return std::unexpected(l.error());
    argv[1] = sha_;
    return c.command(argv, slack);
}

}  // namespace pcscf::ctl::state
