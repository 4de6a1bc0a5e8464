#include "control/state/redis_store.hpp"

#include <charconv>
#include <map>

namespace pcscf::ctl::state {

namespace {

constexpr size_t kEntryChanges = 1000;  // changes per feed entry
// Feed entries kept (about: MAXLEN ~), each a batch of up to kEntryChanges changes: at a
// storm's 200 batches a second, nearly a minute of history for a standby that fell behind;
// one further behind reads a snapshot instead.
constexpr std::string_view kMaxLen = "10000";

// Both scripts start with the fencing check; "EMPTIED ..." and "FENCED <epoch>" are mapped to
// Errc::not_found and Errc::fenced. KEYS: records, changes, epoch, serial. ARGV of write:
// our epoch, puts, dels, then each put's key and value, then each deleted key. ARGV is
// walked, never unpack()ed whole: Lua's stack would not hold a batch of 100k puts.
constexpr std::string_view kCheck = R"(
local epoch = redis.call('GET', KEYS[3])
if not epoch then return redis.error_reply('EMPTIED no epoch') end
if epoch ~= ARGV[1] then return redis.error_reply('FENCED ' .. epoch) end
)";

constexpr std::string_view kWrite = R"(
local per, maxlen = tonumber(ARGV[4]), ARGV[5]
local last, hset, hdel, fields = '', {}, {}, {}
local function flush()
  if #fields == 0 then return end
  if #hset > 0 then redis.call('HSET', KEYS[1], unpack(hset)) end
  if #hdel > 0 then redis.call('HDEL', KEYS[1], unpack(hdel)) end
  local n = redis.call('INCR', KEYS[4])
  last = redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, '*', 'n', n, unpack(fields))
  hset, hdel, fields = {}, {}, {}
end
local i = 6
for _ = 1, tonumber(ARGV[2]) do
  hset[#hset + 1] = ARGV[i]
  hset[#hset + 1] = ARGV[i + 1]
  fields[#fields + 1] = '+' .. ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
  if #fields >= 2 * per then flush() end
  i = i + 2
end
for _ = 1, tonumber(ARGV[3]) do
  hdel[#hdel + 1] = ARGV[i]
  fields[#fields + 1] = '-' .. ARGV[i]
  fields[#fields + 1] = ''
  if #fields >= 2 * per then flush() end
  i = i + 1
end
flush()
return last
)";

constexpr std::string_view kStillOurs = R"(
return ''
)";

constexpr std::string_view kClear = R"(
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('INCR', KEYS[4])
return ''
)";

}  // namespace

Expected<Records> scan_records(RedisClient& c, const std::string& key) {
    // HSCAN may return a field twice (the hash was resized between calls); the later wins.
    std::map<std::string, std::string> all;
    std::string cursor = "0";
    do {
        auto r = c.command({"HSCAN", key, cursor, "COUNT", "1000"});
        if (!r) return std::unexpected(r.error());
        if (!(*r)->is_array() || (*r)->size() != 2 || !(**r)[1].is_array())
            return fail(Errc::invalid, "redis " + c.where() + ": unexpected reply to HSCAN " + key);
        cursor = (**r)[0].str();
        const ReplyView kv = (**r)[1];
        for (size_t i = 0; i + 1 < kv.size(); i += 2)
            all.insert_or_assign(std::string(kv[i].str()), std::string(kv[i + 1].str()));
    } while (cursor != "0");
    return Records(std::make_move_iterator(all.begin()), std::make_move_iterator(all.end()));
}

RedisBackend::RedisBackend(RedisClient c)
    : client_(std::move(c)),
      keys_(client_.url().prefix),
      write_(std::string(kCheck) + std::string(kWrite)),
      clear_(std::string(kCheck) + std::string(kClear)),
      check_(std::string(kCheck) + std::string(kStillOurs)) {}

Expected<std::unique_ptr<RedisBackend>> RedisBackend::open(const RedisUrl& url) {
    std::unique_ptr<RedisBackend> b(new RedisBackend(RedisClient(url)));
    if (auto c = b->client_.connect(); !c) return std::unexpected(in_context(c.error(), "opening the state store"));
    for (auto* s : {&b->write_, &b->clear_, &b->check_})
        if (auto l = s->load(b->client_); !l) return std::unexpected(b->failed(l.error(), "loading the state scripts"));
    return b;
}

Error RedisBackend::failed(Error e, std::string_view doing) const {
    const std::string where = "redis " + client_.where();
    if (e.code == Errc::refused && e.message.starts_with("FENCED "))
        return {Errc::fenced, std::string(doing) + ": " + where + ": another node claimed the store (its epoch " +
                                  e.message.substr(7) + ", ours " + std::to_string(epoch_) + ")"};
    if (e.code == Errc::refused && e.message.starts_with("EMPTIED "))
        return {Errc::not_found, std::string(doing) + ": " + where +
                                     ": EMPTIED: the store has lost its contents (no epoch: Redis restarted without "
                                     "persistence, or was flushed)"};
    // An I/O error names the server already; Redis's own text does not.
    const std::string context = e.code == Errc::io ? std::string(doing) : std::string(doing) + ": " + where;
    return in_context(std::move(e), context);
}

Expected<uint64_t> RedisBackend::claim() {
    auto r = client_.command({"INCR", keys_.epoch});
    if (!r) return std::unexpected(failed(r.error(), "claiming the state store"));
    epoch_ = static_cast<uint64_t>((*r)->integer());
    return epoch_;
}

Expected<void> RedisBackend::write(const Batch& b) {
    if (epoch_ == 0) return fail(Errc::invalid, "state write: the redis store was not claimed by this node");
    if (b.empty()) return {};
    const std::string epoch = std::to_string(epoch_), puts = std::to_string(b.puts.size()),
                      dels = std::to_string(b.dels.size()), per = std::to_string(kEntryChanges);
    std::vector<std::string_view> args{epoch, puts, dels, per, kMaxLen};
    args.reserve(args.size() + 2 * b.puts.size() + b.dels.size());
    for (const auto& [k, v] : b.puts) {
        args.push_back(k);
        args.push_back(v);
    }
    args.insert(args.end(), b.dels.begin(), b.dels.end());
    // Redis takes its time over a big batch (100k puts: 2 s on a slow test host): 100 µs a
    // change on top of the timeout, since a write that timed out would only be sent again.
    const auto slack = std::chrono::milliseconds((b.puts.size() + b.dels.size()) / 10);
    auto r = write_.run(client_, {keys_.records, keys_.changes, keys_.epoch, keys_.serial}, args, slack);
    if (!r) return std::unexpected(failed(r.error(), "state write"));
    std::lock_guard lock(mu_);
    last_ = (*r)->str();
    return {};
}

Expected<Records> RedisBackend::load() {
    auto r = scan_records(client_, keys_.records);
    if (!r) return std::unexpected(failed(r.error(), "state read"));
    return r;
}

Expected<void> RedisBackend::clear() {
    if (epoch_ == 0) return fail(Errc::invalid, "state clear: the redis store was not claimed by this node");
    const std::string epoch = std::to_string(epoch_);
    auto r = clear_.run(client_, {keys_.records, keys_.changes, keys_.epoch, keys_.serial}, {epoch});
    if (!r) return std::unexpected(failed(r.error(), "state clear"));
    std::lock_guard lock(mu_);
    last_.clear();
    return {};
}

Expected<void> RedisBackend::check() {
    if (epoch_ == 0) return fail(Errc::invalid, "state check: the redis store was not claimed by this node");
    const std::string epoch = std::to_string(epoch_);
    auto r = check_.run(client_, {keys_.records, keys_.changes, keys_.epoch, keys_.serial}, {epoch});
    if (!r) return std::unexpected(failed(r.error(), "state check"));
    return {};
}

Expected<void> RedisBackend::reclaim() {
    auto e = claim();
    if (!e) return std::unexpected(e.error());
    return {};
}

std::string RedisBackend::last_change() const {
    std::lock_guard lock(mu_);
    return last_;
}

}  // namespace pcscf::ctl::state
