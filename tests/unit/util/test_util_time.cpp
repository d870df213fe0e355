// util::write_rfc3339 (util/time.hpp), the timestamp of every cost record, written without printf:
// the same text as printf's formatting gives, for random times over all that system_clock holds
// (its nanoseconds reach from 1678 to 2262): seconds and milliseconds, either side of midnight and
// of the epoch.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include "util/time.hpp"

namespace {

using namespace std::chrono;

std::string by_printf(system_clock::time_point at, bool millis) {
  const auto day = floor<days>(at);
  const year_month_day ymd{day};
  const hh_mm_ss hms{floor<milliseconds>(at - day)};
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02ld:%02ld:%02lld", int(ymd.year()),
                        unsigned(ymd.month()), unsigned(ymd.day()), long(hms.hours().count()),
                        long(hms.minutes().count()), static_cast<long long>(hms.seconds().count()));
  if (millis)
    n += std::snprintf(buf + n, sizeof buf - n, ".%03lld",
                       static_cast<long long>(hms.subseconds().count()));
  return std::string(buf, static_cast<std::size_t>(n)) + "Z";
}

}  // namespace

TEST_CASE("write_rfc3339: the text printf would make, without printf") {
  CHECK(util::format_rfc3339(sys_days{2025y / March / 1} + hours(10)) == "2025-03-01T10:00:00Z");
  CHECK(util::format_rfc3339(sys_days{2025y / March / 1} + milliseconds(7), true) ==
        "2025-03-01T00:00:00.007Z");
  CHECK(util::format_rfc3339(sys_days{1969y / December / 31} + hours(23) + minutes(59) +
                                 seconds(59) + milliseconds(999),
                             true) == "1969-12-31T23:59:59.999Z");
  std::mt19937_64 random(7);
  const std::int64_t from =
      duration_cast<milliseconds>(sys_days{1678y / January / 1}.time_since_epoch()).count();
  const std::int64_t to =
      duration_cast<milliseconds>(sys_days{2262y / January / 1}.time_since_epoch()).count();
  for (int i = 0; i < 20000; ++i) {
    std::int64_t ms =
        from + static_cast<std::int64_t>(random() % static_cast<std::uint64_t>(to - from));
    if (i % 4 == 0)
      ms = ms / 86'400'000 * 86'400'000 - (i % 8 == 0 ? 1 : 0);  // midnight, or just before
    const system_clock::time_point at{milliseconds(ms)};
    const bool millis = i % 2 == 0;
    INFO("ms " << ms);
    CHECK(util::format_rfc3339(at, millis) == by_printf(at, millis));
  }
}
