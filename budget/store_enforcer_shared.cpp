// Budgets kept in a SharedLedger, shared by several tollgate processes (redis): the ledger
// decides and counts; this process mirrors the numbers it is told, for standings and alerts.
#include "budget/period_window.hpp"
#include "budget/refusal_text.hpp"
#include "budget/store_enforcer.hpp"
#include "util/time.hpp"

namespace budget {
namespace {

using util::unix_seconds;

Admission store_refusal() {
  Admission a;
  a.admitted = false;
  a.refused_by = RefusedBy::store;
  a.name = "redis";
  a.message = "the shared budget store cannot be reached (store.redis.on_error: block)";
  a.retry_after_s = 5;
  a.should_retry = true;
  return a;
}

}  // namespace

// Rolling windows stay per process: a shared counter per second would need a sum per request.
bool StoreEnforcer::shares(const BudgetState& budget) const {
  return shared_ && budget.config.period.kind != rules::Period::Kind::rolling;
}

std::optional<Admission> StoreEnforcer::reserve_shared(LiveHold& hold, std::int64_t estimate,
                                                       TimePoint now,
                                                       std::vector<BudgetState*>& shadow_over,
                                                       bool force) {
  std::vector<SharedLedger::Part> parts;
  for (const auto& [budget, instance] : hold.shared) {
    SharedLedger::Part part;
    part.budget = budget->config.name;
    part.key = instance->key;
    part.period = book_.period_key(*budget, *instance, now);
    part.limit =
        rules::saturating_add(book_.limit(*budget), book_.overrides(*budget, instance->key, now));
    part.enforce = !budget->config.shadow && !force;
    // Counters outlive their period by a day, so late settlements still find them. A duration,
    // not a date: the store's clock, not ours, decides when that is.
    part.ttl = instance->period_end == TimePoint::max()
                   ? 0
                   : std::max<std::int64_t>(
                         1, unix_seconds(instance->period_end) - unix_seconds(now) + 86'400);
    parts.push_back(std::move(part));
  }
  const auto reservation = shared_->reserve(parts, estimate, config_->store.hold_ttl.count());
  if (!reservation) {
    if (!config_->store.redis.fail_open) return store_refusal();
    hold.shared.clear();  // on_error: allow — admitted without the shared budgets
    return std::nullopt;
  }
  for (std::size_t i = 0; i < hold.shared.size() && i < reservation->counters.size(); ++i) {
    Instance& instance = *hold.shared[i].second;
    instance.spent = reservation->counters[i].spent;
    instance.reserved = reservation->counters[i].reserved;
  }
  if (!reservation->admitted) {
    auto& [budget, instance] = hold.shared.at(reservation->refused_part);
    return budget_refusal(book_.standing(*budget, *instance, now), estimate, now);
  }
  for (std::size_t i = 0; i < hold.shared.size(); ++i)
    if (parts[i].enforce == false &&
        hold.shared[i].second->spent + hold.shared[i].second->reserved > parts[i].limit)
      shadow_over.push_back(hold.shared[i].first);
  hold.shared_id = reservation->hold;
  return std::nullopt;
}

void StoreEnforcer::close_shared(LiveHold& hold, std::optional<std::int64_t> actual, TimePoint now,
                                 std::vector<Event>& events) {
  const auto spent = shared_->close(hold.shared_id, actual);
  for (std::size_t i = 0; i < hold.shared.size(); ++i) {
    auto& [budget, instance] = hold.shared[i];
    instance->reserved = std::max<std::int64_t>(0, instance->reserved - hold.estimate);
    --instance->holds;
    instance->last_used = now;
    // Closed here (not already settled elsewhere): mirror the shared spent, firing thresholds.
    if (actual && spent && i < spent->size()) {
      instance->spent = (*spent)[i] - *actual;
      book_.charge(*budget, *instance, *actual, now, events);
    }
  }
}

}  // namespace budget
