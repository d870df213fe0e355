#pragma once
// Exact amounts: integer micro-units (1e-6) of a named currency. No floating point anywhere.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rules {

inline constexpr std::int64_t k_micro = 1'000'000;
// The largest amount a limit or an override may name: 10^9 currency units. Far from int64's
// range, so sums of limits and overrides cannot wrap, and exact in Redis's Lua doubles (2^53).
inline constexpr std::int64_t k_max_amount = 1'000'000'000 * k_micro;

// a + b, clamped to int64's range instead of wrapping (a limit plus many overrides).
inline std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  std::int64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) return b > 0 ? INT64_MAX : INT64_MIN;
  return out;
}

// a * b, clamped to int64's range instead of wrapping (a price times a huge count).
inline std::int64_t saturating_mul(std::int64_t a, std::int64_t b) {
  std::int64_t out = 0;
  if (__builtin_mul_overflow(a, b, &out)) return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
  return out;
}

struct Money {
  std::int64_t micros = 0;
  std::string currency;  // "usd", "keepa_token", or any name the config defines

  friend bool operator==(const Money&, const Money&) = default;
};

// Parses a decimal such as "0.15", "50", "-3.000001" into micro-units; nullopt when malformed
// or when it has more than 6 decimals that are not zero.
std::optional<std::int64_t> parse_micros(std::string_view text);

// Formats micro-units as a decimal string with 6 decimals trimmed of trailing zeros, at least
// one decimal kept only when needed: 1500000 -> "1.5", 3000000 -> "3", 123 -> "0.000123".
std::string format_micros(std::int64_t micros);

}  // namespace rules
