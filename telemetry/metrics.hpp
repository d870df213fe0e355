#pragma once
// Process-wide Prometheus metrics (DESIGN §9). Cheap to call from any worker thread; label sets
// are cached so the hot path does a hash lookup, not a registry walk.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace prometheus {
class Registry;
}

namespace proxy {

// The `outcome` label of tollgate_requests_total.
enum class RequestOutcome { forwarded, refused, error, tunneled };
std::string_view outcome_name(RequestOutcome outcome);

class Metrics {
 public:
  static Metrics& instance();

  void count_request(std::string_view provider, std::string_view endpoint, RequestOutcome outcome);
  // A request to a host no provider owns (blind tunnel, plain-HTTP forward, or one refused by
  // the tunnel policy): provider and endpoint are k_no_label rather than empty, so that
  // `sum by (provider)` shows that traffic under a name.
  void count_other_host(RequestOutcome outcome) { count_request(k_no_label, k_no_label, outcome); }
  static constexpr std::string_view k_no_label = "(none)";
  void add_spend(std::string_view currency, std::string_view provider, std::string_view model,
                 std::int64_t micros);
  void observe_estimate_ratio(double actual_over_estimate);
  void observe_overhead(std::chrono::nanoseconds inside_tollgate);
  void observe_upstream(std::chrono::nanoseconds upstream);
  void count_alert(std::string_view budget, std::string_view threshold);
  // A request for a model missing from its provider's models (tollgate_unpriced_total).
  void count_unpriced(std::string_view provider, std::string_view model);
  // One ledger store operation as its caller waited for it (tollgate_store_seconds{store,op}),
  // and one that failed (tollgate_store_errors_total{store}).
  void observe_store(std::string_view store, std::string_view op, std::chrono::nanoseconds took);
  void count_store_error(std::string_view store);
  // A POST, PUT or PATCH to a provider path that no endpoint prices
  // (tollgate_unpriced_endpoint_total; no path label: paths hold ids).
  void count_unpriced_endpoint(std::string_view provider, std::string_view method);
  void add_tunnel_bytes(std::uint64_t client_to_upstream, std::uint64_t upstream_to_client);
  void connection_opened(bool intercepted);
  void connection_closed(bool intercepted);
  // Metered realtime WebSocket sessions (tollgate_realtime_sessions) and their responses
  // (tollgate_realtime_responses_total{provider,model,outcome}; outcome: completed | cancelled |
  // failed | incomplete as response.done says, refused, or no_usage when none came and the
  // estimate was charged).
  void realtime_session_opened();
  void realtime_session_closed();
  void count_realtime_response(std::string_view provider, std::string_view model,
                               std::string_view outcome);

  // Metrics that are a view of other state (budget standings, balances, breakers) are collected
  // at scrape time from this callback, which appends exposition-format lines.
  void set_scrape_hook(std::function<void(std::string& out)> hook);

  // The full exposition text (Prometheus text format 0.0.4).
  std::string serialize();

  prometheus::Registry& registry();

  Metrics();
  ~Metrics();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace proxy
