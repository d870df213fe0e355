#include "budget/period_window.hpp"

#include <date/date.h>
#include <date/tz.h>

#include <array>

namespace budget {
namespace {

using namespace std::chrono;

const date::time_zone* zone_named(const std::string& name) {
  if (name.empty() || name == "UTC") return nullptr;
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return nullptr;  // validated at load; UTC keeps accounting going rather than failing requests
  }
}

// Local wall-clock start of the period that contains `local`, as a count of local seconds.
date::local_seconds local_start(rules::Period::Kind kind, date::local_seconds local) {
  const auto day = date::floor<date::days>(local);
  switch (kind) {
    case rules::Period::Kind::hour:
      return date::floor<hours>(local);
    case rules::Period::Kind::day:
      return day;
    case rules::Period::Kind::week: {
      // ISO weeks start on Monday.
      const date::weekday wd{day};
      return day - date::days{(wd.c_encoding() + 6) % 7};
    }
    case rules::Period::Kind::month: {
      const date::year_month_day ymd{day};
      return date::local_days{ymd.year() / ymd.month() / 1};
    }
    default:
      return local;
  }
}

date::local_seconds local_next(rules::Period::Kind kind, date::local_seconds start) {
  switch (kind) {
    case rules::Period::Kind::hour:
      return start + hours{1};
    case rules::Period::Kind::day:
      return start + date::days{1};
    case rules::Period::Kind::week:
      return start + date::days{7};
    case rules::Period::Kind::month: {
      const date::year_month_day ymd{date::floor<date::days>(start)};
      return date::local_days{(ymd.year() / ymd.month() + date::months{1}) / 1};
    }
    default:
      return start;
  }
}

TimePoint to_utc(const date::time_zone* zone, date::local_seconds local) {
  if (!zone) return TimePoint{local.time_since_epoch()};
  // A local midnight skipped by a DST jump maps to the jump itself: the period starts then.
  return zone->to_sys(local, date::choose::earliest);
}

}  // namespace

PeriodWindow period_window(const rules::Period& period, const std::string& timezone,
                           TimePoint now) {
  using Kind = rules::Period::Kind;
  if (period.kind == Kind::total) return {TimePoint{}, TimePoint::max()};
  if (period.kind == Kind::rolling) return {now - period.rolling, now + period.rolling};
  const date::time_zone* zone = zone_named(timezone);
  const auto now_s = date::floor<seconds>(now);
  const date::local_seconds local =
      zone ? zone->to_local(now_s) : date::local_seconds{now_s.time_since_epoch()};
  const auto start = local_start(period.kind, local);
  return {to_utc(zone, start), to_utc(zone, local_next(period.kind, start))};
}

std::string format_utc(TimePoint at) {
  return date::format("%Y-%m-%dT%H:%M:%SZ", date::floor<seconds>(at));
}

std::string format_span(seconds span) {
  if (span.count() <= 0) return "0s";
  constexpr std::array<std::pair<std::int64_t, char>, 4> units{
      {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}}};
  std::string out;
  std::int64_t left = span.count();
  int written = 0;
  for (const auto& [size, name] : units) {
    if (written == 2) break;
    const std::int64_t n = left / size;
    if (n == 0 && written == 0) continue;
    if (n > 0) out += std::to_string(n) + name;
    left -= n * size;
    ++written;
  }
  return out;
}

}  // namespace budget
