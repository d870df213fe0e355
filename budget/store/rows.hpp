#pragma once
// The rows a ledger's state is made of, as journals keep them and give them back: spent amounts,
// open holds, runtime limits and overrides. Plain values; amounts in micro-units.

#include <cstdint>
#include <string>
#include <vector>

namespace budget {

// Spent amount of one budget instance in one period. For rolling periods, one row per second
// in which charges were made (period_start = that second), so that a window slides exactly.
struct SpentRow {
  std::string budget, key;
  std::int64_t period_start = 0;  // unix seconds; 0 for period: total
  std::int64_t amount = 0;        // micro-units
};

struct HoldPart {
  std::string budget, key;
  std::int64_t estimate = 0;
};

struct HoldRow {
  std::uint64_t id = 0;
  std::int64_t deadline = 0;  // unix seconds
  std::vector<HoldPart> parts;
};

struct LimitRow {
  std::string budget;
  std::int64_t limit = 0;
  std::int64_t config_limit = 0;  // the config's limit when it was set: a new one supersedes it
};

struct OverrideRow {
  std::string budget, key, reason;
  std::int64_t extra = 0;
  std::int64_t until = 0;  // unix seconds
};

}  // namespace budget
