#include "telemetry/budget_metrics.hpp"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <vector>

#include "budget/store/store_metrics.hpp"

namespace proxy {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily gauge_family(std::string name, std::string help) {
  MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = MetricType::Gauge;
  return family;
}

void add_gauge(MetricFamily& family, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  family.metric.push_back(std::move(metric));
}

double units(std::int64_t micros) {
  return static_cast<double>(micros) / 1e6;
}

// The stores' reports, passed on to the process's metrics.
class StoreMetricsSink final : public budget::StoreMetrics {
 public:
  explicit StoreMetricsSink(Metrics& metrics) : metrics_(metrics) {}
  void observe(std::string_view store, std::string_view op,
               std::chrono::nanoseconds took) override {
    metrics_.observe_store(store, op, took);
  }
  void error(std::string_view store) override { metrics_.count_store_error(store); }

 private:
  Metrics& metrics_;
};

}  // namespace

std::string budget_metrics_text(const budget::Enforcer& enforcer, const rules::Config* config,
                                std::chrono::system_clock::time_point now) {
  auto spent = gauge_family("tollgate_budget_spent", "Spent in the current period, currency units");
  auto reserved =
      gauge_family("tollgate_budget_reserved", "Held by requests in flight, currency units");
  auto limit = gauge_family("tollgate_budget_limit",
                            "Limit of the current period with live overrides, currency units");
  for (const auto& b : enforcer.budgets()) {
    std::vector<ClientMetric::Label> labels{
        {"budget", b.name}, {"currency", b.currency}, {"key", b.key}};
    add_gauge(spent, labels, units(b.spent));
    add_gauge(reserved, labels, units(b.reserved));
    add_gauge(limit, labels, units(b.effective_limit()));
  }
  auto balance = gauge_family("tollgate_provider_balance",
                              "Provider-reported balance now (observed - holds + refill)");
  for (const auto& b : enforcer.balances())
    add_gauge(balance, {{"account", b.account}, {"provider", b.provider}}, units(b.estimated_now));
  auto breaker = gauge_family("tollgate_breaker_open", "1 while the circuit breaker is open");
  for (const auto& b : enforcer.breakers()) add_gauge(breaker, {{"name", b.name}}, b.open ? 1 : 0);
  std::vector<MetricFamily> families{spent, reserved, limit, balance, breaker};
  if (const auto age = config ? config->catalog_age_days(now) : std::nullopt) {
    auto catalog = gauge_family("tollgate_catalog_age_days",
                                "Days since the prices of the catalog in use were checked");
    add_gauge(catalog, {}, static_cast<double>(*age));
    families.push_back(std::move(catalog));
  }
  return prometheus::TextSerializer{}.Serialize(families);
}

void install_budget_metrics(Metrics& metrics, const budget::Enforcer& enforcer,
                            std::function<std::shared_ptr<const rules::Config>()> config) {
  metrics.set_scrape_hook([&enforcer, config = std::move(config)](std::string& out) {
    const auto snapshot = config ? config() : nullptr;
    out += budget_metrics_text(enforcer, snapshot.get());
  });
}

void clear_budget_metrics(Metrics& metrics) {
  metrics.set_scrape_hook(nullptr);
}

void install_store_metrics(Metrics& metrics) {
  static StoreMetricsSink sink(metrics);
  budget::set_store_metrics(&sink);
}

}  // namespace proxy
