// Budgets kept in a SharedLedger, shared by several tollgate processes (redis): the ledger
// decides and counts; this process mirrors the numbers it is told, for standings and alerts.
// Calls to the ledger are decided under the lock and made once it is released; its answers come
// on its own thread and take the lock to finish what they began.
#include "budget/event_detail.hpp"
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

// Every budget kind lives in the shared ledger when there is one: rolling windows too, slid by
// the store's clock.
bool StoreEnforcer::shares(const BudgetState& /*budget*/) const {
  return shared_ != nullptr;
}

SharedLedger::Part StoreEnforcer::shared_part(const BudgetState& budget, const Instance& instance,
                                              TimePoint now) const {
  SharedLedger::Part part;
  part.budget = budget.config.name;
  part.key = instance.key;
  if (budget.config.period.kind == rules::Period::Kind::rolling) {
    part.period = SharedLedger::k_rolling;
    part.window = std::max<std::int64_t>(
        1, std::chrono::duration_cast<std::chrono::seconds>(budget.config.period.rolling).count());
    part.bucket = SharedLedger::rolling_bucket(part.window);
  } else {
    part.period = book_.period_key(budget, instance, now);
  }
  return part;
}

std::vector<SharedLedger::Part> StoreEnforcer::shared_parts(const LiveHold& hold, TimePoint now,
                                                            bool force) const {
  std::vector<SharedLedger::Part> parts;
  for (const auto& [budget, instance] : hold.shared) {
    SharedLedger::Part part = shared_part(*budget, *instance, now);
    part.limit =
        rules::saturating_add(book_.limit(*budget), book_.overrides(*budget, instance->key, now));
    part.enforce = !budget->config.shadow && !force;
    // Counters outlive their period by a day, so late settlements still find them. A duration,
    // not a date: the store's clock, not ours, decides when that is. (A rolling window's lives a
    // day past its last use, which the store sets itself.)
    part.ttl = part.window > 0 ? part.window + 86'400
               : instance->period_end == TimePoint::max()
                   ? 0
                   : std::max<std::int64_t>(
                         1, unix_seconds(instance->period_end) - unix_seconds(now) + 86'400);
    parts.push_back(std::move(part));
  }
  return parts;
}

void StoreEnforcer::call_shared(SharedCalls calls, std::function<void(Admission)> admitted,
                                std::function<void()> done) {
  if (calls.sweep) {
    shared_->settle_expired();
    shared_->runtime([this](std::optional<SharedLedger::Runtime> runtime) {
      if (!runtime) return;
      std::lock_guard lock(mutex_);
      book_.refresh_runtime(runtime->limits, runtime->overrides);
    });
  }
  if (calls.reserve) {
    SharedReserve& r = *calls.reserve;
    shared_->reserve(r.id, r.parts, r.rates, r.breakers, r.estimate, r.hold_ttl_ms,
                     [this, pending = std::shared_ptr<SharedReserve>(std::move(calls.reserve)),
                      admitted = std::move(admitted)](SharedLedger::Reservation reservation) {
                       reserved(*pending, std::move(reservation), admitted);
                     });
  }
  if (calls.closes.empty()) return;
  auto left = std::make_shared<std::atomic<std::size_t>>(calls.closes.size());
  for (auto& c : calls.closes) {
    auto close = std::make_shared<SharedCalls::Close>(std::move(c));
    shared_->close(close->id, close->actual, close->unreserved, close->breakers,
                   [this, close, left, done](std::optional<SharedLedger::Closed> result) {
                     closed(*close, result);
                     if (left->fetch_sub(1, std::memory_order_acq_rel) == 1 && done) done();
                   });
  }
}

void StoreEnforcer::reserved(SharedReserve& pending, SharedLedger::Reservation reservation,
                             std::function<void(Admission)> done) {
  using Outcome = SharedLedger::Reservation::Outcome;
  std::vector<Event> events;
  Completed completed;
  Admission admission = std::move(pending.admission);
  bool waits = false, release = false;
  {
    std::lock_guard lock(mutex_);
    const TimePoint now = clock_.now();
    auto found = holds_.find(pending.id);
    if (found == holds_.end()) {
      // Swept while Redis took its time (a hold_ttl shorter than the wait): its close went to
      // Redis already, which keeps the reservation from standing. Refused as if unanswered.
      admission = refuse(store_refusal(), pending.provider, pending.endpoint, pending.estimate, now,
                         events);
      reservation.outcome = Outcome::failed;
    } else {
      LiveHold& hold = found->second;
      for (std::size_t i = 0; i < hold.shared.size() && i < reservation.counters.size(); ++i) {
        auto& [budget, instance] = hold.shared[i];
        const auto& c = reservation.counters[i];
        book_.mirror(*budget, *instance, c.spent, std::chrono::seconds(c.leaves_in), now);
        instance->reserved = c.reserved;
      }
      const bool fail_open = config_->store.redis.fail_open;
      // Admitted without Redis (on_error: allow), a shared breaker falls back to a breaker of
      // this process's own over the outage's settlements, and a shared rate limit to this
      // process's own bucket for it: a loop is still held back while Redis is away.
      const bool fallback = reservation.outcome == Outcome::failed && fail_open;
      std::optional<Admission> local_refusal;
      std::vector<std::string> fallback_trials;
      if (fallback && !pending.breakers.empty())
        local_refusal = fallback_breakers_.check(hold.currency, "", now, fallback_trials);
      if (fallback && !local_refusal && !pending.rates.empty()) {
        RateLimiter::Plan plan;
        for (std::size_t j = 0; j < pending.rates.size() && !local_refusal; ++j)
          local_refusal = rates_.check_one(*pending.rate_limits[j], pending.rates[j].key,
                                           pending.rates[j].need, now, plan);
        if (!local_refusal)
          rates_.take(plan, pending.rates.front().need);
        else if (!fallback_trials.empty())
          fallback_breakers_.trial_done(fallback_trials, false, now, events);
      }
      if (!local_refusal && (reservation.outcome == Outcome::admitted || fallback)) {
        if (fallback && !pending.breakers.empty()) {
          hold.fallback_breakers = true;
          hold.fallback_trials = std::move(fallback_trials);
        }
        if (reservation.outcome == Outcome::failed)
          hold.unreserved = std::move(pending.parts);  // on_error: allow, charged when it settles
        for (std::size_t k = 0; k < pending.breakers.size(); ++k)
          if (k < reservation.breaker_trials.size())
            breakers_.mirror(pending.breakers[k].name, reservation.breaker_trials[k]);
        if (reservation.outcome == Outcome::admitted)
          for (std::size_t i = 0; i < hold.shared.size(); ++i)
            if (hold.shared[i].first->config.shadow &&
                hold.shared[i].second->spent + hold.shared[i].second->reserved >
                    pending.parts[i].limit)
              pending.shadow_over.push_back(hold.shared[i].first);
        for (const auto& [budget, instance] : hold.shared)
          admission.budgets.push_back(book_.standing(*budget, *instance, now));
        note_shadow(hold, pending.shadow_over, pending.provider, pending.endpoint, pending.estimate,
                    now, events, admission);
        if (!hold.parts.empty()) {
          OpenHold write;
          write.hold.id = pending.id;
          write.hold.deadline = unix_seconds(hold.deadline);
          for (const auto& [budget, instance] : hold.parts)
            write.hold.parts.push_back({budget->config.name, instance->key, pending.estimate});
          write.hold.record = hold.record;
          waits = true;
          auto waiting = std::make_unique<Waiting>();
          waiting->admitted = std::move(done);
          waiting->admission = std::move(admission);
          this->write(std::move(write), std::move(waiting), completed);
        }
      } else {
        Admission refusal = store_refusal();
        if (reservation.outcome == Outcome::refused) {
          auto& [budget, instance] = hold.shared.at(reservation.refused_part);
          refusal = budget_refusal(book_.standing(*budget, *instance, now), pending.estimate, now);
        } else if (reservation.outcome == Outcome::breaker_refused &&
                   reservation.refused_part < pending.breakers.size()) {
          refusal = breakers_.shared_refusal(pending.breakers[reservation.refused_part].name,
                                             reservation.breaker_wait_ms,
                                             reservation.breaker_trial_out, now);
        } else if (local_refusal) {
          refusal = std::move(*local_refusal);
        } else if (reservation.outcome == Outcome::rate_refused &&
                   reservation.refused_part < pending.rates.size()) {
          refusal = rate_refusal(*pending.rate_limits[reservation.refused_part],
                                 pending.rates[reservation.refused_part].key,
                                 reservation.rate_tokens, reservation.rate_wait_ms);
        }
        undo(hold, now, events);
        holds_.erase(pending.id);
        admission = refuse(std::move(refusal), pending.provider, pending.endpoint, pending.estimate,
                           now, events);
        // Sent but unanswered: it may have been reserved. Released, so that it is not charged at
        // its estimate when it expires (a release that arrives first keeps it from being made).
        release = reservation.maybe_reserved;
      }
    }
  }
  after_write(reservation.outcome != Outcome::failed);
  publish(events);
  complete(completed);
  // (Its breakers too: it may have become a breaker's trial, which a release gives up.)
  if (release && shared_) shared_->close(pending.id, std::nullopt, {}, pending.breakers, nullptr);
  if (!waits) done(std::move(admission));
}

void StoreEnforcer::undo(LiveHold& hold, TimePoint now, std::vector<Event>& events) {
  for (auto& [budget, instance] : hold.parts) {
    instance->reserved -= hold.estimate;
    --instance->holds;
  }
  for (auto& [budget, instance] : hold.shared) --instance->holds;
  if (hold.balance) balances_.unhold(hold.provider, hold.credential, hold.estimate);
  if (!hold.breaker_trials.empty()) breakers_.trial_done(hold.breaker_trials, false, now, events);
}

void StoreEnforcer::close_shared(HoldId id, LiveHold& hold, std::optional<std::int64_t> actual,
                                 TimePoint now, std::vector<Event>& /*events*/) {
  SharedCalls::Close close;
  close.id = id;
  close.actual = actual;
  close.unreserved = std::move(hold.unreserved);
  close.breakers = hold.shared_breakers;
  for (auto& [budget, instance] : hold.shared) {
    instance->reserved = std::max<std::int64_t>(0, instance->reserved - hold.estimate);
    --instance->holds;
    instance->last_used = now;
    close.instances.emplace_back(budget->config.name, instance->key);
  }
  shared_calls_.closes.push_back(std::move(close));
}

void StoreEnforcer::closed(const SharedCalls::Close& close,
                           const std::optional<SharedLedger::Closed>& result) {
  std::vector<Event> events;
  const std::vector<std::int64_t>* spent = result ? &result->spent : nullptr;
  {
    std::lock_guard lock(mutex_);
    const TimePoint now = clock_.now();
    // What this close did to the shared breakers: reported here only, so once.
    if (result)
      for (std::size_t k = 0; k < close.breakers.size() && k < result->breakers.size(); ++k)
        breakers_.shared_change(close.breakers[k].name, result->breakers[k], now, events);
    // Closed here (not already settled elsewhere): mirror the shared spent, firing thresholds.
    if (close.actual && spent)
      for (std::size_t i = 0; i < close.instances.size() && i < spent->size(); ++i) {
        BudgetState* budget = book_.find(close.instances[i].first);
        if (!budget) continue;
        auto instance = budget->instances.find(close.instances[i].second);
        if (instance == budget->instances.end()) continue;
        Instance& mirrored = instance->second;
        book_.mirror(*budget, mirrored, (*spent)[i] - *close.actual, std::nullopt, now);
        // A window's amount just charged stays in it a window long (at least).
        if (mirrored.mirrored && mirrored.leaves_at <= now)
          mirrored.leaves_at = now + budget->config.period.rolling;
        book_.charge(*budget, mirrored, *close.actual, now, events);
      }
  }
  // A close kept in the outbox is not lost, but Redis does not count it yet.
  after_write(spent != nullptr);
  publish(events);
}

}  // namespace budget
