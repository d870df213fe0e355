// What realtime sessions ask of the ledger (DESIGN §12), on every backend: per: session gives each
// session its own instance and leaves requests outside a session alone; a forced admission (a
// response the provider already started) is reserved past any limit, never refused, and settled
// like any other.
#include <doctest/doctest.h>

#include "budget/scope.hpp"
#include "budget_test_support.hpp"

using namespace budget_test;
using Kind = rules::Period::Kind;

namespace {

budget::AdmitRequest in_session(std::int64_t estimate, const std::string& session) {
  auto r = openai(estimate);
  r.endpoint = "realtime";
  r.session = session;
  return r;
}

}  // namespace

TEST_CASE_TEMPLATE("Enforcer::admit, per: session", T, Memory, Sqlite, Redis) {
  ManualClock clock;
  auto config = base_config();
  auto session = budget_config("session", 5 * k_usd, Kind::total, "session");
  session.idle_expiry = std::chrono::hours(1);
  config->budgets = {session, budget_config("daily", 100 * k_usd, Kind::day)};
  auto b = backend(T::name);
  auto e = b.open(config, clock);

  const auto a = admit(*e, in_session(4 * k_usd, "rt-1"));
  REQUIRE(a.admitted);
  CHECK(a.budgets.size() == 2);
  settle(*e, a.hold, 4 * k_usd);
  const auto refused = admit(*e, in_session(2 * k_usd, "rt-1"));
  CHECK_FALSE(refused.admitted);
  CHECK(refused.message.starts_with("budget \"session\" (key \"rt-1\") would be exceeded"));
  CHECK(admit(*e, in_session(2 * k_usd, "rt-2")).admitted);  // another session, its own 5 USD

  SUBCASE("a request outside any session falls in no session instance") {
    const auto chat = admit(*e, openai(50 * k_usd));
    REQUIRE(chat.admitted);
    REQUIRE(chat.budgets.size() == 1);
    CHECK(chat.budgets[0].name == "daily");
    for (const auto& s : e->budgets()) CHECK(s.key != budget::k_no_key);
  }
  SUBCASE("the instance stays listed after the session, until idle_expiry") {
    clock.advance(std::chrono::minutes(59));
    CHECK(admit(*e, openai(0)).admitted);
    CHECK(standing(*e, "session", "rt-1").spent == 4 * k_usd);
    clock.advance(std::chrono::minutes(2));
    CHECK(admit(*e, openai(0)).admitted);
    bool listed = false;
    for (const auto& s : e->budgets()) listed |= s.key == "rt-1";
    CHECK_FALSE(listed);
  }
}

TEST_CASE_TEMPLATE("Enforcer::admit, a forced admission is never refused", T, Memory, Sqlite,
                   Redis) {
  ManualClock clock;
  auto config = base_config();
  config->budgets = {budget_config("session", 5 * k_usd, Kind::total, "session")};
  rules::RateLimitConfig rate;
  rate.name = "one";
  rate.requests = 1;
  config->rate_limits = {rate};
  auto b = backend(T::name);
  auto e = b.open(config, clock);

  const auto first = admit(*e, in_session(4 * k_usd, "rt-1"));
  REQUIRE(first.admitted);
  auto over = in_session(3 * k_usd, "rt-1");
  CHECK_FALSE(admit(*e, over).admitted);  // past the budget, and past the rate limit
  over.force = true;
  const auto forced = admit(*e, over);
  REQUIRE(forced.admitted);
  CHECK(forced.hold != 0);
  CHECK(standing(*e, "session", "rt-1").reserved == 7 * k_usd);
  settle(*e, forced.hold, 2 * k_usd);
  settle(*e, first.hold, 4 * k_usd);
  // What the forced one cost counts: the instance is now past its limit.
  CHECK(standing(*e, "session", "rt-1").spent == 6 * k_usd);
  CHECK(standing(*e, "session", "rt-1").reserved == 0);
  CHECK_FALSE(admit(*e, in_session(1, "rt-1")).admitted);
}
