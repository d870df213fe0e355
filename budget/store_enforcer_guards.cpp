// What the guards beside the budgets hear: provider balances (Keepa's tokens left), checked
// before a request is admitted, and the upstream results the failure breakers count.
#include "budget/refusal_text.hpp"
#include "budget/store_enforcer.hpp"

namespace budget {

std::optional<Admission> StoreEnforcer::check_balance(const AdmitRequest& request, TimePoint now) {
  const rules::Provider* p =
      request.provider_rules ? request.provider_rules : provider(request.provider);
  if (!p || !p->balance || p->currency != request.estimate.currency) return std::nullopt;
  const auto available =
      balances_.available(request.provider, request.credential_hash, *p->balance, now);
  if (!available) return std::nullopt;  // nothing observed yet: nothing to refuse on
  if (*available - request.estimate.micros >= p->balance->min) return std::nullopt;
  return balance_refusal(
      {request.provider, request.endpoint, request.estimate.currency, *available,
       request.estimate.micros, p->balance->min,
       balances_.refill_per_minute(request.provider, request.credential_hash, *p->balance)});
}

void StoreEnforcer::observe_balance(const BalanceObservation& observation) {
  std::vector<Event> events;
  {
    std::lock_guard lock(mutex_);
    const rules::Provider* p = provider(observation.provider);
    if (!p || !p->balance) return;
    balances_.observe(observation, *p->balance, clock_.now(), events);
  }
  publish(events);
}

void StoreEnforcer::upstream_result(const std::string& host, bool ok) {
  std::vector<Event> events;
  {
    std::lock_guard lock(mutex_);
    breakers_.upstream_result(host, ok, clock_.now(), events);
  }
  publish(events);
}

}  // namespace budget
