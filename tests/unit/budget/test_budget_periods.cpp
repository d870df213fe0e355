// Periods on calendar boundaries in the budget's timezone, and rolling windows.
#include <doctest/doctest.h>

#include "budget_test_support.hpp"

using namespace budget_test;
using Kind = rules::Period::Kind;

namespace {

rules::Period period(Kind kind, std::chrono::milliseconds rolling = {}) {
  rules::Period p;
  p.kind = kind;
  p.rolling = rolling;
  return p;
}

std::string window(Kind kind, const std::string& tz, const std::string& at) {
  const auto w = budget::period_window(period(kind), tz, ManualClock::parse(at));
  return budget::format_utc(w.start) + " " + budget::format_utc(w.end);
}

}  // namespace

TEST_CASE("period_window, calendar boundaries") {
  SUBCASE("hour") {
    CHECK(window(Kind::hour, "UTC", "2026-11-23T12:34:56Z") ==
          "2026-11-23T12:00:00Z 2026-11-23T13:00:00Z");
  }
  SUBCASE("day in UTC") {
    CHECK(window(Kind::day, "UTC", "2026-11-23T23:59:59Z") ==
          "2026-11-23T00:00:00Z 2026-11-24T00:00:00Z");
  }
  SUBCASE("day in New York (UTC-5 in November)") {
    CHECK(window(Kind::day, "America/New_York", "2026-11-24T03:00:00Z") ==
          "2026-11-23T05:00:00Z 2026-11-24T05:00:00Z");
  }
  SUBCASE("day across a DST change is 23 hours long") {
    CHECK(window(Kind::day, "Europe/Berlin", "2026-03-29T12:00:00Z") ==
          "2026-03-28T23:00:00Z 2026-03-29T22:00:00Z");
  }
  SUBCASE("ISO week starts on Monday") {
    // 2026-11-29 is a Sunday.
    CHECK(window(Kind::week, "UTC", "2026-11-29T23:00:00Z") ==
          "2026-11-23T00:00:00Z 2026-11-30T00:00:00Z");
    CHECK(window(Kind::week, "UTC", "2026-11-30T00:00:00Z") ==
          "2026-11-30T00:00:00Z 2026-12-07T00:00:00Z");
  }
  SUBCASE("month, including December into January") {
    CHECK(window(Kind::month, "UTC", "2026-02-14T10:00:00Z") ==
          "2026-02-01T00:00:00Z 2026-03-01T00:00:00Z");
    CHECK(window(Kind::month, "Asia/Tokyo", "2026-12-31T16:00:00Z") ==
          "2026-12-31T15:00:00Z 2027-01-31T15:00:00Z");
  }
  SUBCASE("total never ends") {
    const auto w = budget::period_window(period(Kind::total), "UTC",
                                         ManualClock::parse("2026-11-23T12:00:00Z"));
    CHECK(w.end == budget::TimePoint::max());
  }
  SUBCASE("an unknown timezone falls back to UTC") {
    CHECK(window(Kind::day, "Mars/Olympus", "2026-11-23T10:00:00Z") ==
          "2026-11-23T00:00:00Z 2026-11-24T00:00:00Z");
  }
}

TEST_CASE("format_span, two largest units") {
  CHECK(budget::format_span(std::chrono::seconds(3 * 3600 + 12 * 60 + 5)) == "3h12m");
  CHECK(budget::format_span(std::chrono::seconds(45)) == "45s");
  CHECK(budget::format_span(std::chrono::seconds(2 * 86400 + 4 * 3600)) == "2d4h");
  CHECK(budget::format_span(std::chrono::seconds(0)) == "0s");
}

TEST_CASE("Enforcer periods, spent resets at the boundary in the budget's timezone") {
  auto config = base_config();

  SUBCASE("daily budget in Berlin resets at local midnight, not UTC midnight") {
    ManualClock clock(ManualClock::parse("2026-11-23T22:30:00Z"));  // 23:30 in Berlin
    auto daily = budget_config("daily", 10 * k_usd, Kind::day);
    daily.timezone = "Europe/Berlin";
    config->budgets = {daily};
    auto e = budget::make_enforcer(config, clock);
    const auto a = admit(*e, openai(9 * k_usd));
    settle(*e, a.hold, 9 * k_usd);
    const auto refused = admit(*e, openai(2 * k_usd));
    CHECK_FALSE(refused.admitted);
    CHECK(refused.message ==
          "budget \"daily\" would be exceeded: estimate 2 usd, remaining 1 usd of 10 usd, deficit "
          "1 usd; "
          "resets at 2026-11-23T23:00:00Z (in 30m)");
    CHECK(refused.retry_after_s == 1800);
    clock.set(ManualClock::parse("2026-11-23T22:59:59Z"));
    CHECK_FALSE(admit(*e, openai(2 * k_usd)).admitted);
    clock.set(ManualClock::parse("2026-11-23T23:00:00Z"));  // midnight in Berlin
    CHECK(standing(*e, "daily").spent == 0);
    CHECK(admit(*e, openai(2 * k_usd)).admitted);
    CHECK(budget::format_utc(standing(*e, "daily").period_start) == "2026-11-23T23:00:00Z");
  }
  SUBCASE("a hold reserved before midnight and settled after charges the new day") {
    ManualClock clock(ManualClock::parse("2026-11-23T23:59:00Z"));
    config->budgets = {budget_config("daily", 10 * k_usd, Kind::day)};
    auto e = budget::make_enforcer(config, clock);
    const auto a = admit(*e, openai(3 * k_usd));
    clock.advance(2min);
    CHECK(standing(*e, "daily").reserved == 3 * k_usd);
    settle(*e, a.hold, 3 * k_usd);
    CHECK(standing(*e, "daily").spent == 3 * k_usd);
    CHECK(standing(*e, "daily").reserved == 0);
  }
  SUBCASE("weekly budget resets on Monday") {
    ManualClock clock(ManualClock::parse("2026-11-29T20:00:00Z"));  // Sunday
    config->budgets = {budget_config("weekly", 10 * k_usd, Kind::week)};
    auto e = budget::make_enforcer(config, clock);
    settle(*e, admit(*e, openai(10 * k_usd)).hold, 10 * k_usd);
    CHECK_FALSE(admit(*e, openai(1)).admitted);
    clock.set(ManualClock::parse("2026-11-30T00:00:00Z"));
    CHECK(admit(*e, openai(1)).admitted);
  }
  SUBCASE("monthly budget resets on the first") {
    ManualClock clock(ManualClock::parse("2026-11-30T23:00:00Z"));
    config->budgets = {budget_config("monthly", 10 * k_usd, Kind::month)};
    auto e = budget::make_enforcer(config, clock);
    settle(*e, admit(*e, openai(10 * k_usd)).hold, 10 * k_usd);
    CHECK(budget::format_utc(standing(*e, "monthly").resets_at) == "2026-12-01T00:00:00Z");
    clock.set(ManualClock::parse("2026-12-01T00:00:00Z"));
    CHECK(standing(*e, "monthly").spent == 0);
  }
  SUBCASE("rolling window slides charge by charge") {
    ManualClock clock;
    auto rolling = budget_config("hourly", 10 * k_usd, Kind::rolling);
    rolling.period.rolling = std::chrono::hours(1);
    config->budgets = {rolling};
    auto e = budget::make_enforcer(config, clock);
    settle(*e, admit(*e, openai(6 * k_usd)).hold, 6 * k_usd);
    clock.advance(30min);
    settle(*e, admit(*e, openai(4 * k_usd)).hold, 4 * k_usd);
    const auto refused = admit(*e, openai(1 * k_usd));
    CHECK_FALSE(refused.admitted);
    CHECK(refused.message.ends_with("resets at 2026-11-23T13:00:00Z (in 30m)"));
    clock.advance(30min);  // the 6 usd charge leaves the window
    CHECK(standing(*e, "hourly").spent == 4 * k_usd);
    CHECK(admit(*e, openai(6 * k_usd)).admitted);
    clock.advance(30min);
    CHECK(standing(*e, "hourly").spent == 0);
  }
  SUBCASE("total never resets") {
    ManualClock clock;
    config->budgets = {budget_config("lifetime", 10 * k_usd, Kind::total)};
    auto e = budget::make_enforcer(config, clock);
    settle(*e, admit(*e, openai(10 * k_usd)).hold, 10 * k_usd);
    clock.advance(std::chrono::hours(24 * 400));
    const auto refused = admit(*e, openai(1));
    CHECK_FALSE(refused.admitted);
    CHECK(refused.message ==
          "budget \"lifetime\" would be exceeded: estimate 0.000001 usd, remaining 0 usd of 10 "
          "usd, deficit "
          "0.000001 usd; the period never resets (period: total)");
    CHECK_FALSE(refused.retry_after_s.has_value());
  }
}
