// SQLite durability: what survives a restart, and what a crash (fork + _exit, kill -9) leaves.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <set>

#include "budget_test_support.hpp"

using namespace budget_test;
using Kind = rules::Period::Kind;

namespace {

std::shared_ptr<rules::Config> sqlite_config(const TempDir& dir) {
  auto config = base_config();
  config->store.type = rules::StoreConfig::Type::sqlite;
  config->store.path = (dir.path / "data" / "ledger.db").string();
  auto daily = budget_config("daily", 10'000 * k_usd, Kind::day, "client");
  daily.alerts = {50};
  config->budgets = {daily, budget_config("total", 100'000 * k_usd, Kind::total)};
  return config;
}

std::size_t open_holds(const budget::Enforcer& e) {
  return dynamic_cast<const budget::StoreEnforcer&>(e).open_holds();
}

}  // namespace

TEST_CASE("SQLite store, state survives a restart") {
  TempDir dir;
  ManualClock clock;
  auto config = sqlite_config(dir);
  {
    auto e = budget::make_enforcer(config, clock);
    settle(*e, admit(*e, openai(6'000 * k_usd, "a")).hold, 6'000 * k_usd);
    settle(*e, admit(*e, openai(2 * k_usd, "b")).hold, 1 * k_usd);
    CHECK(e->set_limit("daily", 20'000 * k_usd, "ops"));
    CHECK(e->add_override({"total", "", 5 * k_usd, clock.now() + 2h, "launch"}, "ops"));
    CHECK(events_of(*e, "threshold").size() == 1);
  }
  auto e = budget::make_enforcer(config, clock);
  e->recover();
  CHECK(standing(*e, "daily", "a").spent == 6'000 * k_usd);
  CHECK(standing(*e, "daily", "b").spent == 1 * k_usd);
  CHECK(standing(*e, "total").spent == 6'001 * k_usd);
  CHECK(standing(*e, "daily", "a").limit == 20'000 * k_usd);
  CHECK(standing(*e, "total").overrides == 5 * k_usd);

  SUBCASE("a threshold crossed before the restart does not fire again") {
    settle(*e, admit(*e, openai(k_usd, "a")).hold, k_usd);
    CHECK(events_of(*e, "threshold").empty());
  }
  SUBCASE("a reset is durable") {
    CHECK(e->reset("daily", "a", "ops"));
    e.reset();
    e = budget::make_enforcer(config, clock);
    CHECK_THROWS(standing(*e, "daily", "a"));  // nothing stored for this period any more
    CHECK(admit(*e, openai(1, "a")).admitted);
    CHECK(standing(*e, "daily", "a").spent == 0);
    CHECK(standing(*e, "daily", "b").spent == 1 * k_usd);
  }
  SUBCASE("the next day starts from zero; the total does not") {
    e.reset();
    clock.advance(24h);
    e = budget::make_enforcer(config, clock);
    CHECK(standing(*e, "total").spent == 6'001 * k_usd);
    settle(*e, admit(*e, openai(k_usd, "a")).hold, k_usd);
    CHECK(standing(*e, "daily", "a").spent == k_usd);
  }
  SUBCASE("a changed config limit supersedes the runtime limit") {
    e.reset();
    config->budgets[0].limit = 15'000 * k_usd;
    e = budget::make_enforcer(config, clock);
    CHECK(standing(*e, "daily", "a").limit == 15'000 * k_usd);
  }
  SUBCASE("an expired override no longer applies") {
    e.reset();
    clock.advance(2h);
    e = budget::make_enforcer(config, clock);
    CHECK(standing(*e, "total").overrides == 0);
  }
}

TEST_CASE("SQLite store, rolling windows restore their charges") {
  TempDir dir;
  ManualClock clock;
  auto config = sqlite_config(dir);
  auto rolling = budget_config("hourly", 10 * k_usd, Kind::rolling);
  rolling.period.rolling = std::chrono::hours(1);
  config->budgets = {rolling};
  {
    auto e = budget::make_enforcer(config, clock);
    settle(*e, admit(*e, openai(6 * k_usd)).hold, 6 * k_usd);
    clock.advance(40min);
    settle(*e, admit(*e, openai(3 * k_usd)).hold, 3 * k_usd);
  }
  auto e = budget::make_enforcer(config, clock);
  CHECK(standing(*e, "hourly").spent == 9 * k_usd);
  clock.advance(20min);
  CHECK(standing(*e, "hourly").spent == 3 * k_usd);
}

TEST_CASE("SQLite store, holds left by a crash are settled at their estimate") {
  TempDir dir;
  ManualClock clock;
  auto config = sqlite_config(dir);

  SUBCASE("fork, reserve, _exit without shutdown") {
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      auto e = budget::make_enforcer(config, clock);
      auto a = admit(*e, openai(3 * k_usd, "a"));
      admit(*e, openai(2 * k_usd, "b"));
      settle(*e, a.hold, 1 * k_usd);
      admit(*e, openai(4 * k_usd, "a"));  // durable once admit returned
      e.release();                        // never destroyed: no clean shutdown
      _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    REQUIRE(WIFEXITED(status));
    auto e = budget::make_enforcer(config, clock);
    CHECK(open_holds(*e) == 2);
    CHECK(standing(*e, "daily", "a").reserved == 4 * k_usd);
    e->recover();
    CHECK(open_holds(*e) == 0);
    CHECK(standing(*e, "daily", "a").spent == 5 * k_usd);
    CHECK(standing(*e, "daily", "b").spent == 2 * k_usd);
    CHECK(standing(*e, "total").spent == 7 * k_usd);
    CHECK(standing(*e, "daily", "a").reserved == 0);
    e.reset();
    e = budget::make_enforcer(config, clock);  // recovered once, never twice
    e->recover();
    CHECK(standing(*e, "total").spent == 7 * k_usd);
  }

  SUBCASE("kill -9 in the middle of a stream of reserves and settles") {
    constexpr std::int64_t estimate = 1000, actual = 1;
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      close(fds[0]);
      auto e = budget::make_enforcer(config, clock);
      for (;;) {
        const auto a = admit(*e, openai(estimate, "a"));
        if (write(fds[1], "H", 1) != 1) _exit(1);
        settle(*e, a.hold, actual);
        if (write(fds[1], "S", 1) != 1) _exit(1);
      }
    }
    close(fds[1]);
    std::int64_t holds = 0, settles = 0;
    char c;
    while (holds < 300 && read(fds[0], &c, 1) == 1) (c == 'H' ? holds : settles)++;
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    while (read(fds[0], &c, 1) == 1) (c == 'H' ? holds : settles)++;
    close(fds[0]);

    auto e = budget::make_enforcer(config, clock);
    e->recover();
    CHECK(open_holds(*e) == 0);
    const std::int64_t spent = standing(*e, "total").spent;
    // Durable holds are the reported ones (plus at most one not yet reported), and so are settles.
    std::set<std::int64_t> possible;
    for (std::int64_t h = holds; h <= holds + 1; ++h)
      for (std::int64_t s = settles; s <= settles + 1 && s <= h; ++s)
        possible.insert(s * actual + (h - s) * estimate);
    CHECK(possible.count(spent) == 1);
    CHECK(standing(*e, "daily", "a").spent == spent);
  }
}
