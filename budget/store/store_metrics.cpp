#include "budget/store/store_metrics.hpp"

#include <atomic>

namespace budget {
namespace {

std::atomic<StoreMetrics*> g_metrics{nullptr};

}  // namespace

void set_store_metrics(StoreMetrics* metrics) {
  g_metrics.store(metrics, std::memory_order_release);
}

StoreMetrics* store_metrics() {
  return g_metrics.load(std::memory_order_acquire);
}

}  // namespace budget
