#include "budget/store_enforcer.hpp"

#include <algorithm>

#include "budget/event_detail.hpp"
#include "budget/refusal_text.hpp"
#include "budget/scope.hpp"
#include "util/time.hpp"

namespace budget {
namespace {

using util::unix_seconds;

bool over(const Instance& instance, std::int64_t estimate, std::int64_t limit) {
  return static_cast<__int128>(instance.spent) + instance.reserved + estimate > limit;
}

}  // namespace

StoreEnforcer::StoreEnforcer(std::shared_ptr<const rules::Config> config,
                             std::unique_ptr<Journal> journal, std::unique_ptr<SharedLedger> shared,
                             Clock& clock)
    : config_(std::move(config)),
      journal_(std::move(journal)),
      shared_(std::move(shared)),
      clock_(clock) {
  book_.apply(*config_);
  breakers_.apply(*config_);
  const JournalSnapshot snapshot = journal_->load();
  book_.load(snapshot);
  // Runtime limits and overrides of shared budgets are the shared ledger's, set by any process.
  if (shared_)
    if (const auto runtime = shared_->runtime())
      book_.refresh_runtime(runtime->limits, runtime->overrides);
  const TimePoint now = clock_.now();
  // Holds from before a restart belong to requests that died with the process: they are due
  // at once (recover() or the first sweep settles them at their estimate).
  for (const auto& row : snapshot.holds) {
    LiveHold hold;
    hold.deadline = TimePoint{};
    for (const auto& part : row.parts) {
      hold.estimate = part.estimate;
      BudgetState* budget = book_.find(part.budget);
      if (!budget) continue;
      Instance& instance = book_.instance(*budget, part.key, now);
      instance.reserved += part.estimate;
      ++instance.holds;
      hold.parts.emplace_back(budget, &instance);
    }
    holds_[row.id] = std::move(hold);
    next_hold_ = std::max<HoldId>(next_hold_, row.id + 1);
  }
}

void StoreEnforcer::apply_config(std::shared_ptr<const rules::Config> config) {
  std::lock_guard lock(mutex_);
  config_ = std::move(config);
  book_.apply(*config_);
  breakers_.apply(*config_);
}

const rules::Provider* StoreEnforcer::provider(const std::string& name) const {
  for (const auto& p : config_->providers)
    if (p.name == name) return &p;
  return nullptr;
}

void StoreEnforcer::publish(std::vector<Event>& events) {
  for (auto& event : events) events_.emit(std::move(event));
  events.clear();
}

void StoreEnforcer::admit(const AdmitRequest& request, std::function<void(Admission)> done) {
  std::vector<Event> events;
  Completed completed;
  OpenHold write;
  Admission admission;
  bool waits = false;
  {
    std::lock_guard lock(mutex_);
    const TimePoint now = clock_.now();
    sweep(now, events, completed, false);
    admission = decide(request, now, events, write);
    // Written under the lock so that the journal sees a hold opened before anyone closes it.
    if (admission.admitted && !write.hold.parts.empty()) {
      waits = true;
      auto waiting = std::make_unique<Waiting>();
      waiting->admitted = std::move(done);
      waiting->admission = std::move(admission);
      this->write(std::move(write), std::move(waiting), completed);
    }
  }
  publish(events);
  complete(completed);
  if (!waits) done(std::move(admission));
}

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

Admission StoreEnforcer::decide(const AdmitRequest& request, TimePoint now,
                                std::vector<Event>& events, OpenHold& write) {
  const std::int64_t estimate = request.estimate.micros;
  auto refuse = [&](Admission refusal) {
    // Sampled: a refusal storm must not flush every other event out of the list. What was
    // left out is counted in the next refusal event of the same mechanism and name.
    RefusalSample& sample =
        refusal_samples_[std::string(refused_by_name(refusal.refused_by)) + "/" + refusal.name];
    const std::int64_t second = unix_seconds(now);
    if (sample.second != second) {
      sample.second = second;
      sample.emitted = 0;
    }
    if (sample.emitted >= k_refusal_events_per_second) {
      ++sample.suppressed;
      return refusal;
    }
    ++sample.emitted;
    events.push_back({0, now, budget::EventType::refused,
                      refusal.refused_by == RefusedBy::budget ? refusal.name : "", "",
                      refusal.message,
                      EventDetail()
                          .str("refused_by", refused_by_name(refusal.refused_by))
                          .str("name", refusal.name)
                          .str("provider", request.provider)
                          .str("endpoint", request.endpoint)
                          .str("estimate", rules::format_micros(estimate))
                          .num("suppressed_before", static_cast<std::int64_t>(sample.suppressed))
                          .done()});
    sample.suppressed = 0;
    return refusal;
  };

  std::vector<std::string> trials;
  if (auto refusal = breakers_.check(request.estimate.currency, request.host, now, trials))
    return refuse(*refusal);
  auto undo_trial = [&] {
    if (!trials.empty()) breakers_.trial_done(trials, false, now, events);
  };
  RateLimiter::Plan plan;
  if (auto refusal = rates_.check(*config_, request, now, plan)) {
    undo_trial();
    return refuse(*refusal);
  }
  if (auto refusal = check_balance(request, now)) {
    undo_trial();
    return refuse(*refusal);
  }

  LiveHold hold;
  std::vector<BudgetState*> shadow_over;
  for (BudgetState* budget : book_.active()) {
    const auto& c = budget->config;
    if (c.currency != request.estimate.currency || !matches(c.match, request)) continue;
    const std::string key = scope_key(c.per, request);
    Instance& instance = book_.instance(*budget, key, now);
    if (shares(*budget)) {
      hold.shared.emplace_back(budget, &instance);
      continue;
    }
    const std::int64_t limit =
        rules::saturating_add(book_.limit(*budget), book_.overrides(*budget, key, now));
    if (over(instance, estimate, limit)) {
      if (!c.shadow) {
        undo_trial();
        return refuse(budget_refusal(book_.standing(*budget, instance, now), estimate, now));
      }
      shadow_over.push_back(budget);
    }
    hold.parts.emplace_back(budget, &instance);
  }
  if (!hold.shared.empty()) {
    if (auto refusal = reserve_shared(hold, estimate, now, shadow_over)) {
      undo_trial();
      return refuse(*refusal);
    }
  }

  Admission admission;
  rates_.take(plan, request);
  for (BudgetState* budget : shadow_over) {
    auto part = std::find_if(hold.parts.begin(), hold.parts.end(),
                             [&](const auto& p) { return p.first == budget; });
    if (part == hold.parts.end())
      part = std::find_if(hold.shared.begin(), hold.shared.end(),
                          [&](const auto& p) { return p.first == budget; });
    Admission would = budget_refusal(book_.standing(*budget, *part->second, now), estimate, now);
    events.push_back({0, now, budget::EventType::would_refuse, budget->config.name,
                      part->second->key, would.message,
                      EventDetail()
                          .str("provider", request.provider)
                          .str("endpoint", request.endpoint)
                          .str("estimate", rules::format_micros(estimate))
                          .done()});
    admission.shadow_refusals.push_back(budget->config.name);
  }
  for (auto& [budget, instance] : hold.parts) {
    instance->reserved += estimate;
    ++instance->holds;
    admission.budgets.push_back(book_.standing(*budget, *instance, now));
  }
  for (auto& [budget, instance] : hold.shared) {
    ++instance->holds;
    admission.budgets.push_back(book_.standing(*budget, *instance, now));
  }
  const rules::Provider* p =
      request.provider_rules ? request.provider_rules : provider(request.provider);
  hold.balance = p && p->balance && p->currency == request.estimate.currency;
  if (hold.balance) {
    balances_.hold(request.provider, request.credential_hash, estimate);
    balances_.check_warning(request.provider, request.credential_hash, *p->balance, now, events);
  }
  // Every admitted request gets a hold, even one in no budget: its settlement still feeds the
  // spend breakers (only holds with budget parts are journaled).
  // With a shared ledger its hold id is unique across processes; local ones take the high half.
  const HoldId id =
      hold.shared_id ? hold.shared_id : (shared_ ? (HoldId{1} << 63) : 0) | next_hold_++;
  hold.deadline = now + config_->store.hold_ttl;
  hold.estimate = estimate;
  hold.currency = request.estimate.currency;
  hold.provider = request.provider;
  hold.credential = request.credential_hash;
  hold.breaker_trials = std::move(trials);
  write.hold.id = id;
  write.hold.deadline = unix_seconds(hold.deadline);
  for (const auto& [budget, instance] : hold.parts)
    write.hold.parts.push_back({budget->config.name, instance->key, estimate});
  holds_.emplace(id, std::move(hold));
  admission.hold = id;
  return admission;
}

void StoreEnforcer::close(HoldId id, LiveHold& hold, std::optional<std::int64_t> actual,
                          TimePoint now, std::vector<Event>& events, CloseHold& write) {
  write.hold = id;
  for (auto& [budget, instance] : hold.parts) {
    instance->reserved -= hold.estimate;
    --instance->holds;
    instance->last_used = now;
    if (actual) write.charged.push_back(book_.charge(*budget, *instance, *actual, now, events));
  }
  if (!hold.shared.empty()) close_shared(hold, actual, now, events);
  if (hold.balance) balances_.unhold(hold.provider, hold.credential, hold.estimate);
  if (actual) {
    if (*actual > hold.estimate)
      events.push_back({0, now, budget::EventType::overrun,
                        hold.parts.empty() ? "" : hold.parts.front().first->config.name, "",
                        "actual cost " + rules::format_micros(*actual) + " " + hold.currency +
                            " exceeded the estimate " + rules::format_micros(hold.estimate) + " " +
                            hold.currency,
                        EventDetail()
                            .num("hold", static_cast<std::int64_t>(id))
                            .str("estimate", rules::format_micros(hold.estimate))
                            .str("actual", rules::format_micros(*actual))
                            .str("currency", hold.currency)
                            .done()});
    if (!hold.currency.empty()) breakers_.spent(hold.currency, *actual, now, events);
  }
  if (!hold.breaker_trials.empty())
    breakers_.trial_done(hold.breaker_trials, actual.has_value(), now, events);
}

void StoreEnforcer::finish(HoldId id, std::optional<std::int64_t> actual,
                           std::function<void()> done) {
  std::vector<Event> events;
  Completed completed;
  bool waits = false;
  {
    std::lock_guard lock(mutex_);
    const TimePoint now = clock_.now();
    auto it = holds_.find(id);
    if (it != holds_.end()) {
      CloseHold write;
      const bool in_budgets = !it->second.parts.empty();
      close(id, it->second, actual, now, events, write);
      holds_.erase(it);
      if (in_budgets) {
        waits = true;
        auto waiting = std::make_unique<Waiting>();
        waiting->done = std::move(done);
        this->write(std::move(write), std::move(waiting), completed);
      }
    }
    sweep(now, events, completed, false);
  }
  publish(events);
  complete(completed);
  if (!waits && done) done();
}

void StoreEnforcer::settle(HoldId hold, std::int64_t actual_micros, std::function<void()> done) {
  finish(hold, actual_micros, std::move(done));
}

void StoreEnforcer::release(HoldId hold, std::function<void()> done) {
  finish(hold, std::nullopt, std::move(done));
}

void StoreEnforcer::sweep(TimePoint now, std::vector<Event>& events, Completed& completed,
                          bool force) {
  if (!force && now < next_sweep_) return;
  next_sweep_ = now + std::chrono::seconds(1);
  if (shared_) {
    shared_->settle_expired();
    // Limits and overrides another sidecar set through its admin API apply here within a second.
    if (const auto runtime = shared_->runtime())
      book_.refresh_runtime(runtime->limits, runtime->overrides);
  }
  std::vector<HoldId> expired;
  for (const auto& [id, hold] : holds_)
    if (hold.deadline <= now) expired.push_back(id);
  std::sort(expired.begin(), expired.end());
  for (HoldId id : expired) {
    auto it = holds_.find(id);
    CloseHold write;
    // Its owner is gone (crash, timeout): charge the estimate, never under-count.
    close(id, it->second, it->second.estimate, now, events, write);
    holds_.erase(it);
    this->write(std::move(write), std::make_unique<Waiting>(), completed);
  }
  book_.expire_idle(now);
  rates_.expire_idle(now);
}

void StoreEnforcer::recover() {
  std::vector<Event> events;
  Completed completed;
  {
    std::lock_guard lock(mutex_);
    sweep(clock_.now(), events, completed, true);
  }
  publish(events);
  complete(completed);
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

std::size_t StoreEnforcer::open_holds() const {
  std::lock_guard lock(mutex_);
  return holds_.size();
}

}  // namespace budget
