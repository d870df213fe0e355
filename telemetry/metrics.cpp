#include "telemetry/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <mutex>
#include <shared_mutex>
#include <unordered_map>

namespace proxy {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Histogram;

// Overhead and SSE delays live in the tens of microseconds; upstream calls in the seconds.
const Histogram::BucketBoundaries k_overhead_buckets{0.00005, 0.0001, 0.00015, 0.00025, 0.0005,
                                                     0.001,   0.0025, 0.005,   0.01,    0.05};
const Histogram::BucketBoundaries k_upstream_buckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                     1,     2.5,  5,     10,   30,  60,   120};
// Store operations: tens of microseconds (a commit, a Redis round trip on loopback) to the
// second after which an unanswered Redis call fails.
const Histogram::BucketBoundaries k_store_buckets{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                  0.005,   0.01,   0.025,   0.1,    0.5,   1};
const Histogram::BucketBoundaries k_ratio_buckets{0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.25, 1.5, 2};

// Label-set cache over a prometheus-cpp family: Family::Add takes a mutex and hashes a std::map;
// this takes a shared lock and hashes one string.
template <typename Metric>
class Cached {
 public:
  explicit Cached(Family<Metric>& family) : family_(family) {}

  template <typename... Args>
  Metric& get(std::initializer_list<std::pair<const char*, std::string_view>> labels,
              Args&&... args) {
    // The lookup key is built in a string kept per thread: a hit (nearly every call) allocates
    // nothing, where a fresh string of "provider, endpoint, outcome" would be one heap block.
    thread_local std::string key;
    key.clear();
    for (const auto& [name, value] : labels) {
      key += value;
      key += '\x1f';
    }
    {
      std::shared_lock lock(mutex_);
      if (auto it = cache_.find(key); it != cache_.end()) return *it->second;
    }
    std::map<std::string, std::string> label_map;
    for (const auto& [name, value] : labels) label_map.emplace(name, std::string(value));
    std::unique_lock lock(mutex_);
    auto& metric = family_.Add(label_map, std::forward<Args>(args)...);
    cache_.emplace(key, &metric);
    return metric;
  }

 private:
  Family<Metric>& family_;
  std::shared_mutex mutex_;
  std::unordered_map<std::string, Metric*> cache_;
};

}  // namespace

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  Cached<Counter> requests{prometheus::BuildCounter()
                               .Name("tollgate_requests_total")
                               .Help("Requests by provider, endpoint and outcome")
                               .Register(*registry)};
  Cached<Counter> spend{prometheus::BuildCounter()
                            .Name("tollgate_spend_total")
                            .Help("Settled spend in currency units")
                            .Register(*registry)};
  Cached<Counter> alerts{prometheus::BuildCounter()
                             .Name("tollgate_alerts_total")
                             .Help("Budget thresholds crossed")
                             .Register(*registry)};
  Cached<Counter> unpriced{prometheus::BuildCounter()
                               .Name("tollgate_unpriced_total")
                               .Help("Requests for a model not in the catalog, priced by "
                                     "unknown_model (dearest or price_as) or refused")
                               .Register(*registry)};
  Cached<Counter> unpriced_endpoint{
      prometheus::BuildCounter()
          .Name("tollgate_unpriced_endpoint_total")
          .Help("POST, PUT and PATCH requests to a provider path that no endpoint prices "
                "(charged the provider's default_cost)")
          .Register(*registry)};
  Family<Histogram>& ratio_family = prometheus::BuildHistogram()
                                        .Name("tollgate_estimate_ratio")
                                        .Help("Actual cost divided by the estimate")
                                        .Register(*registry);
  Histogram& ratio = ratio_family.Add({}, k_ratio_buckets);
  Family<Histogram>& overhead_family =
      prometheus::BuildHistogram()
          .Name("tollgate_overhead_seconds")
          .Help("Time a request spends inside tollgate, upstream time excluded")
          .Register(*registry);
  Histogram& overhead = overhead_family.Add({}, k_overhead_buckets);
  Family<Histogram>& upstream_family = prometheus::BuildHistogram()
                                           .Name("tollgate_upstream_seconds")
                                           .Help("Time waiting on the upstream per exchange")
                                           .Register(*registry);
  Histogram& upstream = upstream_family.Add({}, k_upstream_buckets);
  Family<Counter>& tunnel_family = prometheus::BuildCounter()
                                       .Name("tollgate_tunnel_bytes_total")
                                       .Help("Bytes relayed through blind tunnels")
                                       .Register(*registry);
  Counter& tunnel_up = tunnel_family.Add({{"direction", "upstream"}});
  Counter& tunnel_down = tunnel_family.Add({{"direction", "client"}});
  Family<prometheus::Gauge>& connections_family = prometheus::BuildGauge()
                                                      .Name("tollgate_connections")
                                                      .Help("Open client connections by mode")
                                                      .Register(*registry);
  prometheus::Gauge& connections_intercept = connections_family.Add({{"mode", "intercept"}});
  prometheus::Gauge& connections_other = connections_family.Add({{"mode", "other"}});
  Family<prometheus::Gauge>& realtime_family = prometheus::BuildGauge()
                                                   .Name("tollgate_realtime_sessions")
                                                   .Help("Open metered realtime WebSocket sessions")
                                                   .Register(*registry);
  prometheus::Gauge& realtime_sessions = realtime_family.Add({});
  Cached<Counter> realtime_responses{prometheus::BuildCounter()
                                         .Name("tollgate_realtime_responses_total")
                                         .Help("Realtime responses (and Gemini Live turns) by "
                                               "provider, model and outcome")
                                         .Register(*registry)};

  Cached<Histogram> store{prometheus::BuildHistogram()
                              .Name("tollgate_store_seconds")
                              .Help("Ledger store operations by store and operation, as their "
                                    "callers waited for them")
                              .Register(*registry)};
  Cached<Counter> store_errors{prometheus::BuildCounter()
                                   .Name("tollgate_store_errors_total")
                                   .Help("Ledger store operations that failed (no reply, an "
                                         "error, a commit rolled back)")
                                   .Register(*registry)};

  std::mutex hook_mutex;
  std::function<void(std::string&)> scrape_hook;
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

Metrics& Metrics::instance() {
  static Metrics metrics;
  return metrics;
}

prometheus::Registry& Metrics::registry() {
  return *impl_->registry;
}

std::string_view outcome_name(RequestOutcome outcome) {
  switch (outcome) {
    case RequestOutcome::forwarded:
      return "forwarded";
    case RequestOutcome::refused:
      return "refused";
    case RequestOutcome::error:
      return "error";
    case RequestOutcome::tunneled:
      return "tunneled";
  }
  return "error";
}

void Metrics::observe_store(std::string_view store, std::string_view op,
                            std::chrono::nanoseconds took) {
  impl_->store.get({{"store", store}, {"op", op}}, k_store_buckets)
      .Observe(std::chrono::duration<double>(took).count());
}

void Metrics::count_store_error(std::string_view store) {
  impl_->store_errors.get({{"store", store}}).Increment();
}

void Metrics::count_request(std::string_view provider, std::string_view endpoint,
                            RequestOutcome outcome) {
  impl_->requests
      .get({{"provider", provider}, {"endpoint", endpoint}, {"outcome", outcome_name(outcome)}})
      .Increment();
}

void Metrics::add_spend(std::string_view currency, std::string_view provider,
                        std::string_view model, std::int64_t micros) {
  // Exposition only: the ledger keeps the exact integer amounts.
  impl_->spend.get({{"currency", currency}, {"provider", provider}, {"model", model}})
      .Increment(static_cast<double>(micros) / 1e6);
}

void Metrics::observe_estimate_ratio(double ratio) {
  impl_->ratio.Observe(ratio);
}

void Metrics::observe_overhead(std::chrono::nanoseconds d) {
  impl_->overhead.Observe(std::chrono::duration<double>(d).count());
}

void Metrics::observe_upstream(std::chrono::nanoseconds d) {
  impl_->upstream.Observe(std::chrono::duration<double>(d).count());
}

void Metrics::count_alert(std::string_view budget, std::string_view threshold) {
  impl_->alerts.get({{"budget", budget}, {"threshold", threshold}}).Increment();
}

void Metrics::count_unpriced(std::string_view provider, std::string_view model) {
  impl_->unpriced.get({{"provider", provider}, {"model", model}}).Increment();
}

void Metrics::count_unpriced_endpoint(std::string_view provider, std::string_view method) {
  impl_->unpriced_endpoint.get({{"provider", provider}, {"method", method}}).Increment();
}

void Metrics::add_tunnel_bytes(std::uint64_t up, std::uint64_t down) {
  impl_->tunnel_up.Increment(static_cast<double>(up));
  impl_->tunnel_down.Increment(static_cast<double>(down));
}

void Metrics::connection_opened(bool intercepted) {
  (intercepted ? impl_->connections_intercept : impl_->connections_other).Increment();
}

void Metrics::connection_closed(bool intercepted) {
  (intercepted ? impl_->connections_intercept : impl_->connections_other).Decrement();
}

void Metrics::realtime_session_opened() {
  impl_->realtime_sessions.Increment();
}

void Metrics::realtime_session_closed() {
  impl_->realtime_sessions.Decrement();
}

void Metrics::count_realtime_response(std::string_view provider, std::string_view model,
                                      std::string_view outcome) {
  impl_->realtime_responses.get({{"provider", provider}, {"model", model}, {"outcome", outcome}})
      .Increment();
}

void Metrics::set_scrape_hook(std::function<void(std::string&)> hook) {
  std::lock_guard lock(impl_->hook_mutex);
  impl_->scrape_hook = std::move(hook);
}

std::string Metrics::serialize() {
  std::string out = prometheus::TextSerializer{}.Serialize(impl_->registry->Collect());
  std::lock_guard lock(impl_->hook_mutex);
  if (impl_->scrape_hook) impl_->scrape_hook(out);
  return out;
}

}  // namespace proxy
