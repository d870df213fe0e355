// Redis: budgets shared exactly by several tollgate processes, and what happens when Redis fails.
#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include <thread>

#include "budget_test_support.hpp"

using namespace budget_test;
using Kind = rules::Period::Kind;

TEST_CASE("Redis store, two sidecars share one budget exactly") {
  ManualClock clock;
  auto config = redis_config(base_config(), RedisServer::shared().url());
  const std::int64_t estimate = 30'150, limit = 2 * k_usd;
  config->budgets = {budget_config("daily", limit, Kind::day)};
  auto a = budget::make_enforcer(config, clock);
  auto b = budget::make_enforcer(config, clock);

  SUBCASE("8 threads on each, against one limit") {
    std::atomic<int> admitted{0};
    on_two_sidecars(*a, *b, [&](budget::Enforcer& e, int) {
      if (admit(e, openai(estimate)).admitted) ++admitted;
    });
    CHECK(admitted.load() == limit / estimate);  // floor(2 / 0.03015) = 66
  }
  SUBCASE("one sidecar's spend refuses the other's request") {
    const auto first = admit(*a, openai(1'500'000));
    REQUIRE(first.admitted);
    settle(*a, first.hold, 1'400'000);
    const auto refused = admit(*b, openai(700'000));
    CHECK_FALSE(refused.admitted);
    CHECK(refused.message ==
          "budget \"daily\" would be exceeded: estimate 0.7 usd, remaining 0.6 usd of 2 usd, "
          "deficit 0.1 usd; resets at 2026-11-24T00:00:00Z (in 12h)");
    CHECK(standing(*b, "daily").spent == 1'400'000);
  }
  SUBCASE("a hold abandoned by one sidecar is settled at its estimate by the other") {
    // Hold deadlines run on Redis's clock: a short hold_ttl and a real wait, since moving this
    // process's clock must not (and does not) expire anything.
    auto short_ttl = std::make_shared<rules::Config>(*config);
    short_ttl->store.hold_ttl = 300ms;
    a = budget::make_enforcer(short_ttl, clock);
    const auto held = admit(*a, openai(k_usd));
    REQUIRE(held.admitted);
    a.reset();          // the sidecar dies without settling
    clock.advance(2s);  // lets b's sweep run (once a second by its clock) ...
    b->recover();
    CHECK(admit(*b, openai(k_usd)).admitted);  // ... but the hold is not yet expired in Redis
    CHECK(standing(*b, "daily").reserved == 2 * k_usd);
    std::this_thread::sleep_for(400ms);
    clock.advance(2s);
    b->recover();
    CHECK(standing(*b, "daily").spent == k_usd);
    CHECK(standing(*b, "daily").reserved == k_usd);
  }
  SUBCASE("hold ids are unique across sidecars") {
    const auto x = admit(*a, openai(1));
    const auto y = admit(*b, openai(1));
    CHECK(x.hold != y.hold);
    settle(*a, y.hold, 1);  // a does not know b's hold: nothing happens
    settle(*b, y.hold, 1);
    settle(*a, x.hold, 1);
    CHECK(standing(*a, "daily").spent == 2);
    CHECK(standing(*b, "daily").spent == 2);  // standings read the shared counters afresh
  }
  SUBCASE("each sidecar's standings show the other's spend and holds") {
    const auto held = admit(*a, openai(700'000));
    REQUIRE(held.admitted);
    settle(*b, admit(*b, openai(300'000)).hold, 250'000);
    auto seen_by_b = standing(*b, "daily");
    CHECK(seen_by_b.spent == 250'000);
    CHECK(seen_by_b.reserved == 700'000);
    settle(*a, held.hold, 600'000);
    seen_by_b = standing(*b, "daily");
    CHECK(seen_by_b.spent == 850'000);
    CHECK(seen_by_b.reserved == 0);
  }
  SUBCASE("a limit or an override set through one sidecar applies in the other within a second") {
    settle(*b, admit(*b, openai(k_usd)).hold, k_usd);
    CHECK(a->set_limit("daily", 5 * k_usd, "ops"));
    clock.advance(1100ms);
    // The sweep a request starts once a second re-reads them, without waiting for the answer.
    b->recover();
    CHECK(standing(*b, "daily").limit == 5 * k_usd);
    CHECK(admit(*b, openai(3 * k_usd)).admitted);  // 1 spent + 3 <= 5
  }
  SUBCASE("a runtime limit and a reset are kept in Redis") {
    CHECK(a->set_limit("daily", 3 * k_usd, "ops"));
    settle(*a, admit(*a, openai(k_usd)).hold, k_usd);
    auto c = budget::make_enforcer(config, clock);
    CHECK(standing(*c, "daily").limit == 3 * k_usd);
    CHECK(a->reset("daily", "", "ops"));
    CHECK(admit(*c, openai(3 * k_usd)).admitted);
  }
}

TEST_CASE("Redis store, on_error decides when Redis is gone") {
  ManualClock clock;
  RedisServer server;
  auto config = redis_config(base_config(), server.url());
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day)};

  SUBCASE("block: refused, waiting may help") {
    auto e = budget::make_enforcer(config, clock);
    CHECK(e->store_healthy());
    server.stop();
    const auto refused = admit(*e, openai(k_usd));
    CHECK_FALSE(refused.admitted);
    CHECK(refused.refused_by == budget::RefusedBy::store);
    CHECK(refused.message ==
          "the shared budget store cannot be reached (store.redis.on_error: block)");
    CHECK(refused.should_retry);
    CHECK_FALSE(e->store_healthy());
  }
  SUBCASE("allow: admitted without the shared budgets") {
    config->store.redis.fail_open = true;
    auto e = budget::make_enforcer(config, clock);
    server.stop();
    const auto a = admit(*e, openai(k_usd));
    CHECK(a.admitted);
    settle(*e, a.hold, k_usd);
  }
  SUBCASE("an admin change Redis cannot record: applied here, counted, one error event") {
    auto e = budget::make_enforcer(config, clock);
    server.stop();
    CHECK(e->set_limit("daily", 20 * k_usd, "ops"));
    CHECK(dynamic_cast<const budget::StoreEnforcer&>(*e).write_failures() == 1);
    // One event for the spell of failed writes, one saying why Redis cannot be reached.
    const auto errors = events_of(*e, "error");
    REQUIRE(errors.size() == 2);
    CHECK(errors[0].message.starts_with("the shared budget store cannot be reached: "));
    CHECK(errors[1].detail_json == R"({"failures":1})");
    CHECK(events_of(*e, "admin").size() == 1);
    CHECK_FALSE(e->store_healthy());
  }
  SUBCASE("no Redis at start: built all the same, unhealthy, and on_error decides") {
    server.stop();
    auto e = budget::make_enforcer(config, clock);
    CHECK_FALSE(e->store_healthy());
    CHECK(admit(*e, openai(k_usd)).refused_by == budget::RefusedBy::store);
  }
}

// Redis drops keys by its own clock. A sidecar whose clock is years away from Redis's (or the
// fixed clock of these tests) must neither lose counters at once nor keep them for ever.
TEST_CASE("Redis store, expiry is relative to Redis's clock, whatever the sidecar's says") {
  for (const char* when : {"2019-03-01T12:00:00Z", "2041-07-15T12:00:00Z"}) {
    CAPTURE(when);
    ManualClock clock(ManualClock::parse(when));
    auto config = redis_config(base_config(), RedisServer::shared().url());
    config->budgets = {budget_config("daily", 2 * k_usd, Kind::day)};
    auto e = budget::make_enforcer(config, clock);
    const auto a = admit(*e, openai(500'000));
    REQUIRE(a.admitted);
    CHECK(standing(*e, "daily").reserved == 500'000);
    settle(*e, a.hold, 300'000);
    CHECK(standing(*e, "daily").spent == 300'000);
    CHECK(standing(*e, "daily").reserved == 0);

    redisContext* c = redisConnect("127.0.0.1", RedisServer::shared().port());
    REQUIRE(c);
    auto* keys = static_cast<redisReply*>(
        redisCommand(c, "KEYS %s{daily}:*", config->store.redis.prefix.c_str()));
    REQUIRE(keys->elements == 1);
    auto* ttl = static_cast<redisReply*>(redisCommand(c, "TTL %s", keys->element[0]->str));
    // Noon: 12 h left in the day, plus the day late settlements are given.
    CHECK(ttl->integer > 35 * 3600);
    CHECK(ttl->integer <= 36 * 3600);
    freeReplyObject(ttl);
    freeReplyObject(keys);
    redisFree(c);
  }
}

// A proxied exchange goes on to the client's next request once its close is queued to Redis
// (RecordDetail::await_shared = false), a round trip sooner; the ledger's one connection still
// runs that close before the next reservation this process sends.
TEST_CASE(
    "Redis store, a close not awaited: done while Redis is held, the next reservation after it") {
  using namespace std::chrono;
  RedisServer server;
  ManualClock clock;
  auto config = redis_config(base_config(), server.url());
  config->budgets = {budget_config("daily", 2 * k_usd, Kind::day)};
  auto e = budget::make_enforcer(config, clock);
  const auto first = admit(*e, openai(1'500'000));
  REQUIRE(first.admitted);
  const auto hold_redis = [&] {
    REQUIRE(redis_command(server.port(), {"CLIENT", "PAUSE", "500", "ALL"}) == "OK");
    return steady_clock::now();
  };

  SUBCASE("not awaited") {
    const auto t0 = hold_redis();
    std::promise<void> settled;
    budget::RecordDetail detail;
    detail.await_shared = false;
    e->settle(first.hold, 400'000, std::move(detail), [&] { settled.set_value(); });
    REQUIRE(settled.get_future().wait_for(2s) == std::future_status::ready);
    CHECK(steady_clock::now() - t0 < 300ms);  // Redis answers nothing for 500 ms
    // $1.50 more fits in the $2 only once the close has replaced the $1.50 hold by $0.40 spent.
    const auto next = admit(*e, openai(1'500'000));
    CHECK(steady_clock::now() - t0 >= 400ms);  // the reservation, though, waited for Redis
    CHECK(next.admitted);
    CHECK(standing(*e, "daily").spent == 400'000);
    CHECK(standing(*e, "daily").reserved == 1'500'000);
  }
  SUBCASE("awaited (the default)") {
    const auto t0 = hold_redis();
    settle(*e, first.hold, 400'000);
    CHECK(steady_clock::now() - t0 >= 400ms);
    CHECK(standing(*e, "daily").spent == 400'000);
    CHECK(standing(*e, "daily").reserved == 0);
  }
}

// A close the exchange did not wait for may still be queued (or on the wire) when tollgate
// stops: it reaches Redis before the connection closes, not the outbox of a process that may
// not start again soon.
TEST_CASE("Redis store, closes still queued when the store stops reach Redis") {
  RedisServer server;
  ManualClock clock;
  TempDir first_dir, second_dir;
  auto config = redis_config(base_config(), server.url());
  config->budgets = {budget_config("daily", 2 * k_usd, Kind::day)};
  config->data_dir = first_dir.path.string();
  {
    auto e = budget::make_enforcer(config, clock);
    const auto held = admit(*e, openai(k_usd));
    REQUIRE(held.admitted);
    REQUIRE(redis_command(server.port(), {"CLIENT", "PAUSE", "300", "ALL"}) == "OK");
    // A reservation on the wire, which Redis holds, and the close queued behind it.
    std::promise<budget::Admission> second;
    e->admit(openai(500'000), [&](budget::Admission a) { second.set_value(std::move(a)); });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::promise<void> settled;
    budget::RecordDetail detail;
    detail.await_shared = false;
    e->settle(held.hold, 400'000, std::move(detail), [&] { settled.set_value(); });
    settled.get_future().wait();
    e.reset();  // stops while Redis holds both
    CHECK(second.get_future().get().admitted);
  }
  // Another process, with an outbox of its own (empty), reads what Redis has: the close, and the
  // second hold still open.
  auto other = std::make_shared<rules::Config>(*config);
  other->data_dir = second_dir.path.string();
  auto e = budget::make_enforcer(other, clock);
  CHECK(standing(*e, "daily").spent == 400'000);
  CHECK(standing(*e, "daily").reserved == 500'000);
}

// rate_limits with `shared: true` on the Redis store: one bucket pair in Redis for every sidecar,
// refilled by Redis's clock, checked in the reservation's own script.
TEST_CASE("Redis store, a shared rate limit holds across sidecars") {
  ManualClock clock;
  auto config = redis_config(base_config(), RedisServer::shared().url());
  config->budgets = {budget_config("daily", 100 * k_usd, Kind::day)};
  auto rpm = rate_limit("rpm", 5, std::chrono::minutes(1), true);
  const auto admitted_of = [&](budget::Enforcer& a, budget::Enforcer& b, int each,
                               const budget::AdmitRequest& r) {
    int admitted = 0;
    for (int i = 0; i < each; ++i)
      for (budget::Enforcer* e : {&a, &b}) {
        const auto answer = admit(*e, r);
        if (answer.admitted) {
          ++admitted;
          settle(*e, answer.hold, 1);
        }
      }
    return admitted;
  };

  SUBCASE("5 per minute for both together") {
    config->rate_limits = {rpm};
    auto a = budget::make_enforcer(config, clock);
    auto b = budget::make_enforcer(config, clock);
    CHECK(admitted_of(*a, *b, 4, openai(1)) == 5);
    const auto refused = admit(*b, openai(1));
    CHECK_FALSE(refused.admitted);
    CHECK(refused.refused_by == budget::RefusedBy::rate);
    CHECK(refused.name == "rpm");
    // One request comes back every 12 s; some of the first 12 have passed on Redis's clock.
    CHECK(
        refused.message.starts_with("rate limit \"rpm\" reached: 5 requests per 1m; next "
                                    "request allowed in "));
    CHECK(refused.retry_after_s >= 1);
    CHECK(refused.retry_after_s <= 12);
    CHECK(refused.should_retry);
    // A refused request took nothing from the budget.
    CHECK(standing(*a, "daily").spent == 5);
    CHECK(standing(*a, "daily").reserved == 0);
  }
  SUBCASE("exact under 16 threads on two sidecars (reservations batched together)") {
    config->rate_limits = {rate_limit("rpm", 37, std::chrono::minutes(1), true)};
    auto a = budget::make_enforcer(config, clock);
    auto b = budget::make_enforcer(config, clock);
    std::atomic<int> admitted{0};
    on_two_sidecars(*a, *b, [&](budget::Enforcer& e, int) {
      const auto answer = admit(e, openai(1));
      if (!answer.admitted) return;
      ++admitted;
      settle(e, answer.hold, 1);
    });
    CHECK(admitted.load() == 37);  // of 320
    CHECK(standing(*a, "daily").spent == 37);
  }
  SUBCASE("not shared: 5 per minute in each") {
    rpm.shared = false;
    config->rate_limits = {rpm};
    auto a = budget::make_enforcer(config, clock);
    auto b = budget::make_enforcer(config, clock);
    CHECK(admitted_of(*a, *b, 6, openai(1)) == 10);
  }
  SUBCASE("a request in no budget is still counted, and leaves no hold in Redis") {
    config->rate_limits = {rpm};  // keepa falls in no budget here
    auto a = budget::make_enforcer(config, clock);
    auto b = budget::make_enforcer(config, clock);
    CHECK(admitted_of(*a, *b, 4, keepa(1)) == 5);
    CHECK(redis_command(RedisServer::shared().port(),
                        {"ZCARD", config->store.redis.prefix + "holds"}) == "0");
  }
  SUBCASE("tokens, per client, refilled by Redis's clock") {
    auto tps = rate_limit("tps", 0, std::chrono::seconds(1), true);
    tps.per = "client";
    tps.tokens = 1000;
    config->rate_limits = {tps};
    auto a = budget::make_enforcer(config, clock);
    auto b = budget::make_enforcer(config, clock);
    auto r = openai(1, "team-a");
    r.estimated_tokens = 400;
    CHECK(admitted_of(*a, *b, 2, r) == 2);
    const auto refused = admit(*a, r);
    CHECK_FALSE(refused.admitted);
    CHECK(refused.message ==
          "rate limit \"tps\" (key \"team-a\") reached: 1000 tokens per 1s; "
          "next request allowed in 1s");
    r.client = "team-b";  // a bucket of its own
    CHECK(admit(*b, r).admitted);
    r.client = "team-a";
    std::this_thread::sleep_for(std::chrono::milliseconds(450));  // 400 tokens in 400 ms
    CHECK(admit(*b, r).admitted);
    r.estimated_tokens = 1001;  // more than a whole window: refused here, Redis not asked
    CHECK(admit(*a, r).message ==
          "rate limit \"tps\" (key \"team-a\"): request of 1001 tokens exceeds 1000 tokens per 1s");
  }
  SUBCASE("a budget that refuses still takes the request from the bucket") {
    config->budgets = {budget_config("tiny", 2, Kind::day)};
    config->rate_limits = {rpm};
    auto a = budget::make_enforcer(config, clock);
    for (int i = 0; i < 5; ++i) CHECK_FALSE(admit(*a, openai(3)).admitted);
    const auto refused = admit(*a, openai(1));
    CHECK(refused.refused_by == budget::RefusedBy::rate);
  }
}

// breakers with `shared: true` on the Redis store: one window of settled spend, one open state and
// one half-open trial for every sidecar, by Redis's clock; each change reported once, by the
// sidecar whose close made it.
TEST_CASE("Redis store, a shared spend breaker holds across sidecars") {
  ManualClock clock;
  auto config = redis_config(base_config(), RedisServer::shared().url());
  // The cooldown runs on Redis's clock: a real wait.
  config->breakers = {spend_breaker("spike", 100 * k_usd, 1s, true)};
  bool in_budget = false;
  SUBCASE("in a shared budget") {
    in_budget = true;
  }
  SUBCASE("in no budget (the breaker's own close)") {}
  if (in_budget) config->budgets = {budget_config("daily", 1000 * k_usd, Kind::day)};
  auto a = budget::make_enforcer(config, clock);
  auto b = budget::make_enforcer(config, clock);
  const auto breaker_events = [&] {
    return events_of(*a, "breaker").size() + events_of(*b, "breaker").size();
  };

  settle(*a, admit(*a, openai(60 * k_usd)).hold, 60 * k_usd);
  settle(*b, admit(*b, openai(40 * k_usd)).hold, 40 * k_usd);  // exactly 100: not over
  CHECK(breaker_events() == 0);
  // Its keys: the window, which lives a day past the window by Redis's clock (no reservation
  // renews it: the charges do), and no state while it is closed.
  const int port = RedisServer::shared().port();
  const std::string state = config->store.redis.prefix + "breaker{spike}";
  const auto ttl = std::stoll(redis_command(port, {"TTL", state + ":w"}));
  CHECK(ttl > 3600 + 86'400 - 60);
  CHECK(ttl <= 3600 + 86'400);
  CHECK(redis_command(port, {"EXISTS", state}) == "0");
  CHECK(admit(*a, openai(1)).admitted);              // a hold left open: not spend
  settle(*a, admit(*a, openai(k_usd)).hold, k_usd);  // 101 together, though 61 here
  REQUIRE(events_of(*a, "breaker").size() == 1);
  CHECK(events_of(*b, "breaker").empty());  // reported once, by the sidecar that opened it
  CHECK(events_of(*a, "breaker")[0].message ==
        "breaker \"spike\" opened: 101 usd spent within 1h (limit 100)");
  CHECK(a->breakers().at(0).open);
  CHECK(b->breakers().at(0).open);  // read from Redis: b has made no request since
  CHECK(redis_command(port, {"EXISTS", state + ":w"}) == "0");  // the window starts afresh

  const auto refused = admit(*b, openai(1));
  CHECK_FALSE(refused.admitted);
  CHECK(refused.refused_by == budget::RefusedBy::breaker);
  CHECK(refused.name == "spike");
  CHECK(refused.message.starts_with(
      "breaker \"spike\" is open: spend over 100 usd within 1h; closes 2026-11-23T"));
  CHECK(refused.retry_after_s == 1);
  CHECK_FALSE(refused.should_retry);
  CHECK(b->breakers().at(0).open);
  CHECK(admit(*b, keepa(1)).admitted);  // another currency
  if (in_budget) CHECK(standing(*b, "daily").spent == 101 * k_usd);

  std::this_thread::sleep_for(1100ms);  // the cooldown passes on Redis's clock
  const auto trial = admit(*b, openai(1));
  REQUIRE(trial.admitted);  // half-open: one request through, from either sidecar
  const auto waiting = admit(*a, openai(1));
  CHECK_FALSE(waiting.admitted);
  CHECK(waiting.message ==
        "breaker \"spike\" is open: spend over 100 usd within 1h; closes after a trial request");
  CHECK(waiting.should_retry);
  CHECK(waiting.retry_after_s == 1);

  SUBCASE("the trial settles: closed for both") {
    settle(*b, trial.hold, 1);
    CHECK(redis_command(port, {"EXISTS", state}) == "0");
    CHECK(events_of(*b, "breaker").back().message == "breaker \"spike\" closed");
    CHECK(events_of(*a, "breaker").size() == 1);
    CHECK_FALSE(b->breakers().at(0).open);
    CHECK(admit(*a, openai(1)).admitted);
    CHECK(admit(*a, openai(1)).admitted);
    CHECK_FALSE(a->breakers().at(0).open);
  }
  SUBCASE("the trial is released: the next request, on either sidecar, is the trial") {
    release(*b, trial.hold);
    CHECK(breaker_events() == 1);
    const auto next = admit(*a, openai(1));
    CHECK(next.admitted);
    CHECK_FALSE(admit(*b, openai(1)).admitted);
    settle(*a, next.hold, 1);
    CHECK(admit(*b, openai(1)).admitted);
  }
  SUBCASE("the trial's sidecar dies: the trial is given up when its hold would have expired") {
    auto short_ttl = std::make_shared<rules::Config>(*config);
    short_ttl->store.hold_ttl = 300ms;
    release(*b, trial.hold);
    auto c = budget::make_enforcer(short_ttl, clock);
    REQUIRE(admit(*c, openai(1)).admitted);
    c.reset();  // dies with the trial
    CHECK_FALSE(admit(*a, openai(1)).admitted);
    std::this_thread::sleep_for(400ms);
    const auto next = admit(*a, openai(1));
    CHECK(next.admitted);
    settle(*a, next.hold, 1);
    CHECK_FALSE(a->breakers().at(0).open);
  }
}

TEST_CASE("Redis store, a shared breaker under 16 threads on two sidecars opens once") {
  ManualClock clock;
  auto config = redis_config(base_config(), RedisServer::shared().url());
  config->breakers = {spend_breaker("spike", 50 * k_usd, std::chrono::minutes(10), true)};
  auto a = budget::make_enforcer(config, clock);
  auto b = budget::make_enforcer(config, clock);
  std::atomic<int> admitted{0};
  // Each request settles at 1 usd: the 51st settlement opens it. The other 15 threads may each
  // have one request admitted before that; none is admitted after.
  on_two_sidecars(*a, *b, [&](budget::Enforcer& e, int) {
    const auto answer = admit(e, openai(k_usd));
    if (!answer.admitted) {
      if (answer.refused_by != budget::RefusedBy::breaker) MESSAGE(answer.message);
      return;
    }
    ++admitted;
    settle(e, answer.hold, k_usd);
  });
  CHECK(admitted.load() >= 51);
  CHECK(admitted.load() <= 51 + 15);
  auto opened = events_of(*a, "breaker");
  for (auto& ev : events_of(*b, "breaker")) opened.push_back(ev);
  REQUIRE(opened.size() == 1);
  // The settlement that went over was the 51st, wherever it was made.
  CHECK(opened[0].message == "breaker \"spike\" opened: 51 usd spent within 1h (limit 50)");
  CHECK_FALSE(admit(*a, openai(1)).admitted);
  CHECK_FALSE(admit(*b, openai(1)).admitted);
}
