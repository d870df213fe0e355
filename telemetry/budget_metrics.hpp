#pragma once
// The metrics that are a view of the enforcer's state (DESIGN §9): tollgate_budget_spent,
// _reserved and _limit{budget,key,currency}, tollgate_provider_balance{provider,account} and
// tollgate_breaker_open{name}, read at scrape time so they never drift from the ledger.

#include <string>

#include "budget/enforcer.hpp"
#include "telemetry/metrics.hpp"

namespace proxy {

// The exposition text (Prometheus 0.0.4, prometheus-cpp's serializer) of those gauges now.
// Amounts are exposed in currency units as floats: exposition only, the ledger stays exact.
std::string budget_metrics_text(const budget::Enforcer& enforcer);

// Makes Metrics::serialize() append budget_metrics_text(enforcer); clear_budget_metrics()
// removes the hook (before the enforcer goes away).
void install_budget_metrics(Metrics& metrics, const budget::Enforcer& enforcer);
void clear_budget_metrics(Metrics& metrics);

}  // namespace proxy
