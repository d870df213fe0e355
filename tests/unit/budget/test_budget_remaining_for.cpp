// Enforcer::remaining_for: what the tightest enforced budget a request falls in has left, as
// admit() would see it (output_cap sizes a request's output maximum from it).
#include <doctest/doctest.h>

#include "budget_test_support.hpp"

using namespace budget_test;
using Kind = rules::Period::Kind;

TEST_CASE("Enforcer::remaining_for, the tightest enforced budget") {
  ManualClock clock;
  auto config = base_config();
  config->budgets.push_back(budget_config("daily", 10 * k_usd, Kind::day));
  auto per_client = budget_config("per-client", 3 * k_usd, Kind::day, "client");
  per_client.match.provider = {"openai"};
  config->budgets.push_back(per_client);
  auto shadow = budget_config("shadow", 1 * k_usd, Kind::day);
  shadow.shadow = true;
  config->budgets.push_back(shadow);
  auto e = budget::make_enforcer(config, clock);

  SUBCASE("nothing spent: the smallest limit of the enforced budgets (shadow left out)") {
    CHECK(e->remaining_for(openai(0, "a")) == 3 * k_usd);
  }
  SUBCASE("holds and spend count; each instance of per: apart") {
    const auto first = admit(*e, openai(2 * k_usd, "a"));
    REQUIRE(first.admitted);
    CHECK(e->remaining_for(openai(0, "a")) == 1 * k_usd);
    CHECK(e->remaining_for(openai(0, "b")) == 3 * k_usd);
    settle(*e, first.hold, 500'000);
    CHECK(e->remaining_for(openai(0, "a")) == 2'500'000);
    const auto second = admit(*e, openai(2 * k_usd, "b"));
    REQUIRE(second.admitted);
    // daily: 10 - 0.5 - 2 = 7.5; per-client b: 3 - 2 = 1
    CHECK(e->remaining_for(openai(0, "b")) == 1 * k_usd);
    settle(*e, second.hold, 2 * k_usd);
  }
  SUBCASE("no enforced budget in the request's currency: nullopt") {
    CHECK(e->remaining_for(keepa(0)) == std::nullopt);
  }
}
