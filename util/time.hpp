#pragma once
// Unix time of a system_clock point, and RFC 3339 UTC text: the conversions the ledger, its
// records and the admin API share.

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace util {

inline std::int64_t unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

inline std::int64_t unix_millis(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Writes `at` as format_rfc3339 does into `buf` (room for 24 bytes); returns the length. Without
// a heap allocation or printf: a cost record has one for every request.
inline std::size_t write_rfc3339(char* buf, std::chrono::system_clock::time_point at,
                                 bool millis = false) {
  using namespace std::chrono;
  const auto day = floor<days>(at);
  const year_month_day ymd{day};
  const hh_mm_ss hms{floor<milliseconds>(at - day)};
  // system_clock counts nanoseconds in 64 bits: its years run from 1678 to 2262, four digits.
  const int year = int(ymd.year());
  const auto digits = [](char* p, long long v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) p[i] = static_cast<char>('0' + v % 10);
  };
  digits(buf, year, 4);
  buf[4] = '-';
  digits(buf + 5, unsigned(ymd.month()), 2);
  buf[7] = '-';
  digits(buf + 8, unsigned(ymd.day()), 2);
  buf[10] = 'T';
  digits(buf + 11, hms.hours().count(), 2);
  buf[13] = ':';
  digits(buf + 14, hms.minutes().count(), 2);
  buf[16] = ':';
  digits(buf + 17, hms.seconds().count(), 2);
  std::size_t n = 19;
  if (millis) {
    buf[n++] = '.';
    digits(buf + n, hms.subseconds().count(), 3);
    n += 3;
  }
  buf[n++] = 'Z';
  return n;
}

// "2025-03-01T00:00:00Z"; with millis "2025-03-01T00:00:00.123Z".
inline std::string format_rfc3339(std::chrono::system_clock::time_point at, bool millis = false) {
  char buf[32];
  return std::string(buf, write_rfc3339(buf, at, millis));
}

namespace detail {

// Reads exactly `width` digits at `pos`.
inline std::optional<int> digits(std::string_view text, std::size_t& pos, std::size_t width) {
  if (pos + width > text.size()) return std::nullopt;
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data() + pos, text.data() + pos + width, value);
  if (ec != std::errc{} || ptr != text.data() + pos + width) return std::nullopt;
  pos += width;
  return value;
}

inline bool expect(std::string_view text, std::size_t& pos, char c) {
  if (pos >= text.size() || (text[pos] != c && !(c == 'T' && text[pos] == 't'))) return false;
  ++pos;
  return true;
}

}  // namespace detail

// "2025-03-01T10:00:00Z", "2025-03-01T10:00:00.5+02:00"; nullopt when malformed.
inline std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text) {
  using namespace std::chrono;
  using detail::digits;
  using detail::expect;
  std::size_t pos = 0;
  auto y = digits(text, pos, 4);
  if (!y || !expect(text, pos, '-')) return std::nullopt;
  auto mo = digits(text, pos, 2);
  if (!mo || !expect(text, pos, '-')) return std::nullopt;
  auto d = digits(text, pos, 2);
  if (!d || !expect(text, pos, 'T')) return std::nullopt;
  auto h = digits(text, pos, 2);
  if (!h || !expect(text, pos, ':')) return std::nullopt;
  auto mi = digits(text, pos, 2);
  if (!mi || !expect(text, pos, ':')) return std::nullopt;
  auto s = digits(text, pos, 2);
  if (!s) return std::nullopt;
  const year_month_day ymd{year{*y}, month(unsigned(*mo)), day(unsigned(*d))};
  if (!ymd.ok() || *h > 23 || *mi > 59 || *s > 60) return std::nullopt;
  auto at = system_clock::time_point{sys_days{ymd}} + hours(*h) + minutes(*mi) + seconds(*s);
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    std::int64_t scale = 100, ms = 0;
    const auto start = pos;
    for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos) {
      ms += (text[pos] - '0') * scale;
      scale /= 10;
    }
    if (pos == start) return std::nullopt;
    at += milliseconds(ms);
  }
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    if (pos + 1 != text.size()) return std::nullopt;
    return at;
  }
  if (pos >= text.size() || (text[pos] != '+' && text[pos] != '-')) return std::nullopt;
  const int sign = text[pos++] == '+' ? 1 : -1;
  auto oh = digits(text, pos, 2);
  if (!oh || !expect(text, pos, ':')) return std::nullopt;
  auto om = digits(text, pos, 2);
  if (!om || pos != text.size() || *oh > 23 || *om > 59) return std::nullopt;
  // Local time = UTC + offset, so UTC = local - offset.
  return at - sign * (hours(*oh) + minutes(*om));
}

}  // namespace util
