#pragma once
// budget::Mutation — one change to the ledger's durable state, a struct per kind of change.
// Each kind is recorded whole or not at all.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "budget/store/rows.hpp"

namespace budget {

// A request is admitted: its hold reserves the estimate in each part.
struct OpenHold {
  HoldRow hold;
};

// A hold ends: its row goes, `charged` is added to spent (empty: released, nothing charged) and
// `record` describes the exchange. One step, so that a settlement is never lost, never counted
// twice, and never without its record (nor a record without its settlement).
struct CloseHold {
  std::uint64_t hold = 0;
  std::vector<SpentRow> charged;
  std::optional<CostRecord> record;
};

// A request was refused: no hold, nothing charged, only its record (actual 0).
struct AddRecord {
  CostRecord record;
};

// The operator zeroes a budget: spent rows from `from` (unix seconds) on go; key "" = every
// instance of the budget.
struct Reset {
  std::string budget, key;
  std::int64_t from = 0;
};

// The operator sets a budget's limit at runtime.
struct SetLimit {
  LimitRow limit;
};

// The operator adds headroom to a budget until a given time.
struct AddOverride {
  OverrideRow override_;
};

using Mutation = std::variant<OpenHold, CloseHold, AddRecord, Reset, SetLimit, AddOverride>;

}  // namespace budget
