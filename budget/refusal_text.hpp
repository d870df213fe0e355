#pragma once
// The refusals the budget module answers with: what was asked, what is left, the deficit, and
// when waiting helps — worded so that a person reading an SDK exception knows what happened.

#include <string>

#include "budget/enforcer.hpp"

namespace budget {

// budget "daily" (key "team-a") would be exceeded: estimate 0.03015 usd, remaining 0.01 usd of
// 50 usd, deficit 0.02015 usd; resets at 2026-11-24T00:00:00Z (in 3h12m)
Admission budget_refusal(const BudgetStanding& standing, std::int64_t estimate, TimePoint now);

struct BalanceShortfall {
  std::string provider, endpoint, currency;
  std::int64_t current = 0, estimate = 0, min = 0, refill_per_minute = 0;
};

// Keepa balance too low: current balance 45 tokens, required 50 (+ min 10) for endpoint
// bestsellers, deficit 15 tokens; refills 5 tokens/min
Admission balance_refusal(const BalanceShortfall& shortfall);

}  // namespace budget
