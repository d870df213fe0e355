#pragma once
// The metrics that are a view of the enforcer's state (DESIGN §9): tollgate_budget_spent,
// _reserved and _limit{budget,key,currency}, tollgate_provider_balance{provider,account} and
// tollgate_breaker_open{name}, read at scrape time so they never drift from the ledger.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "budget/enforcer.hpp"
#include "telemetry/metrics.hpp"

namespace proxy {

// The exposition text (Prometheus 0.0.4, prometheus-cpp's serializer) of those gauges now.
// Amounts are exposed in currency units as floats: exposition only, the ledger stays exact.
// With a config whose catalog carries a checked date, also tollgate_catalog_age_days (whole
// days from that date to `now`).
std::string budget_metrics_text(
    const budget::Enforcer& enforcer, const rules::Config* config = nullptr,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// Makes Metrics::serialize() append budget_metrics_text(enforcer, config()); config may be
// empty. clear_budget_metrics() removes the hook (before the enforcer goes away).
void install_budget_metrics(Metrics& metrics, const budget::Enforcer& enforcer,
                            std::function<std::shared_ptr<const rules::Config>()> config = nullptr);
void clear_budget_metrics(Metrics& metrics);

// Makes the ledger stores (budget/store/) report their operations to `metrics`
// (tollgate_store_seconds, tollgate_store_errors_total). Once, before the enforcer is made.
void install_store_metrics(Metrics& metrics);

}  // namespace proxy
