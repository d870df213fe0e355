// Redis: rolling windows shared by several tollgate processes, slid by Redis's clock (TIME), kept
// across restarts. The sidecars' clock here is a ManualClock that never moves: whatever slides,
// Redis's clock slid it, so these tests wait in real time (windows of a few seconds).
#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include <thread>

#include "budget/store/shared_ledger.hpp"
#include "budget_test_support.hpp"

using namespace budget_test;
using Kind = rules::Period::Kind;
using Part = budget::SharedLedger::Part;

namespace {

rules::BudgetConfig rolling(const std::string& name, std::int64_t limit,
                            std::chrono::milliseconds window) {
  auto b = budget_config(name, limit, Kind::rolling);
  b.period.rolling = window;
  return b;
}

}  // namespace

TEST_CASE("SharedLedger::rolling_bucket, a second up to ten minutes, then 1/600 window") {
  CHECK(budget::SharedLedger::rolling_bucket(1) == 1);
  CHECK(budget::SharedLedger::rolling_bucket(600) == 1);
  CHECK(budget::SharedLedger::rolling_bucket(601) == 2);
  CHECK(budget::SharedLedger::rolling_bucket(3600) == 6);
  CHECK(budget::SharedLedger::rolling_bucket(86'400) == 144);
  CHECK(budget::SharedLedger::rolling_bucket(30 * 86'400) == 4320);
}

TEST_CASE("Redis store, two sidecars share a rolling window exactly") {
  ManualClock clock;
  auto config = redis_config(base_config(), RedisServer::shared().url());
  const std::int64_t estimate = 30'150, limit = 2 * k_usd;
  config->budgets = {rolling("recent", limit, 1h)};
  auto a = budget::make_enforcer(config, clock);
  auto b = budget::make_enforcer(config, clock);

  SUBCASE("8 threads on each, against one limit") {
    std::atomic<int> admitted{0};
    on_two_sidecars(*a, *b, [&](budget::Enforcer& e, int i) {
      const auto got = admit(e, openai(estimate));
      if (!got.admitted) return;
      ++admitted;
      settle(e, got.hold, i % 2 ? estimate : estimate - 1);  // spent, not reserved
    });
    CHECK(admitted.load() >= limit / estimate);  // settled below the estimate: a few more fit
    const auto seen = standing(*a, "recent");
    CHECK(seen.spent <= limit);
    CHECK(seen.reserved == 0);
    CHECK(standing(*b, "recent").spent == seen.spent);
  }
  SUBCASE("one sidecar's spend refuses the other's request, until it leaves the window") {
    settle(*a, admit(*a, openai(k_usd)).hold, 1'500'000);
    const auto refused = admit(*b, openai(700'000));
    CHECK_FALSE(refused.admitted);
    CHECK(refused.message.starts_with(
        "budget \"recent\" would be exceeded: estimate 0.7 usd, remaining 0.5 usd of 2 usd, "
        "deficit 0.2 usd; resets at "));
    // Reset when the charge leaves the window: an hour from now, and at most its 6-second
    // bucket (and the second Redis's TIME rounds down) longer.
    REQUIRE(refused.retry_after_s);
    CHECK(*refused.retry_after_s >= 3599);
    CHECK(*refused.retry_after_s <= 3607);
    CHECK(standing(*b, "recent").spent == 1'500'000);
  }
  SUBCASE("per-client instances are windows of their own") {
    config->budgets = {[] {
      auto r = rolling("recent", 2 * k_usd, 1h);
      r.per = "client";
      return r;
    }()};
    a = budget::make_enforcer(config, clock);
    b = budget::make_enforcer(config, clock);
    settle(*a, admit(*a, openai(k_usd, "team-a")).hold, 2 * k_usd);
    CHECK_FALSE(admit(*b, openai(1, "team-a")).admitted);
    CHECK(admit(*b, openai(k_usd, "team-b")).admitted);
  }
}

TEST_CASE("Redis store, a rolling window slides by Redis's clock and outlives the sidecars") {
  ManualClock clock;  // never moved: only Redis's clock slides the window
  auto config = redis_config(base_config(), RedisServer::shared().url());
  config->budgets = {rolling("recent", 2 * k_usd, 2s)};
  auto a = budget::make_enforcer(config, clock);
  auto b = budget::make_enforcer(config, clock);

  SUBCASE("a charge counts for at least the window, then leaves it") {
    settle(*a, admit(*a, openai(k_usd)).hold, 2 * k_usd);
    const auto charged = std::chrono::steady_clock::now();
    CHECK_FALSE(admit(*b, openai(1)).admitted);
    // Never under-counted: refused for the whole window after the charge.
    std::this_thread::sleep_until(charged + 1900ms);
    CHECK_FALSE(admit(*b, openai(1)).admitted);
    CHECK(standing(*b, "recent").spent == 2 * k_usd);
    // Kept at most a bucket (a second) longer than the window.
    std::this_thread::sleep_until(charged + 3100ms);
    CHECK(standing(*b, "recent").spent == 0);
    const auto again = admit(*b, openai(2 * k_usd));
    CHECK(again.admitted);
    release(*b, again.hold);
  }
  SUBCASE("restarted sidecars find the window's spend in Redis") {
    settle(*a, admit(*a, openai(k_usd)).hold, 1'200'000);
    a.reset();
    b.reset();
    auto c = budget::make_enforcer(config, clock);
    CHECK(standing(*c, "recent").spent == 1'200'000);
    CHECK_FALSE(admit(*c, openai(k_usd)).admitted);
    CHECK(admit(*c, openai(800'000)).admitted);
  }
  SUBCASE("a hold abandoned by a sidecar is charged to the window at its estimate") {
    auto short_ttl = std::make_shared<rules::Config>(*config);
    short_ttl->store.hold_ttl = 300ms;
    a = budget::make_enforcer(short_ttl, clock);
    REQUIRE(admit(*a, openai(700'000)).admitted);
    a.reset();  // the sidecar dies without settling
    std::this_thread::sleep_for(400ms);
    clock.advance(2s);  // b's sweep runs at most once a second by its clock
    b->recover();
    CHECK(eventually([&] {
      const auto s = standing(*b, "recent");
      return s.spent == 700'000 && s.reserved == 0;
    }));
  }
  SUBCASE("a reset empties the window for every sidecar") {
    settle(*a, admit(*a, openai(k_usd)).hold, 2 * k_usd);
    CHECK(b->reset("recent", "", "ops"));
    CHECK(standing(*a, "recent").spent == 0);
    CHECK(admit(*a, openai(k_usd)).admitted);
  }
}

TEST_CASE("Redis store, a rolling window's keys: one hash per instance, buckets, a relative TTL") {
  ManualClock clock(ManualClock::parse("2019-03-01T12:00:00Z"));  // far from Redis's clock
  auto config = redis_config(base_config(), RedisServer::shared().url());
  config->budgets = {rolling("hourly", 10 * k_usd, 1h)};
  auto e = budget::make_enforcer(config, clock);
  settle(*e, admit(*e, openai(k_usd)).hold, 300'000);
  settle(*e, admit(*e, openai(k_usd)).hold, 200'000);

  const std::string& prefix = config->store.redis.prefix;
  const auto keys = redis_reply(RedisServer::shared().port(), {"KEYS", prefix + "{hourly}:*"});
  REQUIRE(keys.size() == 1);
  CHECK(keys[0] == prefix + "{hourly}::rolling");
  const auto ttl = std::stoll(redis_reply(RedisServer::shared().port(), {"TTL", keys[0]}).at(0));
  CHECK(ttl > 3600 + 86'400 - 60);  // a day past the window, counted by Redis
  CHECK(ttl <= 3600 + 86'400);
  CHECK(redis_reply(RedisServer::shared().port(), {"HMGET", keys[0], "w", "g", "s", "r"}) ==
        std::vector<std::string>{"3600", "6", "500000", "0"});
  // Both charges in one 6-second bucket (or two, when they straddle its end), named by its last
  // second on Redis's clock.
  const auto now = std::stoll(redis_reply(RedisServer::shared().port(), {"TIME"}).at(0));
  std::int64_t in_buckets = 0;
  const auto fields = redis_reply(RedisServer::shared().port(), {"HGETALL", keys[0]});
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    if (fields[i][0] != 'b') continue;
    const auto last = std::stoll(fields[i].substr(1));
    CHECK((last + 1) % 6 == 0);
    CHECK(last >= now - 6);
    CHECK(last < now + 6);
    in_buckets += std::stoll(fields[i + 1]);
  }
  CHECK(in_buckets == 500'000);
}

TEST_CASE("Redis ledger, rolling windows: closes charged without a reservation, counted once") {
  static int run = 0;
  auto ledger =
      budget::make_redis_ledger(RedisServer::shared().url(), "roll" + std::to_string(::getpid()) +
                                                                 "-" + std::to_string(run++) + ":");
  Part part;
  part.budget = "recent";
  part.period = budget::SharedLedger::k_rolling;
  part.limit = 10 * k_usd;
  part.ttl = 2 + 86'400;
  part.window = 2;
  part.bucket = 1;
  using Spent = std::optional<std::vector<std::int64_t>>;
  const auto close = [&](std::uint64_t hold, std::optional<std::int64_t> actual,
                         std::vector<Part> unreserved) {
    return await_callback<Spent>([&](auto done) { ledger->close(hold, actual, unreserved, done); });
  };
  const auto reserve = [&](std::uint64_t hold, std::int64_t estimate) {
    return await_callback<budget::SharedLedger::Reservation>(
        [&](auto done) { ledger->reserve(hold, {part}, estimate, 60'000, done); });
  };

  SUBCASE("reserved, then closed twice") {
    const auto r = reserve(1, 4 * k_usd);
    REQUIRE(r.outcome == budget::SharedLedger::Reservation::Outcome::admitted);
    CHECK(r.counters.at(0).reserved == 4 * k_usd);
    CHECK(close(1, 3 * k_usd, {}) == Spent(std::vector<std::int64_t>{3 * k_usd}));
    CHECK(close(1, 3 * k_usd, {}) == Spent(std::vector<std::int64_t>{}));
    const auto counters = ledger->read({part});
    REQUIRE(counters);
    CHECK((*counters)[0].spent == 3 * k_usd);
    CHECK((*counters)[0].reserved == 0);
    CHECK((*counters)[0].leaves_in >= 2);
    CHECK((*counters)[0].leaves_in <= 3);
    CHECK(reserve(2, 8 * k_usd).outcome == budget::SharedLedger::Reservation::Outcome::refused);
  }
  SUBCASE("admitted while Redis was away: charged to the window when it closes, once") {
    CHECK(close(3, 500'000, {part}) == Spent(std::vector<std::int64_t>{500'000}));
    CHECK(close(3, 500'000, {part}) == Spent(std::vector<std::int64_t>{}));
    std::this_thread::sleep_for(3100ms);
    const auto counters = ledger->read({part});
    REQUIRE(counters);
    CHECK((*counters)[0].spent == 0);
    CHECK((*counters)[0].leaves_in == 0);
  }
}
