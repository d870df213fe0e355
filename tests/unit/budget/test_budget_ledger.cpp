// The store conformance suite: every ledger behaviour, run on each backend (memory, sqlite).
#include <doctest/doctest.h>

#include <future>
#include <thread>

#include "budget_test_support.hpp"

using namespace budget_test;
using Kind = rules::Period::Kind;

TEST_CASE_TEMPLATE("Enforcer::admit, all or nothing across budgets", T, Memory, Sqlite, Redis) {
  ManualClock clock;
  auto config = base_config();
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day),
                     budget_config("small", 3 * k_usd, Kind::day)};
  auto b = backend(T::name);
  auto e = b.open(config, clock);

  const auto first = admit(*e, openai(2 * k_usd));
  REQUIRE(first.admitted);
  CHECK(first.hold != 0);
  REQUIRE(first.budgets.size() == 2);
  CHECK(standing(*e, "daily").reserved == 2 * k_usd);
  CHECK(standing(*e, "small").reserved == 2 * k_usd);

  SUBCASE("one budget short refuses the request and reserves nothing anywhere") {
    const auto second = admit(*e, openai(2 * k_usd));
    CHECK_FALSE(second.admitted);
    CHECK(second.hold == 0);
    CHECK(second.refused_by == budget::RefusedBy::budget);
    CHECK(second.name == "small");
    CHECK(second.message ==
          "budget \"small\" would be exceeded: estimate 2 usd, remaining 1 usd of 3 usd, deficit 1 "
          "usd; "
          "resets at 2026-11-24T00:00:00Z (in 12h)");
    CHECK(second.retry_after_s == 12 * 3600);
    CHECK_FALSE(second.should_retry);
    CHECK(standing(*e, "daily").reserved == 2 * k_usd);
    CHECK(standing(*e, "small").reserved == 2 * k_usd);
    const auto refused = events_of(*e, "refused");
    REQUIRE(refused.size() == 1);
    CHECK(refused[0].budget == "small");
    CHECK(refused[0].message == second.message);
  }
  SUBCASE("another currency falls in no budget") {
    auto r = openai(50 * k_usd);
    r.estimate.currency = "eur";
    const auto a = admit(*e, r);
    CHECK(a.admitted);
    CHECK(a.budgets.empty());
    CHECK(a.hold != 0);
    settle(*e, a.hold, 50 * k_usd);
    CHECK(standing(*e, "daily").spent == 0);
  }
  SUBCASE("a match filter keeps other providers out") {
    config->budgets[1].match.provider = {"anthropic"};
    e->apply_config(config);
    const auto a = admit(*e, openai(5 * k_usd));
    CHECK(a.admitted);
    REQUIRE(a.budgets.size() == 1);
    CHECK(a.budgets[0].name == "daily");
  }
}

TEST_CASE_TEMPLATE("Enforcer::admit, exact under 16 concurrent threads", T, Memory, Sqlite, Redis) {
  ManualClock clock;
  auto config = base_config();
  const std::int64_t estimate = 30'150;  // 0.03015 usd
  const std::int64_t limit = 5 * k_usd;
  config->budgets = {budget_config("daily", limit, Kind::day)};
  auto b = backend(T::name);
  auto e = b.open(config, clock);

  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 40; ++i) {
        const auto a = admit(*e, openai(estimate));
        if (a.admitted) ++admitted;
        const auto s = standing(*e, "daily");
        CHECK(s.spent + s.reserved <= limit);
      }
    });
  for (auto& th : threads) th.join();
  CHECK(admitted.load() == limit / estimate);  // floor(5 / 0.03015) = 165
  CHECK(standing(*e, "daily").reserved == (limit / estimate) * estimate);
}

TEST_CASE_TEMPLATE("Enforcer::settle, actual replaces the estimate", T, Memory, Sqlite, Redis) {
  ManualClock clock;
  auto config = base_config();
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day)};
  auto b = backend(T::name);
  auto e = b.open(config, clock);
  const auto a = admit(*e, openai(2 * k_usd));
  REQUIRE(a.admitted);

  SUBCASE("below the estimate") {
    settle(*e, a.hold, 500'000);
    CHECK(standing(*e, "daily").spent == 500'000);
    CHECK(standing(*e, "daily").reserved == 0);
    CHECK(events_of(*e, "overrun").empty());
  }
  SUBCASE("above the estimate: charged in full and recorded as an overrun") {
    settle(*e, a.hold, 3 * k_usd);
    CHECK(standing(*e, "daily").spent == 3 * k_usd);
    const auto overruns = events_of(*e, "overrun");
    REQUIRE(overruns.size() == 1);
    CHECK(overruns[0].message == "actual cost 3 usd exceeded the estimate 2 usd");
  }
  SUBCASE("a second settle of the same hold is a no-op") {
    settle(*e, a.hold, k_usd);
    settle(*e, a.hold, k_usd);
    CHECK(standing(*e, "daily").spent == k_usd);
  }
  SUBCASE("release drops the hold without charging") {
    release(*e, a.hold);
    release(*e, a.hold);
    CHECK(standing(*e, "daily").spent == 0);
    CHECK(standing(*e, "daily").reserved == 0);
  }
  SUBCASE("an unknown hold is a no-op") {
    settle(*e, 987654, k_usd);
    CHECK(standing(*e, "daily").spent == 0);
    CHECK(standing(*e, "daily").reserved == 2 * k_usd);
  }
}

TEST_CASE_TEMPLATE("Enforcer::admit, an expired hold is settled at its estimate", T, Memory,
                   Sqlite) {
  ManualClock clock;
  auto config = base_config();
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day)};
  auto b = backend(T::name);
  auto e = b.open(config, clock);
  const auto a = admit(*e, openai(2 * k_usd));
  REQUIRE(a.admitted);
  clock.advance(budget::k_hold_ttl - 1s);
  CHECK(admit(*e, openai(0)).admitted);
  CHECK(standing(*e, "daily").reserved == 2 * k_usd);
  clock.advance(2s);
  CHECK(admit(*e, openai(0)).admitted);  // whoever comes next finds it expired
  CHECK(standing(*e, "daily").spent == 2 * k_usd);
  CHECK(standing(*e, "daily").reserved == 0);
  settle(*e, a.hold, 5 * k_usd);  // too late: already settled, never counted twice
  CHECK(standing(*e, "daily").spent == 2 * k_usd);
}

TEST_CASE_TEMPLATE("Enforcer::admit, one instance per key", T, Memory, Sqlite, Redis) {
  ManualClock clock;
  auto config = base_config();
  auto b = backend(T::name);

  SUBCASE("per client") {
    config->budgets = {budget_config("team", 1 * k_usd, Kind::day, "client")};
    auto e = b.open(config, clock);
    CHECK(admit(*e, openai(k_usd, "team-a")).admitted);
    CHECK(admit(*e, openai(k_usd, "team-b")).admitted);
    const auto refused = admit(*e, openai(k_usd, "team-a"));
    CHECK_FALSE(refused.admitted);
    CHECK(refused.message.starts_with("budget \"team\" (key \"team-a\") would be exceeded"));
    CHECK(standing(*e, "team", "team-b").reserved == k_usd);
  }
  SUBCASE("per header, a missing header shares the (none) instance") {
    auto session = budget_config("session", 5 * k_usd, Kind::total, "header:X-Session-Id");
    session.idle_expiry = std::chrono::minutes(30);
    config->budgets = {session};
    auto e = b.open(config, clock);
    rules::HeaderList s1{{"x-session-id", "s1"}}, s2{{"X-Session-Id", "s2"}};
    const auto a = admit(*e, openai(4 * k_usd, "", &s1));
    REQUIRE(a.admitted);
    settle(*e, a.hold, 4 * k_usd);
    CHECK_FALSE(admit(*e, openai(2 * k_usd, "", &s1)).admitted);
    const auto other = admit(*e, openai(2 * k_usd, "", &s2));
    CHECK(other.admitted);
    CHECK(admit(*e, openai(k_usd)).admitted);
    CHECK(standing(*e, "session", "(none)").reserved == k_usd);
    CHECK(standing(*e, "session", "s1").resets_at == TimePoint::max());
    settle(*e, other.hold, 0);

    SUBCASE("an idle instance is dropped after idle_expiry") {
      clock.advance(31min);
      CHECK(admit(*e, openai(0, "", &s2)).admitted);
      bool s1_present = false;
      for (const auto& s : e->budgets()) s1_present |= s.key == "s1";
      CHECK_FALSE(s1_present);
    }
  }
}

TEST_CASE_TEMPLATE("Enforcer::settle, thresholds fire once each, in order", T, Memory, Sqlite,
                   Redis) {
  ManualClock clock;
  auto config = base_config();
  auto daily = budget_config("daily", 10 * k_usd, Kind::day);
  daily.alerts = {50, 80, 100};
  config->budgets = {daily};
  auto b = backend(T::name);
  auto e = b.open(config, clock);
  auto spend = [&](std::int64_t amount) {
    const auto a = admit(*e, openai(amount));
    REQUIRE(a.admitted);
    settle(*e, a.hold, amount);
  };
  spend(4 * k_usd);
  CHECK(events_of(*e, "threshold").empty());
  spend(k_usd + 1);  // past 50 %
  spend(1);
  spend(5 * k_usd - 2);  // 10 usd: past 80 and 100 at once
  const auto fired = events_of(*e, "threshold");
  REQUIRE(fired.size() == 3);
  CHECK(fired[0].message == "budget \"daily\" reached 50% of 10 usd: spent 5.000001 usd");
  CHECK(fired[0].detail_json ==
        "{\"percent\":50,\"spent\":\"5.000001\",\"limit\":\"10\",\"currency\":\"usd\"}");
  CHECK(fired[1].message == "budget \"daily\" reached 80% of 10 usd: spent 10 usd");
  CHECK(fired[2].message == "budget \"daily\" reached 100% of 10 usd: spent 10 usd");
  CHECK(fired[1].id < fired[2].id);

  SUBCASE("the next period fires them again") {
    clock.set(ManualClock::parse("2026-11-24T00:00:01Z"));
    spend(6 * k_usd);
    CHECK(events_of(*e, "threshold").size() == 4);
  }
}

TEST_CASE_TEMPLATE("Enforcer::admit, shadow mode refuses nothing and records it", T, Memory,
                   Sqlite) {
  ManualClock clock;
  auto config = base_config();
  auto trial = budget_config("trial", k_usd, Kind::day);
  trial.shadow = true;
  config->budgets = {trial};
  auto b = backend(T::name);
  auto e = b.open(config, clock);
  const auto a = admit(*e, openai(800'000));
  REQUIRE(a.admitted);
  settle(*e, a.hold, 800'000);
  const auto over = admit(*e, openai(300'000));
  CHECK(over.admitted);
  CHECK(over.shadow_refusals == std::vector<std::string>{"trial"});
  CHECK(standing(*e, "trial").reserved == 300'000);
  CHECK(standing(*e, "trial").mode == "shadow");
  const auto would = events_of(*e, "would_refuse");
  REQUIRE(would.size() == 1);
  CHECK(would[0].message ==
        "budget \"trial\" would be exceeded: estimate 0.3 usd, remaining 0.2 usd of 1 usd, deficit "
        "0.1 usd; "
        "resets at 2026-11-24T00:00:00Z (in 12h)");
  CHECK(events_of(*e, "refused").empty());
}

TEST_CASE_TEMPLATE("Enforcer admin, reset, limit and override", T, Memory, Sqlite, Redis) {
  ManualClock clock;
  auto config = base_config();
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day, "client")};
  auto b = backend(T::name);
  auto e = b.open(config, clock);
  for (const char* client : {"a", "b"}) {
    const auto a = admit(*e, openai(4 * k_usd, client));
    settle(*e, a.hold, 4 * k_usd);
  }

  SUBCASE("reset one key") {
    CHECK(e->reset("daily", "a", "admin@127.0.0.1"));
    CHECK(standing(*e, "daily", "a").spent == 0);
    CHECK(standing(*e, "daily", "b").spent == 4 * k_usd);
    const auto admin = events_of(*e, "admin");
    REQUIRE(admin.size() == 1);
    CHECK(admin[0].message == "budget \"daily\" (key \"a\") reset by admin@127.0.0.1");
    CHECK(admin[0].detail_json ==
          "{\"action\":\"reset\",\"who\":\"admin@127.0.0.1\",\"before\":{\"a\":\"4\"},\"after\":{"
          "\"a\":\"0\"}}");
  }
  SUBCASE("reset every key") {
    CHECK(e->reset("daily", "", "ops"));
    CHECK(standing(*e, "daily", "a").spent == 0);
    CHECK(standing(*e, "daily", "b").spent == 0);
  }
  SUBCASE("unknown budget") {
    CHECK_FALSE(e->reset("nope", "", "ops"));
    CHECK_FALSE(e->set_limit("nope", k_usd, "ops"));
    CHECK_FALSE(e->add_override({"nope", "", k_usd, clock.now() + 1h, "x"}, "ops"));
    CHECK(events_of(*e, "admin").empty());
  }
  SUBCASE("runtime limit applies at once") {
    CHECK_FALSE(admit(*e, openai(7 * k_usd, "a")).admitted);
    CHECK(e->set_limit("daily", 12 * k_usd, "ops"));
    CHECK(standing(*e, "daily", "a").limit == 12 * k_usd);
    CHECK(admit(*e, openai(7 * k_usd, "a")).admitted);
    CHECK(events_of(*e, "admin").at(0).message ==
          "budget \"daily\" limit set from 10 to 12 by ops");
  }
  SUBCASE("an override adds headroom until it ends") {
    CHECK(e->add_override({"daily", "a", 5 * k_usd, clock.now() + 1h, "launch day"}, "ops"));
    CHECK(standing(*e, "daily", "a").overrides == 5 * k_usd);
    CHECK(standing(*e, "daily", "b").overrides == 0);
    const auto a = admit(*e, openai(10 * k_usd, "a"));
    CHECK(a.admitted);
    release(*e, a.hold);
    clock.advance(1h);
    CHECK_FALSE(admit(*e, openai(10 * k_usd, "a")).admitted);
  }
}

TEST_CASE_TEMPLATE("Enforcer::apply_config, budgets keep their spent amounts", T, Memory, Sqlite,
                   Redis) {
  ManualClock clock;
  auto config = base_config();
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day),
                     budget_config("other", 10 * k_usd, Kind::day)};
  auto b = backend(T::name);
  auto e = b.open(config, clock);
  const auto a = admit(*e, openai(4 * k_usd));
  settle(*e, a.hold, 4 * k_usd);

  auto next = base_config();
  next->budgets = {budget_config("daily", 5 * k_usd, Kind::day)};
  e->apply_config(next);
  CHECK(standing(*e, "daily").spent == 4 * k_usd);
  CHECK(standing(*e, "daily").limit == 5 * k_usd);
  CHECK_THROWS(standing(*e, "other"));
  CHECK_FALSE(admit(*e, openai(2 * k_usd)).admitted);
}

// A callback goes on with its request, which may call straight back into the enforcer: it never
// runs under the enforcer's lock, not even when the store completes the write at once (memory).
TEST_CASE_TEMPLATE("Enforcer, a callback may call straight back into the enforcer", T, Memory,
                   Sqlite, Redis) {
  ManualClock clock;
  auto config = base_config();
  auto hourly = budget_config("hourly", 10 * k_usd, Kind::rolling);
  hourly.period.rolling = 1h;
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day), hourly};
  auto b = backend(T::name);
  auto e = b.open(config, clock);

  std::promise<std::int64_t> settled;
  auto spent = settled.get_future();
  e->admit(openai(2 * k_usd), [&](budget::Admission a) {
    e->settle(a.hold, k_usd, [&] { settled.set_value(standing(*e, "hourly").spent); });
  });
  REQUIRE(spent.wait_for(10s) == std::future_status::ready);
  CHECK(spent.get() == k_usd);
  CHECK(standing(*e, "daily").spent == k_usd);
}

TEST_CASE("Enforcer::admit, refusal events are sampled per second with counts") {
  ManualClock clock;
  auto config = base_config();
  config->budgets = {budget_config("daily", k_usd, Kind::day)};
  auto e = budget::make_enforcer(config, clock);
  for (int i = 0; i < 25; ++i) CHECK_FALSE(admit(*e, openai(2 * k_usd)).admitted);
  CHECK(events_of(*e, "refused").size() == budget::k_refusal_events_per_second);
  clock.advance(1s);
  CHECK_FALSE(admit(*e, openai(2 * k_usd)).admitted);
  const auto refused = events_of(*e, "refused");
  REQUIRE(refused.size() == budget::k_refusal_events_per_second + 1);
  CHECK(
      refused.front().detail_json ==
      "{\"refused_by\":\"budget\",\"name\":\"daily\",\"provider\":\"openai\",\"endpoint\":\"chat\","
      "\"estimate\":\"2\",\"suppressed_before\":0}");
  CHECK(refused.back().detail_json.ends_with("\"suppressed_before\":15}"));
}
