#include "budget/refusal_text.hpp"

#include <algorithm>
#include <cctype>

#include "budget/period_window.hpp"

namespace budget {
namespace {

// "keepa_token" reads as "tokens"; a currency such as "usd" stays as written.
std::string unit_name(const std::string& currency) {
  if (currency.ends_with("_token") || currency.ends_with("_tokens") || currency == "token")
    return "tokens";
  if (currency.ends_with("_credit") || currency.ends_with("_credits")) return "credits";
  return currency;
}

std::string display_name(std::string provider) {
  if (!provider.empty())
    provider[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(provider[0])));
  return provider;
}

}  // namespace

Admission budget_refusal(const BudgetStanding& s, std::int64_t estimate, TimePoint now) {
  const std::int64_t remaining = std::max<std::int64_t>(0, s.remaining());
  const std::int64_t total = s.limit + s.overrides;
  Admission a;
  a.admitted = false;
  a.refused_by = RefusedBy::budget;
  a.name = s.name;
  a.key = s.key;
  a.message = "budget \"" + s.name + "\"" + (s.key.empty() ? "" : " (key \"" + s.key + "\")") +
              " would be exceeded: estimate " + rules::format_micros(estimate) + " " + s.currency +
              ", remaining " + rules::format_micros(remaining) + " " + s.currency + " of " +
              rules::format_micros(total) + " " + s.currency + ", deficit " +
              rules::format_micros(estimate - remaining) + " " + s.currency;
  if (s.resets_at == TimePoint::max()) {
    a.message += "; the period never resets (period: total)";
  } else {
    const auto wait = std::max<std::int64_t>(
        1, std::chrono::ceil<std::chrono::seconds>(s.resets_at - now).count());
    a.message += "; resets at " + format_utc(s.resets_at) + " (in " +
                 format_span(std::chrono::seconds(wait)) + ")";
    a.retry_after_s = wait;
  }
  a.should_retry = false;  // nothing frees up before the reset
  return a;
}

Admission balance_refusal(const BalanceShortfall& b) {
  const std::string unit = unit_name(b.currency);
  Admission a;
  a.admitted = false;
  a.refused_by = RefusedBy::balance;
  a.name = b.provider;
  const std::int64_t deficit = b.estimate + b.min - b.current;
  a.message = display_name(b.provider) + " balance too low: current balance " +
              rules::format_micros(b.current) + " " + unit + ", required " +
              rules::format_micros(b.estimate) + " (+ min " + rules::format_micros(b.min) + ")" +
              (b.endpoint.empty() ? "" : " for endpoint " + b.endpoint) + ", deficit " +
              rules::format_micros(deficit) + " " + unit;
  if (b.refill_per_minute > 0) {
    a.message += "; refills " + rules::format_micros(b.refill_per_minute) + " " + unit + "/min";
    // Seconds until the refill covers the deficit, rounded up.
    a.retry_after_s = static_cast<std::int64_t>(
        (static_cast<__int128>(deficit) * 60 + b.refill_per_minute - 1) / b.refill_per_minute);
    a.should_retry = true;
  }
  a.balance_left = b.current;
  return a;
}

std::string_view refused_by_name(RefusedBy refused_by) {
  switch (refused_by) {
    case RefusedBy::none:
      return "";
    case RefusedBy::budget:
      return "budget";
    case RefusedBy::balance:
      return "balance";
    case RefusedBy::rate:
      return "rate";
    case RefusedBy::breaker:
      return "breaker";
    case RefusedBy::store:
      return "store";
    case RefusedBy::price:
      return "price";
  }
  return "";
}

std::string_view event_type_name(EventType type) {
  switch (type) {
    case EventType::threshold:
      return "threshold";
    case EventType::refused:
      return "refused";
    case EventType::would_refuse:
      return "would_refuse";
    case EventType::balance_warning:
      return "balance_warning";
    case EventType::breaker:
      return "breaker";
    case EventType::admin:
      return "admin";
    case EventType::overrun:
      return "overrun";
    case EventType::reload:
      return "reload";
    case EventType::error:
      return "error";
    case EventType::unpriced_model:
      return "unpriced_model";
    case EventType::unpriced_endpoint:
      return "unpriced_endpoint";
  }
  return "error";
}

std::optional<EventType> parse_event_type(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(EventType::unpriced_endpoint); ++i)
    if (event_type_name(static_cast<EventType>(i)) == name) return static_cast<EventType>(i);
  return std::nullopt;
}

}  // namespace budget
