#include "control/state/redis_feed.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

namespace pcscf::ctl::state {

namespace {

// The feed's last entry and the store's serial, read together. KEYS: changes, serial.
constexpr std::string_view kPosition = R"(
local serial = tonumber(redis.call('GET', KEYS[2]) or '0')
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last == 0 then return {'0-0', serial, serial} end
local f = last[1][2]
for i = 1, #f, 2 do
  if f[i] == 'n' then return {last[1][1], tonumber(f[i + 1]), serial} end
end
return redis.error_reply('the feed entry ' .. last[1][1] .. ' has no n')
)";

template <class T>
bool number(std::string_view s, T& out) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc{} && end == s.data() + s.size();
}

// A stream id, "<millis>-<seq>", as a pair that compares as Redis does.
std::pair<uint64_t, uint64_t> id_of(std::string_view id) {
    std::pair<uint64_t, uint64_t> out{0, 0};
    const auto dash = id.find('-');
    number(id.substr(0, dash), out.first);
    if (dash != std::string_view::npos) number(id.substr(dash + 1), out.second);
    return out;
}

}  // namespace

RedisFeed::RedisFeed(RedisClient c)
    : client_(std::move(c)), keys_(client_.url().prefix), position_(std::string(kPosition)) {}

Expected<RedisFeed> RedisFeed::open(const RedisUrl& url) {
    RedisFeed f{RedisClient(url)};
    if (auto c = f.client_.connect(); !c) return std::unexpected(in_context(c.error(), "following the state store"));
    if (auto l = f.position_.load(f.client_); !l)
        return std::unexpected(f.failed(l.error(), "following the state store"));
    return f;
}

Error RedisFeed::failed(Error e, std::string_view doing) const {
    const std::string context =
        e.code == Errc::io ? std::string(doing) : std::string(doing) + ": redis " + client_.where();
    return in_context(std::move(e), context);
}

Expected<RedisFeed::Position> RedisFeed::position() {
    auto r = position_.run(client_, {keys_.changes, keys_.serial}, {});
    if (!r) return std::unexpected(failed(r.error(), "reading the state feed's position"));
    if ((*r)->size() != 3) return fail(Errc::invalid, "redis " + client_.where() + ": unexpected feed position reply");
    return Position{std::string((**r)[0].str()), static_cast<uint64_t>((**r)[1].integer()),
                    static_cast<uint64_t>((**r)[2].integer())};
}

Expected<RedisFeed::Snapshot> RedisFeed::snapshot() {
    auto p = position();
    if (!p) return std::unexpected(p.error());
    auto records = scan_records(client_, keys_.records);
    if (!records) return std::unexpected(failed(records.error(), "reading the state store"));
    return Snapshot{std::move(*records), std::move(p->id), p->n};
}

Expected<RedisFeed::Follow> RedisFeed::next(std::string& position, uint64_t& serial, std::chrono::milliseconds wait,
                                            size_t max_entries) {
    const std::string count = std::to_string(std::max<size_t>(max_entries, 1)), block = std::to_string(wait.count());
    std::vector<std::string_view> argv{"XREAD", "COUNT", count};
    if (wait.count() > 0) argv.insert(argv.end(), {"BLOCK", block});
    argv.insert(argv.end(), {"STREAMS", keys_.changes, position});
    auto r = client_.command(argv, std::max(wait, std::chrono::milliseconds(0)));
    if (!r) return std::unexpected(failed(r.error(), "following the state feed"));

    Follow out;
    if ((*r)->is_nil() || (*r)->size() == 0) {
        // Nothing after `position`. Should the store's serial differ from ours all the same,
        // entries were written and are gone (trimmed, the feed deleted, a clear()).
        auto p = this->position();
        if (!p) return std::unexpected(p.error());
        out.gap = p->serial != serial && id_of(p->id) <= id_of(position);
        return out;
    }
    const auto unexpected = [&] {
        return fail(Errc::invalid, "redis " + client_.where() + ": unexpected XREAD reply");
    };
    if (!(*r)->is_array() || !(**r)[0].is_array() || (**r)[0].size() != 2) return unexpected();
    const ReplyView entries = (**r)[0][1];
    for (size_t i = 0; i < entries.size(); ++i) {
        if (entries[i].size() != 2 || !entries[i][1].is_array()) return unexpected();
        const ReplyView e = entries[i], fields = e[1];
        Entry entry{std::string(e[0].str()), 0, id_of(e[0].str()).first, {}};
        bool has_n = false;
        for (size_t j = 0; j + 1 < fields.size(); j += 2) {
            const std::string_view f = fields[j].str(), v = fields[j + 1].str();
            if (f == "n") has_n = number(v, entry.serial);
            else if (f.starts_with('+')) entry.changes.push_back({std::string(f.substr(1)), std::string(v)});
            else if (f.starts_with('-')) entry.changes.push_back({std::string(f.substr(1)), std::nullopt});
            else return fail(Errc::invalid, "the state feed's entry " + entry.id + " has a foreign field");
        }
        if (!has_n) return fail(Errc::invalid, "the state feed's entry " + entry.id + " has no serial");
        const uint64_t expected = (out.entries.empty() ? serial : out.entries.back().serial) + 1;
        if (entry.serial != expected) return Follow{{}, true};
        out.entries.push_back(std::move(entry));
    }
    if (!out.entries.empty()) {
        position = out.entries.back().id;
        serial = out.entries.back().serial;
    }
    return out;
}

Expected<uint64_t> RedisFeed::epoch() {
    auto r = client_.command({"GET", keys_.epoch});
    if (!r) return std::unexpected(failed(r.error(), "reading the state store's epoch"));
    uint64_t e = 0;
    if (!(*r)->is_nil() && !number((*r)->str(), e))
        return fail(Errc::invalid, "redis " + client_.where() + ": the epoch is not a number");
    return e;
}

}  // namespace pcscf::ctl::state
