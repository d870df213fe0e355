// Provider balances (the Keepa story), rate limits and breakers.
#include <doctest/doctest.h>

#include "budget/balance_book.hpp"
#include "budget/breakers.hpp"
#include "budget_test_support.hpp"

using namespace budget_test;
using Kind = rules::Period::Kind;

TEST_CASE("Enforcer balance, the Keepa story") {
  ManualClock clock;
  auto config = base_config();
  auto e = budget::make_enforcer(config, clock);
  const std::int64_t tokens = k_usd;  // one keepa token in micro-units

  SUBCASE("nothing observed yet: admitted") {
    const auto a = admit(*e, keepa(50 * tokens));
    CHECK(a.admitted);
    CHECK(a.hold != 0);  // the balance hold still needs settling
    settle(*e, a.hold, 50 * tokens);
  }

  e->observe_balance({"keepa", "k1", 1200 * tokens, 5 * tokens});
  const auto first = admit(*e, keepa(50 * tokens));
  REQUIRE(first.admitted);
  REQUIRE(e->balances().size() == 1);
  CHECK(e->balances()[0].holds == 50 * tokens);
  CHECK(e->balances()[0].estimated_now == 1150 * tokens);
  settle(*e, first.hold, 50 * tokens);
  e->observe_balance({"keepa", "k1", 1150 * tokens, std::nullopt});

  SUBCASE("refused once balance - estimate < min, warned below warn_below, refill restores") {
    e->observe_balance({"keepa", "k1", 59 * tokens, std::nullopt});
    CHECK(events_of(*e, "balance_warning").empty());
    const auto refused = admit(*e, keepa(50 * tokens));
    CHECK_FALSE(refused.admitted);
    CHECK(refused.refused_by == budget::RefusedBy::balance);
    CHECK(refused.name == "keepa");
    CHECK(refused.message ==
          "Keepa balance too low: current balance 59 tokens, required 50 (+ min 10) for endpoint "
          "bestsellers, "
          "deficit 1 tokens; refills 5 tokens/min");
    CHECK(refused.retry_after_s == 12);
    CHECK(refused.should_retry);
    CHECK(refused.balance_left == 59 * tokens);
    CHECK(e->balances()[0].holds == 0);

    const auto small = admit(*e, keepa(45 * tokens, "search"));
    REQUIRE(small.admitted);  // 59 - 45 = 14 >= 10, but 14 < 20: warn
    const auto warnings = events_of(*e, "balance_warning");
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].message == "keepa balance low: 14 left, below 20");
    settle(*e, small.hold, 45 * tokens);
    e->observe_balance({"keepa", "k1", 14 * tokens, std::nullopt});
    CHECK(events_of(*e, "balance_warning").size() == 1);  // once per crossing

    clock.advance(std::chrono::seconds(12 * 60 - 1));  // refill 5/min: 14 + 59.99 = 73.99
    CHECK_FALSE(admit(*e, keepa(64 * tokens)).admitted);
    clock.advance(1s);  // 74 - 64 = 10
    const auto restored = admit(*e, keepa(64 * tokens));
    CHECK(restored.admitted);
  }
  SUBCASE("another credential has its own balance") {
    e->observe_balance({"keepa", "k1", 11 * tokens, std::nullopt});
    auto other = keepa(50 * tokens);
    other.credential_hash = "k2";
    CHECK(admit(*e, other).admitted);
    CHECK_FALSE(admit(*e, keepa(50 * tokens)).admitted);
  }
  SUBCASE("live holds count against the balance") {
    e->observe_balance({"keepa", "k1", 120 * tokens, std::nullopt});
    CHECK(admit(*e, keepa(50 * tokens)).admitted);
    CHECK(admit(*e, keepa(50 * tokens)).admitted);
    const auto third = admit(*e, keepa(50 * tokens));
    CHECK_FALSE(third.admitted);
    CHECK(third.balance_left == 20 * tokens);
  }
}

TEST_CASE("Enforcer rate limits, token buckets") {
  ManualClock clock;
  auto config = base_config();
  rules::RateLimitConfig rpm;
  rpm.name = "keepa-rpm";
  rpm.match.provider = {"keepa"};
  rpm.requests = 3;
  rpm.window = std::chrono::minutes(1);
  config->rate_limits = {rpm};

  SUBCASE("requests per window, refilled continuously") {
    auto e = budget::make_enforcer(config, clock);
    for (int i = 0; i < 3; ++i) CHECK(admit(*e, keepa(1)).admitted);
    const auto refused = admit(*e, keepa(1));
    CHECK_FALSE(refused.admitted);
    CHECK(refused.refused_by == budget::RefusedBy::rate);
    CHECK(refused.name == "keepa-rpm");
    CHECK(refused.message ==
          "rate limit \"keepa-rpm\" reached: 3 requests per 1m; next request allowed in 20s");
    CHECK(refused.retry_after_s == 20);
    CHECK(refused.should_retry);
    CHECK(admit(*e, openai(1)).admitted);  // not matched
    clock.advance(19s);
    CHECK_FALSE(admit(*e, keepa(1)).admitted);
    clock.advance(1s);
    CHECK(admit(*e, keepa(1)).admitted);
    CHECK_FALSE(admit(*e, keepa(1)).admitted);
  }
  SUBCASE("a refusal elsewhere takes no request from the bucket") {
    config->budgets = {budget_config("tiny", 1, Kind::day, "", "keepa_token")};
    auto e = budget::make_enforcer(config, clock);
    for (int i = 0; i < 5; ++i) CHECK_FALSE(admit(*e, keepa(2)).admitted);
    for (int i = 0; i < 3; ++i) CHECK(admit(*e, keepa(0)).admitted);
  }
  SUBCASE("tokens per window, per client") {
    rules::RateLimitConfig tpm;
    tpm.name = "tpm";
    tpm.per = "client";
    tpm.tokens = 1000;
    tpm.window = std::chrono::minutes(1);
    config->rate_limits = {tpm};
    auto e = budget::make_enforcer(config, clock);
    auto r = openai(1, "a");
    r.estimated_tokens = 600;
    CHECK(admit(*e, r).admitted);
    const auto refused = admit(*e, r);
    CHECK_FALSE(refused.admitted);
    CHECK(
        refused.message ==
        "rate limit \"tpm\" (key \"a\") reached: 1000 tokens per 1m; next request allowed in 12s");
    r.client = "b";
    CHECK(admit(*e, r).admitted);
    r.estimated_tokens = 1001;
    const auto never = admit(*e, r);
    CHECK_FALSE(never.admitted);
    CHECK(never.message ==
          "rate limit \"tpm\" (key \"b\"): request of 1001 tokens exceeds 1000 tokens per 1m");
    CHECK_FALSE(never.should_retry);
  }
}

TEST_CASE("Enforcer breakers, spend spike") {
  ManualClock clock;
  auto config = base_config();
  config->breakers = {spend_breaker("spend-spike", 100 * k_usd, std::chrono::minutes(10))};
  auto e = budget::make_enforcer(config, clock);

  settle(*e, admit(*e, openai(60 * k_usd)).hold, 60 * k_usd);
  clock.advance(30min);
  settle(*e, admit(*e, openai(40 * k_usd)).hold, 40 * k_usd);  // exactly 100: not over
  CHECK(events_of(*e, "breaker").empty());
  clock.advance(31min);  // the 60 leaves the window
  settle(*e, admit(*e, openai(60 * k_usd)).hold, 60 * k_usd);
  CHECK(events_of(*e, "breaker").empty());
  settle(*e, admit(*e, openai(k_usd)).hold, k_usd);  // 40 + 60 + 1 > 100
  const auto opened = events_of(*e, "breaker");
  REQUIRE(opened.size() == 1);
  CHECK(opened[0].message == "breaker \"spend-spike\" opened: 101 usd spent within 1h (limit 100)");
  CHECK(opened[0].detail_json == "{\"breaker\":\"spend-spike\",\"state\":\"open\"}");
  CHECK(e->breakers().at(0).open);

  const auto refused = admit(*e, openai(1));
  CHECK_FALSE(refused.admitted);
  CHECK(refused.refused_by == budget::RefusedBy::breaker);
  CHECK(refused.message ==
        "breaker \"spend-spike\" is open: spend over 100 usd within 1h; closes "
        "2026-11-23T13:11:00Z (in 10m)");
  CHECK(refused.retry_after_s == 600);
  CHECK(admit(*e, keepa(1)).admitted);  // another currency

  clock.advance(10min);
  const auto trial = admit(*e, openai(1));
  REQUIRE(trial.admitted);  // half-open: one through
  CHECK_FALSE(admit(*e, openai(1)).admitted);
  SUBCASE("the trial settles: closed") {
    settle(*e, trial.hold, 1);
    CHECK(events_of(*e, "breaker").back().message == "breaker \"spend-spike\" closed");
    CHECK(admit(*e, openai(1)).admitted);
    CHECK_FALSE(e->breakers().at(0).open);
  }
  SUBCASE("the trial is released: the next request is the trial") {
    release(*e, trial.hold);
    CHECK(events_of(*e, "breaker").size() == 1);
    CHECK(admit(*e, openai(1)).admitted);
    CHECK_FALSE(admit(*e, openai(1)).admitted);
  }
}

// Credentials the provider never reported a balance for are kept only while they hold something.
TEST_CASE("Balances, an account never observed goes with its last hold") {
  budget::BalanceBook book;
  for (int i = 0; i < 10'000; ++i) {
    const std::string credential = std::to_string(i);
    book.hold("keepa", credential, 5);
    book.hold("keepa", credential, 3);
    book.unhold("keepa", credential, 5);
    CHECK(book.accounts() == 1);
    book.unhold("keepa", credential, 3);
  }
  CHECK(book.accounts() == 0);
  const auto config = base_config();
  budget::BalanceObservation seen;
  seen.provider = "keepa";
  seen.credential_hash = "k1";
  seen.balance = 100;
  std::vector<budget::Event> events;
  book.observe(seen, *config->providers[1].balance, budget::TimePoint{}, events);
  book.hold("keepa", "k1", 5);
  book.unhold("keepa", "k1", 5);
  CHECK(book.accounts() == 1);  // observed: kept
}

// A spend breaker's window keeps its amounts per bucket (a 600th of the window): a busy window
// costs ~600 entries, not one per settlement, and still opens on the settlement that goes over.
TEST_CASE("Breakers, a busy window keeps its amounts in buckets") {
  auto config = base_config();
  config->breakers = {spend_breaker("spike", 99'999, std::chrono::minutes(10))};
  budget::Breakers breakers;
  breakers.apply(*config);
  const budget::TimePoint start{std::chrono::hours(24 * 20'000)};
  std::vector<budget::Event> events;
  // 100,000 settlements of one micro-unit, 36 ms apart: the whole hour in the window.
  for (int i = 0; i < 99'999; ++i)
    breakers.spent("usd", 1, start + i * std::chrono::milliseconds(36), events);
  CHECK(events.empty());
  CHECK(breakers.kept_charges() <= 601);
  breakers.spent("usd", 1, start + 99'999 * std::chrono::milliseconds(36), events);
  REQUIRE(events.size() == 1);
  CHECK(events[0].message == "breaker \"spike\" opened: 0.1 usd spent within 1h (limit 0.099999)");
  // An amount leaves a whole window after its bucket ends: at most a bucket (6 s) late.
  budget::Breakers later;
  later.apply(*config);
  later.spent("usd", 99'999, start, events);
  later.spent("usd", 1, start + std::chrono::hours(1) + std::chrono::seconds(6), events);
  CHECK(events.size() == 1);  // the first amount had left: 1 in the window
  later.spent("usd", 99'999, start + std::chrono::hours(1) + std::chrono::seconds(7), events);
  CHECK(events.size() == 2);
}

TEST_CASE("Enforcer breakers, upstream failures per host") {
  ManualClock clock;
  auto config = base_config();
  rules::BreakerConfig failures;
  failures.name = "upstream-failures";
  failures.kind = rules::BreakerConfig::Kind::upstream_failures;
  failures.failures = 3;
  failures.successes = 2;
  failures.open_for = std::chrono::seconds(60);
  config->breakers = {failures};
  auto e = budget::make_enforcer(config, clock);

  e->upstream_result("api.openai.com", false);
  e->upstream_result("api.openai.com", false);
  e->upstream_result("api.openai.com", true);  // resets the count
  e->upstream_result("api.openai.com", false);
  e->upstream_result("api.openai.com", false);
  CHECK(admit(*e, openai(1)).admitted);
  e->upstream_result("api.openai.com", false);
  const auto refused = admit(*e, openai(1));
  CHECK_FALSE(refused.admitted);
  CHECK(refused.message ==
        "breaker \"upstream-failures\" is open for api.openai.com after 3 consecutive upstream "
        "failures; retry in 1m");
  CHECK(refused.retry_after_s == 60);
  CHECK(admit(*e, keepa(1)).admitted);  // other host
  CHECK(events_of(*e, "breaker").at(0).message ==
        "breaker \"upstream-failures\" opened for api.openai.com after 3 consecutive failures");

  clock.advance(60s);
  CHECK(admit(*e, openai(1)).admitted);  // half-open
  SUBCASE("a failure while half-open re-opens it") {
    e->upstream_result("api.openai.com", false);
    CHECK_FALSE(admit(*e, openai(1)).admitted);
  }
  SUBCASE("two successes close it") {
    e->upstream_result("api.openai.com", true);
    e->upstream_result("api.openai.com", true);
    CHECK(events_of(*e, "breaker").back().message ==
          "breaker \"upstream-failures\" closed for api.openai.com");
    e->upstream_result("api.openai.com", false);
    CHECK(admit(*e, openai(1)).admitted);  // counting from zero again
  }
}

TEST_CASE("Enforcer breakers, a refusal by one breaker leaves another's trial free") {
  ManualClock clock;
  auto config = base_config();
  const auto spike = spend_breaker("spend-spike", 10 * k_usd, std::chrono::minutes(10));
  rules::BreakerConfig failures;
  failures.name = "upstream-failures";
  failures.kind = rules::BreakerConfig::Kind::upstream_failures;
  failures.failures = 1;
  failures.open_for = std::chrono::seconds(60);
  config->breakers = {spike, failures};
  auto e = budget::make_enforcer(config, clock);

  settle(*e, admit(*e, openai(k_usd)).hold, 11 * k_usd);  // opens the spend breaker
  clock.advance(10min);                                   // half-open
  e->upstream_result("api.openai.com", false);            // opens the host breaker
  const auto refused = admit(*e, openai(1));
  CHECK_FALSE(refused.admitted);
  CHECK(refused.name == "upstream-failures");
  clock.advance(60s);
  const auto trial = admit(*e, openai(1));
  CHECK(trial.admitted);  // the spend breaker's trial was not used up by the refused request
  CHECK_FALSE(admit(*e, openai(1)).admitted);
}
