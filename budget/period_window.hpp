#pragma once
// Calendar arithmetic for budget periods: which period a moment falls in, in the budget's
// timezone (IANA, from the OS tz database), so that "day" means the local day.

#include <chrono>
#include <string>

#include "rules/config.hpp"

namespace budget {

using TimePoint = std::chrono::system_clock::time_point;

struct PeriodWindow {
  TimePoint start{};  // first instant of the period (UTC)
  TimePoint end{};    // first instant of the next one; TimePoint::max() for total
};

// The calendar period (hour, day, ISO week from Monday, month, total) that contains `now`.
// Rolling periods have no calendar window: the result is [now - window, now + window).
// An unknown timezone name falls back to UTC (the config loader rejects those first).
PeriodWindow period_window(const rules::Period& period, const std::string& timezone, TimePoint now);

// "2026-11-24T00:00:00Z"
std::string format_utc(TimePoint at);

// "3h12m", "45s", "2d4h": the largest two units of a positive duration.
std::string format_span(std::chrono::seconds span);

}  // namespace budget
