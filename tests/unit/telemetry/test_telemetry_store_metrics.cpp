// The ledger stores report to the process's metrics through budget::StoreMetrics, so that
// budget/ never depends on Prometheus.
#include <doctest/doctest.h>

#include "budget/store/store_metrics.hpp"
#include "telemetry/budget_metrics.hpp"

TEST_CASE("install_store_metrics, store operations and errors reach the exposition") {
  proxy::Metrics& metrics = proxy::Metrics::instance();
  proxy::install_store_metrics(metrics);
  budget::StoreMetrics* sink = budget::store_metrics();
  REQUIRE(sink);
  sink->observe("redis", "reserve", std::chrono::microseconds(180));
  sink->observe("redis", "reserve", std::chrono::milliseconds(3));
  sink->error("redis");
  const std::string text = metrics.serialize();
  CHECK(text.find("tollgate_store_seconds_count{op=\"reserve\",store=\"redis\"} 2") !=
        std::string::npos);
  CHECK(text.find("tollgate_store_seconds_bucket{op=\"reserve\",store=\"redis\",le=\"0.00025\"} "
                  "1") != std::string::npos);
  CHECK(text.find("tollgate_store_errors_total{store=\"redis\"} 1") != std::string::npos);
  budget::set_store_metrics(nullptr);
}
