#pragma once
// JSON and time formats of the admin API (DESIGN §8): budget standings, balances and events as
// JSON with amounts as decimal strings, RFC 3339 UTC times, and the parsers for what callers send.

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "budget/enforcer.hpp"

namespace proxy {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// "2025-03-01T00:00:00Z"; with millis "2025-03-01T00:00:00.123Z".
std::string format_rfc3339(budget::TimePoint at, bool millis = false);

// "2025-03-01T10:00:00Z", "2025-03-01T10:00:00.5+02:00"; nullopt when malformed.
std::optional<budget::TimePoint> parse_rfc3339(std::string_view text);

// An override's `until`: an RFC 3339 time or a duration from `now` ("2h", "30m").
std::optional<budget::TimePoint> parse_until(std::string_view text, budget::TimePoint now);

// {"error":"message"}
std::string error_json(std::string_view message);

void write_budget(JsonWriter& out, const budget::BudgetStanding& standing);
void write_balance(JsonWriter& out, const budget::BalanceStanding& standing);
void write_event(JsonWriter& out, const budget::Event& event);

// {"budgets":[...]}, {"balances":[...]}, {"breakers":[{"name","open"}]},
// {"events":[...],"last_id":N}.
std::string budgets_json(const std::vector<budget::BudgetStanding>& standings);
std::string balances_json(const std::vector<budget::BalanceStanding>& standings);
std::string breakers_json(const std::vector<budget::BreakerStanding>& standings);
std::string events_json(const std::vector<budget::Event>& events, std::uint64_t since);

// Writes `json` (a JSON text) as a value; an empty or malformed text is written as `fallback`.
void write_raw_json(JsonWriter& out, std::string_view json, std::string_view fallback = "null");

}  // namespace proxy
