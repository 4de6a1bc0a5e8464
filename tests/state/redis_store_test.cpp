// The Redis state store against a real redis-server the test starts: URLs, connecting
// (refused passwords, an unreachable server), binary-safe round trips and a 100k batch,
// a follower's snapshot and feed (in order, converging while writes go on, gaps seen),
// fencing of a replaced primary, a flushed store, and a Redis restart ridden over by the
// backend and the StateWriter without losing a change.
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <thread>

#include <atomic>
#include <map>
#include <random>

#include "control/state/redis_feed.hpp"
#include "control/state/redis_store.hpp"
#include "control/state/redis_url.hpp"
#include "control/state/state_writer.hpp"
#include "tests/state/redis_server.hpp"

namespace pcscf::ctl::state {
namespace {

using namespace std::chrono_literals;
using testing::RedisServer;
using State = std::map<std::string, std::string>;

std::string bin(std::string_view s) { return std::string(s) + std::string("\0\xff\n", 3); }

State state_of(const Records& r) { return State(r.begin(), r.end()); }

State load(StateBackend& b) {
    auto r = b.load();
    EXPECT_TRUE(r.has_value()) << r.error().message;
    return r ? state_of(*r) : State{};
}

void apply(State& s, const RedisFeed::Entry& e) {
    for (const auto& c : e.changes) {
        if (c.value) s.insert_or_assign(c.key, *c.value);
        else s.erase(c.key);
    }
}

// The entries after `position` until there are none, applied to `s`; false on a gap.
bool follow(RedisFeed& f, State& s, std::string& position, uint64_t& serial) {
    while (true) {
        auto r = f.next(position, serial, 0ms, 100);
        EXPECT_TRUE(r.has_value()) << r.error().message;
        if (!r || r->gap) return false;
        if (r->entries.empty()) return true;
        for (const auto& e : r->entries) apply(s, e);
    }
}

long long integer(const RedisServer& server, const std::vector<std::string_view>& argv) {
    auto r = server.command(argv);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    if (!r) return -1;
    return (*r)->is_integer() ? (*r)->integer() : std::stoll(std::string((*r)->str()));
}

TEST(RedisUrl, GoodForms) {
    auto u = parse_redis_url("redis://localhost");
    ASSERT_TRUE(u.has_value()) << u.error().message;
    EXPECT_EQ(u->host, "localhost");
    EXPECT_EQ(u->port, 6379);
    EXPECT_EQ(u->db, 0);
    EXPECT_EQ(u->prefix, "pcscf-esp");
    EXPECT_TRUE(u->user.empty() && u->password.empty());

    u = parse_redis_url("redis://:secret@10.0.0.5:6380/2?prefix=site-a");
    ASSERT_TRUE(u.has_value()) << u.error().message;
    EXPECT_EQ(u->host, "10.0.0.5");
    EXPECT_EQ(u->port, 6380);
    EXPECT_EQ(u->db, 2);
    EXPECT_EQ(u->prefix, "site-a");
    EXPECT_EQ(u->password, "secret");
    EXPECT_TRUE(u->user.empty());
    EXPECT_EQ(u->str(), "redis://10.0.0.5:6380/2 prefix site-a");

    u = parse_redis_url("redis://alice:p%40ss%2Fw%3A@redis.example:7000/");
    ASSERT_TRUE(u.has_value()) << u.error().message;
    EXPECT_EQ(u->user, "alice");
    EXPECT_EQ(u->password, "p@ss/w:");
    EXPECT_EQ(u->host, "redis.example");
    EXPECT_EQ(u->db, 0);
    EXPECT_EQ(u->str().find("p@ss"), std::string::npos) << "never the password";

    u = parse_redis_url("redis://[2001:db8::1]:6390/3");
    ASSERT_TRUE(u.has_value()) << u.error().message;
    EXPECT_EQ(u->host, "2001:db8::1");
    EXPECT_EQ(u->port, 6390);
    EXPECT_EQ(u->db, 3);
    EXPECT_EQ(u->str(), "redis://[2001:db8::1]:6390/3 prefix pcscf-esp");

    u = parse_redis_url("redis://[::1]?prefix=a:b");
    ASSERT_TRUE(u.has_value()) << u.error().message;
    EXPECT_EQ(u->host, "::1");
    EXPECT_EQ(u->port, 6379);
    EXPECT_EQ(u->prefix, "a:b");
}

TEST(RedisUrl, EachMalformedPieceIsRefused) {
    for (const char* bad : {"",
                            "localhost:6379",
                            "http://host",
                            "rediss://host",
                            "redis://",
                            "redis://:6379",
                            "redis://host:",
                            "redis://host:0",
                            "redis://host:65536",
                            "redis://host:63x9",
                            "redis://host:-1",
                            "redis://host/x",
                            "redis://host/-1",
                            "redis://host/1x",
                            "redis://2001:db8::1",
                            "redis://[::1",
                            "redis://[::1]x",
                            "redis://[]:6379",
                            "redis://secret@host",
                            "redis://:@host",
                            "redis://:secret%zz@host",
                            "redis://host?db=2",
                            "redis://host?prefix=",
                            "redis://host?prefix=a&x=1",
                            "redis://:secret@host:99999"}) {
        const auto u = parse_redis_url(bad);
        ASSERT_FALSE(u.has_value()) << bad;
        EXPECT_EQ(u.error().code, Errc::invalid) << bad;
        EXPECT_TRUE(u.error().message.starts_with("redis URL: ")) << u.error().message;
        EXPECT_EQ(u.error().message.find("secret"), std::string::npos) << "never the password: " << u.error().message;
    }
}

class RedisStore : public ::testing::Test {
protected:
    virtual bool durable() const { return false; }
    void SetUp() override {
        if (!RedisServer::installed()) GTEST_SKIP() << "redis-server is not installed (apt-get install redis-server)";
        server_ = std::make_unique<RedisServer>(durable());
        ASSERT_EQ(server_->start(), "");
    }

    std::unique_ptr<RedisBackend> claimed(std::string prefix = "test") {
        auto b = RedisBackend::open(server_->url(std::move(prefix)));
        EXPECT_TRUE(b.has_value()) << b.error().message;
        if (!b) return nullptr;
        auto e = (*b)->claim();
        EXPECT_TRUE(e.has_value()) << e.error().message;
        return std::move(*b);
    }
    RedisFeed feed() {
        auto f = RedisFeed::open(server_->url());
        EXPECT_TRUE(f.has_value()) << f.error().message;
        return std::move(*f);
    }

    std::unique_ptr<RedisServer> server_;
};

TEST_F(RedisStore, AWrongPasswordOrNoneIsRefusedAndAnUnreachableServerIsAnIoError) {
    auto url = server_->url();
    url.password = "wrong";
    auto b = RedisBackend::open(url);
    ASSERT_FALSE(b.has_value());
    EXPECT_EQ(b.error().code, Errc::refused);
    EXPECT_NE(b.error().message.find("WRONGPASS"), std::string::npos) << b.error().message;
    EXPECT_EQ(b.error().message.find("wrong"), std::string::npos) << "never the password: " << b.error().message;

    url.user = "alice";  // AUTH user password
    b = RedisBackend::open(url);
    ASSERT_FALSE(b.has_value());
    EXPECT_EQ(b.error().code, Errc::refused);
    EXPECT_NE(b.error().message.find("WRONGPASS"), std::string::npos) << b.error().message;

    url.user = "default";
    url.password = RedisServer::kPassword;
    EXPECT_TRUE(RedisBackend::open(url).has_value()) << "user and password both right";

    url.user.clear();
    url.password.clear();
    auto f = RedisFeed::open(url);
    ASSERT_FALSE(f.has_value());
    EXPECT_EQ(f.error().code, Errc::refused);
    EXPECT_NE(f.error().message.find("NOAUTH"), std::string::npos) << f.error().message;
    EXPECT_NE(f.error().message.find("no password"), std::string::npos) << f.error().message;

    url = server_->url();
    url.port = RedisServer::free_port();
    b = RedisBackend::open(url);
    ASSERT_FALSE(b.has_value());
    EXPECT_EQ(b.error().code, Errc::io);
    EXPECT_NE(b.error().message.find("127.0.0.1:" + std::to_string(url.port)), std::string::npos) << b.error().message;
    EXPECT_NE(b.error().message.find("refused"), std::string::npos) << "the system's reason: " << b.error().message;
}

TEST_F(RedisStore, WritesAreBinarySafeAndRoundTripIncludingA100kBatch) {
    auto unclaimed = RedisBackend::open(server_->url());
    ASSERT_TRUE(unclaimed.has_value());
    auto w = (*unclaimed)->write({{{"a", "1"}}, {}});
    ASSERT_FALSE(w.has_value());
    EXPECT_EQ(w.error().code, Errc::invalid) << "a node that never claimed the store writes nothing";
    EXPECT_EQ((*unclaimed)->clear().error().code, Errc::invalid);
    EXPECT_EQ((*unclaimed)->last_change(), "");

    auto b = claimed();
    ASSERT_TRUE(b);
    EXPECT_EQ(b->describe(), "redis redis://127.0.0.1:" + std::to_string(server_->port()) + "/0 prefix test");
    ASSERT_TRUE(b->write({{{"a", bin("1")}, {bin("k"), bin("")}, {"gone", "x"}, {"empty", ""}}, {}}).has_value());
    ASSERT_TRUE(b->write({{{"a", bin("2")}}, {"gone", "never-there"}}).has_value());
    EXPECT_EQ(load(*b), (State{{"a", bin("2")}, {bin("k"), bin("")}, {"empty", ""}}));
    EXPECT_TRUE(load(*claimed("other")).empty()) << "another prefix is another store";

    Batch big;
    for (int i = 0; i < 100'000; ++i) big.puts.emplace_back("sa/" + std::to_string(i), bin(std::to_string(i)));
    big.dels.push_back("a");
    ASSERT_TRUE(b->write(big).has_value());
    const State all = load(*b);
    EXPECT_EQ(all.size(), 100'002u);
    EXPECT_EQ(all.at("sa/99999"), bin("99999"));
    EXPECT_FALSE(all.contains("a"));
    EXPECT_EQ(integer(*server_, {"XLEN", "test:changes"}), 2 + 101) << "at most 1000 changes per feed entry";
    EXPECT_EQ(integer(*server_, {"GET", "test:serial"}), 2 + 101);

    ASSERT_TRUE(b->clear().has_value());
    EXPECT_TRUE(load(*b).empty());
    EXPECT_EQ(integer(*server_, {"EXISTS", "test:changes"}), 0) << "the feed went with the records";
    EXPECT_EQ(integer(*server_, {"GET", "test:epoch"}), 1) << "the epoch stays";
    EXPECT_EQ(b->last_change(), "");
    ASSERT_TRUE(b->write({{{"after", "clear"}}, {}}).has_value());
    EXPECT_EQ(load(*b), (State{{"after", "clear"}}));
}

TEST_F(RedisStore, AFollowerSeesExactlyTheChangesAfterItsSnapshotInOrder) {
    auto b = claimed();
    ASSERT_TRUE(b);
    ASSERT_TRUE(b->write({{{"old", "1"}, {"x", "0"}}, {}}).has_value());
    RedisFeed f = feed();
    auto snap = f.snapshot();
    ASSERT_TRUE(snap.has_value()) << snap.error().message;
    EXPECT_EQ(snap->position, b->last_change());
    EXPECT_EQ(snap->serial, 1u);
    EXPECT_EQ(state_of(snap->records), (State{{"old", "1"}, {"x", "0"}}));

    const auto before = std::chrono::system_clock::now();
    ASSERT_TRUE(b->write({{{"x", bin("1")}}, {}}).has_value());
    ASSERT_TRUE(b->write({{{"y", "2"}}, {"old"}}).has_value());
    ASSERT_TRUE(b->write({{}, {"x"}}).has_value());
    std::string position = snap->position;
    uint64_t serial = snap->serial;
    auto r = f.next(position, serial, 0ms, 100);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_FALSE(r->gap);
    ASSERT_EQ(r->entries.size(), 3u);
    const auto& e = r->entries;
    EXPECT_EQ(e[0].serial, 2u);
    EXPECT_EQ(e[1].serial, 3u);
    EXPECT_EQ(e[2].serial, 4u);
    ASSERT_EQ(e[0].changes.size(), 1u);
    EXPECT_EQ(e[0].changes[0].key, "x");
    EXPECT_EQ(e[0].changes[0].value, bin("1"));
    ASSERT_EQ(e[1].changes.size(), 2u);
    EXPECT_EQ(e[1].changes[0].key, "y");
    EXPECT_EQ(e[1].changes[0].value, "2");
    EXPECT_EQ(e[1].changes[1].key, "old");
    EXPECT_EQ(e[1].changes[1].value, std::nullopt);
    ASSERT_EQ(e[2].changes.size(), 1u);
    EXPECT_EQ(e[2].changes[0].value, std::nullopt);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(before.time_since_epoch()).count();
    EXPECT_GE(e[0].millis + 1000, static_cast<uint64_t>(ms)) << "Redis's clock is this host's";
    EXPECT_LT(e[0].millis, static_cast<uint64_t>(ms) + 10'000);
    EXPECT_EQ(position, b->last_change());
    EXPECT_EQ(serial, 4u);

    State s = state_of(snap->records);
    for (const auto& entry : e) apply(s, entry);
    EXPECT_EQ(s, load(*b));

    // Nothing new: wait 0 returns at once, a wait waits, and a write wakes it.
    auto t0 = std::chrono::steady_clock::now();
    r = f.next(position, serial, 0ms, 100);
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->entries.empty());
    EXPECT_FALSE(r->gap);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 100ms);
    t0 = std::chrono::steady_clock::now();
    r = f.next(position, serial, 300ms, 100);
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->entries.empty());
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 250ms);
    std::thread later([&] {
        std::this_thread::sleep_for(100ms);
        EXPECT_TRUE(b->write({{{"z", "late"}}, {}}).has_value());
    });
    t0 = std::chrono::steady_clock::now();
    r = f.next(position, serial, 10s, 100);
    later.join();
    ASSERT_TRUE(r.has_value()) << r.error().message;
    ASSERT_EQ(r->entries.size(), 1u);
    EXPECT_EQ(r->entries[0].changes[0].value, "late");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s) << "woken by the write";

    // A batch of 2500 changes is three entries; max_entries caps what one call returns.
    Batch big;
    for (int i = 0; i < 2500; ++i) big.puts.emplace_back("k" + std::to_string(i), "v");
    ASSERT_TRUE(b->write(big).has_value());
    r = f.next(position, serial, 0ms, 2);
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->entries.size(), 2u);
    EXPECT_EQ(r->entries[0].changes.size(), 1000u);
    r = f.next(position, serial, 0ms, 2);
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->entries.size(), 1u);
    EXPECT_EQ(r->entries[0].changes.size(), 500u);
    EXPECT_EQ(position, b->last_change());
    EXPECT_EQ(serial, 8u);
    auto epoch = f.epoch();
    ASSERT_TRUE(epoch.has_value());
    EXPECT_EQ(*epoch, 1u);
}

TEST_F(RedisStore, SnapshotsTakenWhileWritesGoOnConvergeWithTheFeed) {
    auto b = claimed();
    ASSERT_TRUE(b);
    Batch init;
    for (int i = 0; i < 5000; ++i) init.puts.emplace_back("k" + std::to_string(i), "0");
    ASSERT_TRUE(b->write(init).has_value());

    std::atomic<bool> done = false;
    std::thread writer([&] {
        std::mt19937 rng(7);
        for (int round = 1; round <= 300; ++round) {
            Batch w;
            for (int j = 0; j < 20; ++j) {
                const std::string k = "k" + std::to_string(rng() % 6000);
                if (rng() % 4 == 0) w.dels.push_back(k);
                else w.puts.emplace_back(k, std::to_string(round));
            }
            EXPECT_TRUE(b->write(w).has_value());
        }
        done = true;
    });
    RedisFeed f = feed();
    std::vector<RedisFeed::Snapshot> snaps;
    while (!done) {
        auto s = f.snapshot();
        ASSERT_TRUE(s.has_value()) << s.error().message;
        snaps.push_back(std::move(*s));
    }
    writer.join();
    ASSERT_FALSE(snaps.empty());
    const State want = load(*b);
    size_t behind = 0;  // snapshots that needed the feed to be right
    for (auto& snap : snaps) {
        State s = state_of(snap.records);
        behind += s != want;
        ASSERT_TRUE(follow(f, s, snap.position, snap.serial));
        EXPECT_EQ(s, want) << "snapshot at " << snap.position;
    }
    EXPECT_GT(behind, 0u) << "no snapshot was taken while writes went on";
}

TEST_F(RedisStore, APrimaryReplacedByAnotherIsFencedAndChangesNothing) {
    auto a = claimed();
    ASSERT_TRUE(a);
    ASSERT_TRUE(a->write({{{"x", "from a"}}, {}}).has_value());
    auto b = claimed();
    ASSERT_TRUE(b);
    const long long entries = integer(*server_, {"XLEN", "test:changes"});

    auto w = a->write({{{"x", "a again"}, {"y", "a"}}, {"x"}});
    ASSERT_FALSE(w.has_value());
    EXPECT_EQ(w.error().code, Errc::fenced);
    EXPECT_NE(w.error().message.find("epoch 2, ours 1"), std::string::npos) << w.error().message;
    EXPECT_EQ(load(*b), (State{{"x", "from a"}}));
    EXPECT_EQ(integer(*server_, {"XLEN", "test:changes"}), entries) << "nothing in the feed either";
    EXPECT_EQ(a->clear().error().code, Errc::fenced);

    ASSERT_TRUE(b->write({{{"x", "from b"}}, {}}).has_value());
    EXPECT_EQ(load(*a), (State{{"x", "from b"}})) << "a fenced node may still read";
    auto epoch = feed().epoch();
    ASSERT_TRUE(epoch.has_value());
    EXPECT_EQ(*epoch, 2u);
}

TEST_F(RedisStore, AFlushedStoreIsNotWrittenAsIfNothingHappened) {
    auto b = claimed();
    ASSERT_TRUE(b);
    ASSERT_TRUE(b->write({{{"x", "1"}}, {}}).has_value());
    ASSERT_TRUE(server_->command({"FLUSHALL"}).has_value());
    auto w = b->write({{{"y", "2"}}, {}});
    ASSERT_FALSE(w.has_value());
    EXPECT_EQ(w.error().code, Errc::not_found) << w.error().message;
    EXPECT_NE(w.error().message.find("EMPTIED"), std::string::npos) << w.error().message;
    EXPECT_TRUE(load(*b).empty());
    auto epoch = feed().epoch();
    ASSERT_TRUE(epoch.has_value());
    EXPECT_EQ(*epoch, 0u);
}

TEST_F(RedisStore, AFollowerThatMissedEntriesSeesAGap) {
    auto b = claimed();
    ASSERT_TRUE(b);
    RedisFeed f = feed();
    ASSERT_TRUE(b->write({{{"a", "1"}}, {}}).has_value());
    std::string position = "0-0";
    uint64_t serial = 0;
    State s;
    ASSERT_TRUE(follow(f, s, position, serial));
    ASSERT_EQ(serial, 1u);

    // Trimmed while it was caught up: nothing was missed.
    ASSERT_TRUE(server_->command({"XTRIM", "test:changes", "MAXLEN", "0"}).has_value());
    auto r = f.next(position, serial, 0ms, 100);
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->gap);

    // Entries 2 and 3 trimmed before it read them: seen when nothing follows, and when more does.
    ASSERT_TRUE(b->write({{{"b", "2"}}, {}}).has_value());
    ASSERT_TRUE(b->write({{{"c", "3"}}, {}}).has_value());
    ASSERT_TRUE(server_->command({"XTRIM", "test:changes", "MAXLEN", "0"}).has_value());
    r = f.next(position, serial, 0ms, 100);
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->gap);
    EXPECT_TRUE(r->entries.empty());
    ASSERT_TRUE(b->write({{{"d", "4"}}, {}}).has_value());
    const std::string at = position;
    r = f.next(position, serial, 0ms, 100);
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->gap) << "entry 4 follows entry 1";
    EXPECT_TRUE(r->entries.empty());
    EXPECT_EQ(position, at);
    EXPECT_EQ(serial, 1u);

    // A new snapshot catches up; then the feed deleted behind its back, and a clear(), are gaps too.
    auto snap = f.snapshot();
    ASSERT_TRUE(snap.has_value());
    s = state_of(snap->records);
    position = snap->position;
    serial = snap->serial;
    ASSERT_TRUE(follow(f, s, position, serial));
    EXPECT_EQ(s, load(*b));
    ASSERT_TRUE(b->write({{{"e", "5"}}, {}}).has_value());
    ASSERT_TRUE(server_->command({"DEL", "test:changes"}).has_value());
    ASSERT_TRUE(b->write({{{"f", "6"}}, {}}).has_value());
    r = f.next(position, serial, 0ms, 100);
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->gap);

    snap = f.snapshot();
    ASSERT_TRUE(snap.has_value());
    position = snap->position;
    serial = snap->serial;
    ASSERT_TRUE(b->clear().has_value());
    r = f.next(position, serial, 0ms, 100);
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->gap) << "the records it holds were cleared";
}

// Polls `cond` every 20 ms for up to `limit`: for what the writer's thread does on its own.
template <typename F>
bool eventually(F cond, std::chrono::milliseconds limit = 10s) {
    for (auto end = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < end;) {
        if (cond()) return true;
        std::this_thread::sleep_for(20ms);
    }
    return cond();
}

TEST_F(RedisStore, AWriterClaimsAStoreThatLostItsContentsAndWritesEveryRecordAgain) {
    auto b = claimed();
    ASSERT_TRUE(b);
    std::vector<std::string> lines;
    std::mutex mu;
    StateWriter w(std::move(b), [&](bool, std::string_view line) {
        std::lock_guard lock(mu);
        lines.emplace_back(line);
    });
    State want;
    for (int i = 0; i < 50; ++i) w.put("sa/" + std::to_string(i), bin(std::to_string(i)));
    for (int i = 0; i < 5; ++i) w.del("sa/" + std::to_string(i));
    for (int i = 5; i < 50; ++i) want["sa/" + std::to_string(i)] = bin(std::to_string(i));
    ASSERT_TRUE(w.flush(5s));

    server_->stop();  // not durable: it comes back empty
    ASSERT_EQ(server_->start(), "");
    // Seen while idle (the writer asks every second), or by the next write.
    ASSERT_TRUE(eventually([&] { return w.stats().rewrites == 1; })) << "emptied " << w.stats().emptied;
    w.put("sa/after", "x");
    want["sa/after"] = "x";
    ASSERT_TRUE(w.flush(5s));
    EXPECT_TRUE(w.stats().healthy);
    auto reader = RedisBackend::open(server_->url());
    ASSERT_TRUE(reader.has_value()) << reader.error().message;
    EXPECT_EQ(load(**reader), want);
    std::lock_guard lock(mu);
    const auto has = [&](std::string_view what) {
        return std::ranges::any_of(lines, [&](const std::string& l) { return l.find(what) != std::string::npos; });
    };
    std::string all;
    for (const auto& l : lines) all += l + "\n";
    EXPECT_TRUE(has("EMPTIED")) << all;
    EXPECT_TRUE(has("claimed again: 45 records written into it")) << all;
}

TEST_F(RedisStore, AnIdleWriterLearnsThatAnotherNodeClaimedTheStore) {
    auto b = claimed();
    ASSERT_TRUE(b);
    StateWriter w(std::move(b), [](bool, std::string_view) {});
    w.put("a", "1");
    ASSERT_TRUE(w.flush(5s));
    auto other = claimed();  // the standby took over; this node writes nothing more
    ASSERT_TRUE(other);
    ASSERT_TRUE(eventually([&] { return w.stats().fenced; })) << "no change was needed to find out";
    w.put("a", "2");
    EXPECT_FALSE(w.flush(1s));
    EXPECT_EQ(load(*other), (State{{"a", "1"}}));
}

class DurableRedisStore : public RedisStore {
protected:
    bool durable() const override { return true; }
};

TEST_F(DurableRedisStore, WritesFailWhileRedisIsDownAndWorkAgainOnceItIsBack) {
    auto b = claimed();
    ASSERT_TRUE(b);
    ASSERT_TRUE(b->write({{{"a", "1"}}, {}}).has_value());
    RedisFeed f = feed();
    std::string position = "0-0";
    uint64_t serial = 0;
    State s;
    ASSERT_TRUE(follow(f, s, position, serial));

    server_->stop();
    for (int i = 0; i < 2; ++i) {  // the broken connection, then a new one refused
        auto w = b->write({{{"b", "2"}}, {}});
        ASSERT_FALSE(w.has_value());
        EXPECT_EQ(w.error().code, Errc::io);
        EXPECT_NE(w.error().message.find("127.0.0.1:" + std::to_string(server_->port())), std::string::npos)
            << w.error().message;
        auto r = f.next(position, serial, 0ms, 100);
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().code, Errc::io);
    }
    ASSERT_EQ(server_->start(), "");
    // Redis forgot the scripts: the write loads it again after NOSCRIPT.
    ASSERT_TRUE(b->write({{{"b", "2"}}, {}}).has_value());
    ASSERT_TRUE(server_->command({"SCRIPT", "FLUSH"}).has_value());
    ASSERT_TRUE(b->write({{{"c", "3"}}, {}}).has_value());
    EXPECT_EQ(load(*b), (State{{"a", "1"}, {"b", "2"}, {"c", "3"}}));
    ASSERT_TRUE(follow(f, s, position, serial)) << "the feed survived the restart too";
    EXPECT_EQ(s, load(*b));
}

TEST_F(DurableRedisStore, AStateWriterLosesNothingOverARedisRestart) {
    auto b = claimed();
    ASSERT_TRUE(b);
    std::atomic<int> failed_logs = 0, back_logs = 0;
    State want;
    {
        StateWriter w(std::move(b), [&](bool healthy, std::string_view) { ++(healthy ? back_logs : failed_logs); });
        for (int i = 0; i < 100; ++i) w.put("before/" + std::to_string(i), bin(std::to_string(i)));
        ASSERT_TRUE(w.flush(5s));

        server_->stop();
        for (int i = 0; i < 100; ++i) w.put("during/" + std::to_string(i), bin(std::to_string(i)));
        for (int i = 0; i < 10; ++i) w.del("before/" + std::to_string(i));
        EXPECT_FALSE(w.flush(600ms)) << "nothing can be written while Redis is down";
        EXPECT_GT(w.stats().failures, 0u);
        EXPECT_FALSE(w.stats().healthy);
        EXPECT_EQ(w.stats().pending, 110u);

        ASSERT_EQ(server_->start(), "");
        ASSERT_TRUE(w.flush(10s));
        EXPECT_TRUE(w.stats().healthy);
        EXPECT_EQ(failed_logs, 1);
        EXPECT_EQ(back_logs, 1);
    }
    for (int i = 10; i < 100; ++i) want["before/" + std::to_string(i)] = bin(std::to_string(i));
    for (int i = 0; i < 100; ++i) want["during/" + std::to_string(i)] = bin(std::to_string(i));
    auto reader = RedisBackend::open(server_->url());
    ASSERT_TRUE(reader.has_value()) << reader.error().message;
    EXPECT_EQ(load(**reader), want);
}

}  // namespace
}  // namespace pcscf::ctl::state
