// Redis faults: tollgate started before Redis, Redis restarted or stalled, replies lost, scripts
// flushed; and what a close must survive: an outage (the outbox) and being sent twice.
#include <doctest/doctest.h>
#include <hiredis/hiredis.h>
#include <sqlite3.h>

#include <filesystem>
#include <thread>

#include "budget/store/redis_outbox.hpp"
#include "budget/store/shared_ledger.hpp"
#include "budget_test_support.hpp"

using namespace budget_test;
using Kind = rules::Period::Kind;

TEST_CASE("Redis store, started before Redis: unhealthy, then connects by itself") {
  ManualClock clock;
  RedisServer server;
  auto config = redis_config(base_config(), server.url());
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day)};
  server.stop();
  auto e = budget::make_enforcer(config, clock);
  CHECK_FALSE(e->store_healthy());
  CHECK(admit(*e, openai(k_usd)).refused_by == budget::RefusedBy::store);
  server.start();
  // No request needed: the connection is retried with backoff (readiness follows it).
  CHECK(eventually([&] { return e->store_healthy(); }));
  const auto a = admit(*e, openai(k_usd));
  CHECK(a.admitted);
  settle(*e, a.hold, k_usd);
  CHECK(standing(*e, "daily").spent == k_usd);
}

TEST_CASE("Redis store, readiness follows a server that goes away while nothing is sent") {
  ManualClock clock;
  RedisServer server;
  auto config = redis_config(base_config(), server.url());
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day)};
  auto e = budget::make_enforcer(config, clock);
  REQUIRE(eventually([&] { return e->store_healthy(); }));
  server.stop();
  CHECK(eventually([&] { return !e->store_healthy(); }));  // the idle connection's PING
  server.start();
  CHECK(eventually([&] { return e->store_healthy(); }));
}

TEST_CASE(
    "Redis store, a restart mid-load: on_error decides meanwhile, recovery needs no restart") {
  ManualClock clock;
  RedisServer server({"--appendonly", "yes", "--appendfsync", "always"});
  auto config = redis_config(base_config(), server.url());
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day)};
  TempDir data;
  config->data_dir = data.path.string();

  SUBCASE("block: refused while it is down, admitted once it is back") {
    auto e = budget::make_enforcer(config, clock);
    const auto before = admit(*e, openai(k_usd));
    REQUIRE(before.admitted);
    server.stop();
    CHECK(admit(*e, openai(k_usd)).refused_by == budget::RefusedBy::store);
    // A hold admitted before the outage settles during it: kept, and counted once Redis is back.
    settle(*e, before.hold, 400'000);
    CHECK_FALSE(e->store_healthy());
    server.start();
    CHECK(eventually([&] { return e->store_healthy(); }));
    CHECK(eventually([&] {
      const auto s = standing(*e, "daily");
      return s.spent == 400'000 && s.reserved == 0;
    }));
    CHECK(admit(*e, openai(k_usd)).admitted);
  }
  SUBCASE("allow: admitted meanwhile, and every settlement of the outage reaches Redis once") {
    config->store.redis.fail_open = true;
    auto e = budget::make_enforcer(config, clock);
    const auto before = admit(*e, openai(k_usd));
    REQUIRE(before.admitted);
    server.stop();
    const auto during = admit(*e, openai(2 * k_usd));
    REQUIRE(during.admitted);
    settle(*e, before.hold, 300'000);
    settle(*e, during.hold, 1'700'000);
    const auto released = admit(*e, openai(k_usd));
    release(*e, released.hold);
    CHECK(fs::exists(data.path / "redis-outbox.db"));
    server.start();
    CHECK(eventually([&] {
      const auto s = standing(*e, "daily");
      return s.spent == 2'000'000 && s.reserved == 0;
    }));
    // A second process on the same Redis sees the same books; a restart replays nothing twice.
    e.reset();
    auto again = budget::make_enforcer(config, clock);
    CHECK(eventually([&] { return again->store_healthy(); }));
    CHECK(standing(*again, "daily").spent == 2'000'000);
    settle(*again, admit(*again, openai(1)).hold, 1);
    CHECK(standing(*again, "daily").spent == 2'000'001);
  }
  SUBCASE("the outbox outlives the process: replayed by the next start") {
    auto e = budget::make_enforcer(config, clock);
    const auto a = admit(*e, openai(k_usd));
    REQUIRE(a.admitted);
    server.stop();
    settle(*e, a.hold, 600'000);
    e.reset();
    server.start();
    auto next = budget::make_enforcer(config, clock);
    CHECK(eventually([&] {
      const auto s = standing(*next, "daily");
      return s.spent == 600'000 && s.reserved == 0;
    }));
  }
}

TEST_CASE("Redis store, a stalled server fails requests after a second and never blocks others") {
  ManualClock clock;
  RedisServer server;
  auto config = redis_config(base_config(), server.url());
  // Keepa falls in no budget: nothing of it is Redis's.
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day)};
  auto e = budget::make_enforcer(config, clock);
  REQUIRE(admit(*e, openai(k_usd)).admitted);

  server.pause();
  std::promise<budget::Admission> shared;
  auto shared_answer = shared.get_future();
  e->admit(openai(k_usd), [&](budget::Admission a) { shared.set_value(std::move(a)); });
  // A request in no shared budget is decided at once while the shared one waits for Redis.
  const auto unshared = admit(*e, keepa(k_usd));
  CHECK(unshared.admitted);
  CHECK(shared_answer.wait_for(std::chrono::seconds(0)) == std::future_status::timeout);
  const auto refused = shared_answer.get();  // after the reply timeout
  server.resume();
  CHECK(refused.refused_by == budget::RefusedBy::store);
  CHECK(eventually([&] { return e->store_healthy(); }));
  // The refused reservation may have run once the server woke up: it was released.
  CHECK(eventually([&] { return standing(*e, "daily").reserved == k_usd; }));
}

TEST_CASE(
    "Redis ledger, a close sent twice counts once; a release that overtakes its reservation") {
  static int run = 0;  // each subcase on keys of its own
  auto ledger =
      budget::make_redis_ledger(RedisServer::shared().url(), "twice" + std::to_string(::getpid()) +
                                                                 "-" + std::to_string(run++) + ":");
  budget::SharedLedger::Part part;
  part.budget = "daily";
  part.key = "";
  part.period = 1;
  part.limit = 10 * k_usd;
  using Spent = std::optional<std::vector<std::int64_t>>;
  const auto close = [&](std::uint64_t hold, std::optional<std::int64_t> actual,
                         std::vector<budget::SharedLedger::Part> unreserved) {
    return await_callback<Spent>([&](auto done) { ledger->close(hold, actual, unreserved, done); });
  };
  const auto reserve = [&](std::uint64_t hold) {
    return await_callback<budget::SharedLedger::Reservation>(
        [&](auto done) { ledger->reserve(hold, {part}, k_usd, 60'000, done); });
  };

  SUBCASE("reserved, closed, closed again") {
    REQUIRE(reserve(7).outcome == budget::SharedLedger::Reservation::Outcome::admitted);
    CHECK(close(7, 300'000, {}) == Spent(std::vector<std::int64_t>{300'000}));
    CHECK(close(7, 300'000, {}) == Spent(std::vector<std::int64_t>{}));
  }
  SUBCASE("admitted without Redis, charged to its parts, the charge sent twice") {
    CHECK(close(8, 500'000, {part}) == Spent(std::vector<std::int64_t>{500'000}));
    CHECK(close(8, 500'000, {part}) == Spent(std::vector<std::int64_t>{}));
  }
  SUBCASE(
      "reserved after all (its reply lost), then charged with its parts: closed, not charged "
      "twice") {
    REQUIRE(reserve(9).outcome == budget::SharedLedger::Reservation::Outcome::admitted);
    CHECK(close(9, 200'000, {part}) == Spent(std::vector<std::int64_t>{200'000}));
    CHECK(close(9, 200'000, {part}) == Spent(std::vector<std::int64_t>{}));
  }
  SUBCASE("a release that arrives before its reservation keeps it from being made") {
    CHECK(close(10, std::nullopt, {}) == Spent(std::vector<std::int64_t>{}));
    CHECK(reserve(10).outcome == budget::SharedLedger::Reservation::Outcome::failed);
    const auto counters = ledger->read({part});
    REQUIRE(counters);
    CHECK((*counters)[0].reserved == 0);
  }
}

TEST_CASE("Redis store, scripts flushed on a live server are loaded again") {
  ManualClock clock;
  auto config = redis_config(base_config(), RedisServer::shared().url());
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day)};
  auto e = budget::make_enforcer(config, clock);
  settle(*e, admit(*e, openai(k_usd)).hold, k_usd);
  CHECK(redis_command(RedisServer::shared().port(), {"SCRIPT", "FLUSH"}) == "OK");
  const auto a = admit(*e, openai(k_usd));
  CHECK(a.admitted);
  settle(*e, a.hold, k_usd);
  CHECK(standing(*e, "daily").spent == 2 * k_usd);
  CHECK(e->store_healthy());
}

TEST_CASE("Redis ledger, operations queued together go as one call, each decided on its own") {
  const int port = RedisServer::shared().port();
  const std::string prefix = "batch" + std::to_string(::getpid()) + ":";
  auto ledger = budget::make_redis_ledger(RedisServer::shared().url(), prefix);
  using Reservation = budget::SharedLedger::Reservation;
  using Spent = std::optional<std::vector<std::int64_t>>;
  budget::SharedLedger::Part part;
  part.budget = "daily";
  part.period = 1;
  part.limit = 10 * k_usd;
  budget::SharedLedger::Part broken = part;
  broken.budget = "broken";
  // A counter of the wrong type (a list): the script of the operation that touches it fails.
  CHECK(redis_command(port, {"RPUSH", prefix + "{broken}::1", "x"}) == "1");
  // Connected first, so that what follows is queued while Redis is paused.
  REQUIRE(eventually([&] { return ledger->healthy(); }));
  const auto evalsha_calls = [&] {
    const std::string stats = redis_command(port, {"INFO", "commandstats"});
    const auto at = stats.find("cmdstat_evalsha:calls=");
    return at == std::string::npos ? 0L : std::stol(stats.substr(at + 22));
  };
  const long calls_before = evalsha_calls();
  CHECK(redis_command(port, {"CLIENT", "PAUSE", "300", "ALL"}) == "OK");

  // 25 reservations of $1 against $10, one on the broken counter among them, then the closes of
  // holds 1..5 (a settlement, a release, the rest of them twice): all queued at once.
  std::vector<std::promise<Reservation>> reserved(26);
  for (std::uint64_t hold = 1; hold <= 25; ++hold)
    ledger->reserve(hold, {hold == 13 ? broken : part}, k_usd, 60'000,
                    [&reserved, hold](Reservation r) { reserved[hold].set_value(std::move(r)); });
  std::vector<std::promise<Spent>> closed(8);
  const std::vector<std::pair<std::uint64_t, std::optional<std::int64_t>>> closes = {
      {1, 300'000}, {2, std::nullopt}, {3, 500'000}, {3, 500'000},
      {4, k_usd},   {5, k_usd},        {4, k_usd},   {5, k_usd}};
  for (std::size_t i = 0; i < closes.size(); ++i)
    ledger->close(closes[i].first, closes[i].second, {},
                  [&closed, i](Spent s) { closed[i].set_value(std::move(s)); });

  int admitted = 0, refused = 0;
  for (std::uint64_t hold = 1; hold <= 25; ++hold) {
    const Reservation r = reserved[hold].get_future().get();
    if (hold == 13) {
      CHECK(r.outcome == Reservation::Outcome::failed);  // its own error, nobody else's
      continue;
    }
    if (r.outcome == Reservation::Outcome::admitted) {
      ++admitted;
      CHECK(hold <= 10);  // in the order they were queued
    }
    if (r.outcome == Reservation::Outcome::refused) ++refused;
  }
  CHECK(admitted == 10);
  CHECK(refused == 14);
  std::vector<Spent> spent;
  for (auto& c : closed) spent.push_back(c.get_future().get());
  CHECK(spent[0] == Spent(std::vector<std::int64_t>{300'000}));
  CHECK(spent[1] == Spent(std::vector<std::int64_t>{300'000}));
  CHECK(spent[2] == Spent(std::vector<std::int64_t>{800'000}));
  CHECK(spent[3] == Spent(std::vector<std::int64_t>{}));  // closed already
  CHECK(spent[4] == Spent(std::vector<std::int64_t>{1'800'000}));
  CHECK(spent[5] == Spent(std::vector<std::int64_t>{2'800'000}));
  CHECK(spent[6] == Spent(std::vector<std::int64_t>{}));
  CHECK(spent[7] == Spent(std::vector<std::int64_t>{}));
  const auto counters = ledger->read({part});
  REQUIRE(counters);
  CHECK((*counters)[0].spent == 2'800'000);
  CHECK((*counters)[0].reserved == 5 * k_usd);  // holds 6..10
  // 33 operations; all but the first (sent before the pause held it) went as a few calls.
  CHECK(evalsha_calls() - calls_before <= 4);
}

TEST_CASE("Redis ledger, what an earlier version left in Redis is taken over") {
  const int port = RedisServer::shared().port();
  static int run = 0;  // each subcase on keys of its own
  const std::string prefix =
      "earlier" + std::to_string(::getpid()) + "-" + std::to_string(run++) + ":";
  auto ledger = budget::make_redis_ledger(RedisServer::shared().url(), prefix);
  budget::SharedLedger::Part part;
  part.budget = "daily";
  part.period = 1;
  part.limit = 10 * k_usd;
  const std::string counter = prefix + "{daily}::1";

  SUBCASE("a calendar counter kept as a hash becomes a string, its amounts and TTL kept") {
    CHECK(redis_command(port, {"HSET", counter, "s", "2000000", "r", "1000000"}) == "2");
    CHECK(redis_command(port, {"EXPIRE", counter, "5000"}) == "1");
    const auto r = await_callback<budget::SharedLedger::Reservation>(
        [&](auto done) { ledger->reserve(1, {part}, k_usd, 60'000, done); });
    REQUIRE(r.outcome == budget::SharedLedger::Reservation::Outcome::admitted);
    REQUIRE(r.counters.size() == 1);
    CHECK(r.counters[0].spent == 2 * k_usd);
    CHECK(r.counters[0].reserved == 2 * k_usd);
    CHECK(redis_command(port, {"TYPE", counter}) == "string");
    const auto ttl = std::stol(redis_command(port, {"TTL", counter}));
    CHECK(ttl > 4900);
    CHECK(ttl <= 5000);
    using Spent = std::optional<std::vector<std::int64_t>>;
    CHECK(await_callback<Spent>([&](auto done) { ledger->close(1, 400'000, {}, done); }) ==
          Spent(std::vector<std::int64_t>{2'400'000}));
    const auto counters = ledger->read({part});
    REQUIRE(counters);
    CHECK((*counters)[0].spent == 2'400'000);
    CHECK((*counters)[0].reserved == k_usd);  // the earlier version's own hold
  }
  SUBCASE("an expired hold kept as a hash is settled at its estimate, once") {
    CHECK(redis_command(port, {"HSET", counter, "s", "0", "r", "1000000"}) == "2");
    CHECK(redis_command(port, {"HSET", prefix + "hold:5", "est", "1000000", "keys", counter}) ==
          "2");
    CHECK(redis_command(port, {"ZADD", prefix + "holds", "1", "5"}) == "1");  // long past
    ledger->settle_expired();
    const auto counters = ledger->read({part});  // queued behind the sweep
    REQUIRE(counters);
    CHECK((*counters)[0].spent == k_usd);
    CHECK((*counters)[0].reserved == 0);
    CHECK(redis_command(port, {"ZCARD", prefix + "holds"}) == "0");
    CHECK(redis_command(port, {"EXISTS", prefix + "hold:5"}) == "0");
    // Its close, arriving late, finds it settled.
    using Spent = std::optional<std::vector<std::int64_t>>;
    CHECK(await_callback<Spent>([&](auto done) { ledger->close(5, 1, {part}, done); }) ==
          Spent(std::vector<std::int64_t>{}));
    CHECK((*ledger->read({part}))[0].spent == k_usd);
  }
}

TEST_CASE("Redis outbox, rows an earlier version kept are replayed as it meant them") {
  const auto path = std::filesystem::temp_directory_path() /
                    ("tollgate-outbox-" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(path);
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db,
                         "CREATE TABLE closes (hold INTEGER PRIMARY KEY, actual TEXT NOT NULL, "
                         "keys TEXT NOT NULL, ttls TEXT NOT NULL);"
                         "INSERT INTO closes VALUES (1, '500000', 'x:{daily}::1', '100');"
                         "INSERT INTO closes VALUES (2, '-1', '', '');",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  budget::RedisOutbox outbox(path.string());
  auto rows = outbox.all();
  REQUIRE(rows.size() == 2);
  // Keys were given only for a hold admitted without Redis.
  CHECK(rows[0].unreserved);
  CHECK(rows[0].keys == std::vector<std::string>{"x:{daily}::1"});
  CHECK(rows[0].member.empty());
  CHECK_FALSE(rows[1].unreserved);
  budget::PendingClose c;
  c.hold = 3;
  c.member = "3\n1000000\n0:0\nx:{daily}::1";
  c.estimate = "1000000";
  c.actual = "250000";
  c.keys = {"x:{daily}::1"};
  c.key_ttls = {100};
  c.key_windows = {0};
  c.key_buckets = {0};
  c.breaker_keys = {"x:breaker{spike}", "x:breaker{a,b}"};
  c.breaker_args = {100'000'000, 3600, 6, 600'000, 5, 60, 1, 1000};
  REQUIRE(outbox.add({c}));
  rows = outbox.all();
  REQUIRE(rows.size() == 3);
  CHECK(rows[2].member == c.member);
  CHECK(rows[2].breaker_keys == c.breaker_keys);
  CHECK(rows[2].breaker_args == c.breaker_args);
  CHECK(rows[0].breaker_keys.empty());
  CHECK(rows[2].estimate == "1000000");
  CHECK_FALSE(rows[2].unreserved);
  std::filesystem::remove(path);
}

// A shared rate limit while Redis is away, with on_error: allow: not dropped, but held by this
// process's own bucket until Redis is back.
TEST_CASE("Redis store, a shared rate limit falls back to the process's bucket in an outage") {
  ManualClock clock;
  RedisServer server;
  auto config = redis_config(base_config(), server.url());
  config->store.redis.fail_open = true;
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day)};
  config->rate_limits = {rate_limit("rpm", 3, std::chrono::minutes(1), true)};
  auto e = budget::make_enforcer(config, clock);
  REQUIRE(eventually([&] { return e->store_healthy(); }));
  server.stop();
  REQUIRE(eventually([&] { return !e->store_healthy(); }));
  for (int i = 0; i < 3; ++i) {
    const auto a = admit(*e, openai(1));
    CHECK(a.admitted);
    settle(*e, a.hold, 1);
  }
  const auto refused = admit(*e, openai(1));
  CHECK_FALSE(refused.admitted);
  CHECK(refused.refused_by == budget::RefusedBy::rate);
  CHECK(refused.message ==
        "rate limit \"rpm\" reached: 3 requests per 1m; next request allowed in 20s");
  clock.advance(20s);  // the process's bucket refills by the process's clock
  CHECK(admit(*e, openai(1)).admitted);
}

// A settlement made while Redis is away reaches a shared breaker's window too, once, when the
// outbox replays it.
TEST_CASE("Redis store, a shared breaker counts the settlements of an outage once Redis is back") {
  ManualClock clock;
  RedisServer server({"--appendonly", "yes", "--appendfsync", "always"});
  auto config = redis_config(base_config(), server.url());
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day)};
  config->breakers = {spend_breaker("spike", 2 * k_usd, std::chrono::minutes(10), true)};
  TempDir data;
  config->data_dir = data.path.string();
  auto e = budget::make_enforcer(config, clock);
  REQUIRE(eventually([&] { return e->store_healthy(); }));
  const auto a = admit(*e, openai(k_usd));
  const auto b = admit(*e, openai(k_usd));
  REQUIRE(a.admitted);
  REQUIRE(b.admitted);
  settle(*e, a.hold, 1'500'000);
  server.stop();
  settle(*e, b.hold, 1'000'000);  // kept in the outbox
  CHECK(events_of(*e, "breaker").empty());
  server.start();
  REQUIRE(eventually([&] { return !events_of(*e, "breaker").empty(); }));
  CHECK(events_of(*e, "breaker")[0].message ==
        "breaker \"spike\" opened: 2.5 usd spent within 1h (limit 2)");
  CHECK(admit(*e, openai(1)).refused_by == budget::RefusedBy::breaker);
  CHECK(standing(*e, "daily").spent == 2'500'000);
}

// With on_error: allow, a shared breaker is not dropped while Redis is away: the process holds
// it alone over what it admits meanwhile, as it does a shared rate limit.
TEST_CASE("Redis store, a shared breaker falls back to the process's own in an outage") {
  ManualClock clock;
  RedisServer server;
  auto config = redis_config(base_config(), server.url());
  config->store.redis.fail_open = true;
  config->breakers = {spend_breaker("spike", 2 * k_usd, std::chrono::minutes(10), true)};
  auto e = budget::make_enforcer(config, clock);
  REQUIRE(eventually([&] { return e->store_healthy(); }));
  server.stop();
  REQUIRE(eventually([&] { return !e->store_healthy(); }));
  settle(*e, admit(*e, openai(k_usd)).hold, 1'500'000);
  settle(*e, admit(*e, openai(k_usd)).hold, 1'000'000);  // 2.5 in the process's window
  CHECK(e->breakers().at(0).open);
  const auto refused = admit(*e, openai(1));  // by the process's clock: closes in 10 min
  CHECK(refused.message ==
        "breaker \"spike\" is open: spend over 2 usd within 1h; closes 2026-11-23T12:10:00Z (in "
        "10m)");
  CHECK(refused.refused_by == budget::RefusedBy::breaker);
  clock.advance(std::chrono::minutes(10));  // the process's cooldown, by its clock
  const auto trial = admit(*e, openai(1));
  REQUIRE(trial.admitted);
  CHECK_FALSE(admit(*e, openai(1)).admitted);
  settle(*e, trial.hold, 1);
  CHECK(admit(*e, openai(1)).admitted);
  // Redis back: it decides again. The outage's settlements reach its window from the outbox and
  // open it there too.
  settle(*e, admit(*e, openai(k_usd)).hold, 3 * k_usd);  // opens the fallback again
  CHECK(e->breakers().at(0).open);
  server.start();
  REQUIRE(eventually([&] { return e->store_healthy(); }));
  CHECK(eventually([&] { return e->breakers().at(0).open; }));
  CHECK(admit(*e, openai(1)).refused_by == budget::RefusedBy::breaker);
  // Closed in Redis (an operator deletes its state): closed here, though the fallback is open.
  CHECK(redis_command(server.port(), {"DEL", config->store.redis.prefix + "breaker{spike}"}) ==
        "1");
  CHECK_FALSE(e->breakers().at(0).open);
  CHECK(admit(*e, openai(1)).admitted);
}
