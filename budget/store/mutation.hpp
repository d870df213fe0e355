#pragma once
// budget::Mutation — one change to the ledger's durable state, a struct per kind of change.
// Each kind is recorded whole or not at all.

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "budget/store/rows.hpp"

namespace budget {

// A request is admitted: its hold reserves the estimate in each part.
struct OpenHold {
  HoldRow hold;
};

// A hold ends: its row goes and `charged` is added to spent (empty: released, nothing charged).
// One step, so that a settlement is never lost and never counted twice.
struct CloseHold {
  std::uint64_t hold = 0;
  std::vector<SpentRow> charged;
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

using Mutation = std::variant<OpenHold, CloseHold, Reset, SetLimit, AddOverride>;

}  // namespace budget
