#pragma once
// Questions asked of the cost records (DESIGN §13): which records, in what order; and spend
// grouped by model, client, credential, provider, endpoint, budget, day or hour. SpendTally
// answers the second over records in memory; the SQLite store answers both in SQL.

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "budget/store/cost_record.hpp"

namespace budget {

// Unix milliseconds, [since, until).
struct TimeRange {
  std::int64_t since = 0;
  std::int64_t until = std::numeric_limits<std::int64_t>::max();
  bool contains(std::int64_t at) const { return at >= since && at < until; }
};

struct RecordQuery {
  TimeRange range;
  std::string currency;  // "" = any
  enum class Order {
    time,  // in the order kept (the receipt chain's order), oldest first
    cost,  // dearest first (actual, then estimate)
  } order = Order::time;
  std::size_t limit = std::numeric_limits<std::size_t>::max();
};

enum class SpendKey { model, client, credential, provider, endpoint, budget, day, hour };
std::string_view spend_key_name(SpendKey key);
std::optional<SpendKey> parse_spend_key(std::string_view name);

struct SpendQuery {
  std::vector<SpendKey> group_by;  // none: one group per currency
  TimeRange range;
  std::string currency;  // "" = any
};

// One group: `keys` hold the values of group_by, in its order (day: "2026-11-23", hour:
// "2026-11-23T12:00:00Z", budget: the instance, "" for a request in no budget). Amounts never
// mix currencies: the currency is always part of the group.
struct SpendGroup {
  std::vector<std::string> keys;
  std::string currency;
  std::int64_t requests = 0;  // records, refusals included
  std::int64_t refused = 0;
  std::int64_t spent = 0;      // sum of actual
  std::int64_t estimated = 0;  // sum of the estimates admitted (a refusal reserved nothing)
  std::int64_t input_tokens = 0, output_tokens = 0;

  // Adds one record's share.
  void add(const CostRecord& record);

  bool operator==(const SpendGroup&) const = default;
};

// The value of `key` for the hour starting at unix second `hour` ("day" and "hour" keys only).
std::string time_key(SpendKey key, std::int64_t hour);

// Spend groups built one record at a time (a record counts in each of its budgets when grouped
// by budget), then sorted: the most spent first, then by keys.
class SpendTally {
 public:
  explicit SpendTally(const SpendQuery& query) : query_(query) {}
  void add(const CostRecord& record);
  std::vector<SpendGroup> groups() &&;

 private:
  void add(const CostRecord& record, const std::string* budget);

  const SpendQuery& query_;
  std::map<std::vector<std::string>, SpendGroup> groups_;  // keys + currency -> group
};

// Sorts groups as SpendTally does (for stores that group elsewhere).
void sort_groups(std::vector<SpendGroup>& groups);

}  // namespace budget
