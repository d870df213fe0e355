#include "rules/money.hpp"

#include <charconv>
#include <limits>

namespace rules {

std::optional<std::int64_t> parse_micros(std::string_view text) {
  bool negative = false;
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  const auto dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  if (whole.empty() && frac.empty()) return std::nullopt;
  if (dot != std::string_view::npos && frac.empty()) return std::nullopt;  // "1."
  for (char c : whole)
    if (c < '0' || c > '9') return std::nullopt;
  for (char c : frac)
    if (c < '0' || c > '9') return std::nullopt;
  // Digits past the sixth decimal must be zero: an amount we cannot represent exactly is an error.
  while (frac.size() > 6) {
    if (frac.back() != '0') return std::nullopt;
    frac.remove_suffix(1);
  }
  std::int64_t units = 0;
  if (!whole.empty()) {
    auto [ptr, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), units);
    if (ec != std::errc{} || ptr != whole.data() + whole.size()) return std::nullopt;
  }
  if (units > std::numeric_limits<std::int64_t>::max() / k_micro - 1) return std::nullopt;
  std::int64_t micros = 0;
  for (std::size_t i = 0; i < 6; ++i) micros = micros * 10 + (i < frac.size() ? frac[i] - '0' : 0);
  const std::int64_t total = units * k_micro + micros;
  return negative ? -total : total;
}

std::string format_micros(std::int64_t micros) {
  const bool negative = micros < 0;
  // Work in unsigned to format INT64_MIN without overflow.
  const std::uint64_t magnitude =
      negative ? static_cast<std::uint64_t>(-(micros + 1)) + 1 : static_cast<std::uint64_t>(micros);
  std::string out = negative ? "-" : "";
  out += std::to_string(magnitude / k_micro);
  std::uint64_t frac = magnitude % k_micro;
  if (frac != 0) {
    std::string digits = std::to_string(frac);
    digits.insert(0, 6 - digits.size(), '0');
    while (digits.back() == '0') digits.pop_back();
    out += '.';
    out += digits;
  }
  return out;
}

}  // namespace rules
