#pragma once
// The hooks that make tollgate a budget proxy: price the request (rules/), reserve it
// (budget::Enforcer), refuse locally in the provider's shape, read the usage from the response and
// settle the hold at the actual cost on every ending.

#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "budget/enforcer.hpp"
#include "budget/event_detail.hpp"
#include "pipeline/batch_files.hpp"
#include "pipeline/exchange_hooks.hpp"

namespace proxy {

// Events the hooks emit about single requests (a price refusal, an unpriced model or endpoint):
// at most `per` per key and window (by default k_per_second per kind and name and second, as the
// enforcer samples its refusal events), so that one busy client cannot flush every other event
// out of the list.
class EventSampler {
 public:
  static constexpr int k_per_second = 10;
  struct Rate {
    int per = k_per_second;
    std::int64_t window_s = 1;
  };
  // Emits `event` unless the window's share of every key in `keys` is used; `detail` gets
  // suppressed_before (of the first key: what this event stands for).
  void emit(budget::Enforcer& enforcer, const std::vector<std::pair<std::string, Rate>>& keys,
            budget::Event event, budget::EventDetail detail);
  void emit(budget::Enforcer& enforcer, const std::string& key, budget::Event event,
            budget::EventDetail detail) {
    emit(enforcer, {{key, Rate{}}}, std::move(event), std::move(detail));
  }

 private:
  static constexpr std::size_t k_max_keys = 4096;
  struct Sample {
    std::int64_t window = 0;
    int emitted = 0;
    std::int64_t suppressed = 0;
  };
  std::mutex mutex_;
  std::map<std::string, Sample> samples_;
};

class EnforcementHookFactory final : public HookFactory {
 public:
  // Listens to `enforcer`'s events for the realtime sessions' budget warnings.
  explicit EnforcementHookFactory(budget::Enforcer& enforcer);
  std::unique_ptr<ExchangeHooks> create(const Exchange& exchange) override;

 private:
  budget::Enforcer& enforcer_;
  EventSampler sampler_;
  // Shared with the enforcer's listener, which may outlive this factory.
  std::shared_ptr<RealtimeRegistry> realtime_ = std::make_shared<RealtimeRegistry>();
  BatchFiles batch_files_;
};

// Who the client is, per clients.identify (empty when unknown).
std::string client_identity(const rules::ClientsConfig& clients, const Exchange& exchange);

}  // namespace proxy
