#pragma once
// budget::StoreMetrics — what the stores report to the process's metrics: how long each operation
// took as its caller saw it (tollgate_store_seconds{store,op}) and each one that failed
// (tollgate_store_errors_total{store}). telemetry/ installs one at start, so that budget/ never
// depends on Prometheus; none is installed by default and then nothing is reported.

#include <chrono>
#include <string_view>

namespace budget {

class StoreMetrics {
 public:
  virtual ~StoreMetrics() = default;
  // Safe from any thread.
  virtual void observe(std::string_view store, std::string_view op,
                       std::chrono::nanoseconds took) = 0;
  virtual void error(std::string_view store) = 0;
};

// Installs `metrics` (nullptr: none) for every store of the process; it must outlive them.
void set_store_metrics(StoreMetrics* metrics);
// The installed one, or nullptr.
StoreMetrics* store_metrics();

}  // namespace budget
