#include "budget/store_enforcer.hpp"

#include <algorithm>
#include <condition_variable>
#include <future>
#include <random>

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

// How a record names a budget instance: "daily", "per-client/team-a".
std::string instance_name(const std::string& budget, const std::string& key) {
  return key.empty() ? budget : budget + "/" + key;
}

// Runs `done` on the last of `times` calls.
std::function<void()> after_all(int times, std::function<void()> done) {
  if (!done || times <= 1) return done;
  auto left = std::make_shared<std::atomic<int>>(times);
  return [left, done = std::move(done)] {
    if (left->fetch_sub(1, std::memory_order_acq_rel) == 1) done();
  };
}

// The shared spend breakers of `config` alone, as a config of their own.
rules::Config shared_breakers_of(const rules::Config& config) {
  rules::Config only;
  for (const auto& b : config.breakers)
    if (b.shared && b.kind == rules::BreakerConfig::Kind::spend) only.breakers.push_back(b);
  return only;
}

}  // namespace

StoreEnforcer::StoreEnforcer(std::shared_ptr<const rules::Config> config,
                             std::unique_ptr<Journal> journal, std::unique_ptr<SharedLedger> shared,
                             Clock& clock, std::shared_ptr<const ReceiptKey> receipts_key)
    : config_(std::move(config)),
      journal_(std::move(journal)),
      shared_(std::move(shared)),
      clock_(clock),
      receipts_key_(std::move(receipts_key)) {
  book_.apply(*config_);
  breakers_.apply(*config_, shared_ != nullptr);
  if (shared_) fallback_breakers_.apply(shared_breakers_of(*config_));
  const JournalSnapshot snapshot = journal_->load();
  book_.load(snapshot);
  if (shared_) {
    // Runtime limits and overrides of shared budgets are the shared ledger's, set by any process
    // (read again once a second: Redis may not be up yet).
    std::promise<std::optional<SharedLedger::Runtime>> read;
    auto runtime = read.get_future();
    shared_->runtime([&read](auto r) { read.set_value(std::move(r)); });
    if (const auto r = runtime.get()) book_.refresh_runtime(r->limits, r->overrides);
    // 1 to 2^31 - 1: ids stay positive as signed 64-bit numbers (events, SQLite).
    hold_tag_ = HoldId{std::random_device{}() % 0x7fff'ffffu + 1} << 32;
    shared_->on_failure([this](const std::string& problem) {
      events_.emit(
          {0, clock_.now(), EventType::error, "", "",
           "the shared budget store cannot be reached: " + problem + " (reconnecting with backoff)",
           "{}"});
    });
    shared_->on_breaker_change([this](const std::string& name, SharedLedger::BreakerChange change) {
      std::vector<Event> events;
      {
        std::lock_guard lock(mutex_);
        breakers_.shared_change(name, change, clock_.now(), events);
      }
      publish(events);
    });
  }
  const TimePoint now = clock_.now();
  // Holds from before a restart belong to requests that died with the process: they are due
  // at once (recover() or the first sweep settles them at their estimate).
  for (const auto& row : snapshot.holds) {
    LiveHold hold;
    hold.deadline = TimePoint{};
    hold.record = row.record;
    if (hold.record.id.empty()) hold.record.id = new_record_id();  // a ledger from before records
    const bool named = !hold.record.budgets.empty();
    for (const auto& part : row.parts) {
      hold.estimate = part.estimate;
      if (!named) hold.record.budgets.push_back(instance_name(part.budget, part.key));
      BudgetState* budget = book_.find(part.budget);
      if (!budget) continue;
      Instance& instance = book_.instance(*budget, part.key, now);
      instance.reserved += part.estimate;
      ++instance.holds;
      hold.parts.emplace_back(budget, &instance);
    }
    hold.record.estimate = hold.estimate;
    holds_[row.id] = std::move(hold);
    next_hold_ = std::max<HoldId>(next_hold_, row.id + 1);
  }
}

void StoreEnforcer::apply_config(std::shared_ptr<const rules::Config> config) {
  std::lock_guard lock(mutex_);
  config_ = std::move(config);
  book_.apply(*config_);
  breakers_.apply(*config_, shared_ != nullptr);
  if (shared_) fallback_breakers_.apply(shared_breakers_of(*config_));
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
  SharedCalls calls;
  bool waits = false;
  {
    std::lock_guard lock(mutex_);
    const TimePoint now = clock_.now();
    sweep(now, events, completed, false);
    admission = decide(request, now, events, write);
    // Written under the lock so that the journal sees a hold opened before anyone closes it.
    if (admission.admitted && !write.hold.parts.empty() && !shared_calls_.reserve) {
      waits = true;
      auto waiting = std::make_unique<Waiting>();
      waiting->admitted = std::move(done);
      waiting->admission = std::move(admission);
      this->write(std::move(write), std::move(waiting), completed);
    }
    calls = std::move(shared_calls_);
    shared_calls_ = {};
  }
  publish(events);
  complete(completed);
  // A shared budget: the shared ledger finishes the admission (the lock is not held meanwhile).
  if (calls.reserve) return call_shared(std::move(calls), std::move(done), nullptr);
  call_shared(std::move(calls), nullptr, nullptr);
  if (!waits) done(std::move(admission));
}

Admission StoreEnforcer::decide(const AdmitRequest& request, TimePoint now,
                                std::vector<Event>& events, OpenHold& write) {
  const std::int64_t estimate = request.estimate.micros;
  auto refuse = [&](Admission refusal) {
    return this->refuse(std::move(refusal), request.provider, request.endpoint, estimate, now,
                        events);
  };

  std::vector<std::string> trials;
  RateLimiter::Plan plan;
  std::vector<RateLimiter::SharedLimit> shared_rates;
  auto undo_trial = [&] {
    if (!trials.empty()) breakers_.trial_done(trials, false, now, events);
  };
  if (!request.force) {
    if (auto refusal = breakers_.check(request.estimate.currency, request.host, now, trials))
      return refuse(*refusal);
    if (auto refusal =
            rates_.check(*config_, request, now, plan, shared_ ? &shared_rates : nullptr)) {
      undo_trial();
      return refuse(*refusal);
    }
    if (auto refusal = check_balance(request, now)) {
      undo_trial();
      return refuse(*refusal);
    }
  }

  LiveHold hold;
  std::vector<BudgetState*> shadow_over;
  for (BudgetState* budget : book_.active()) {
    const auto& c = budget->config;
    if (c.currency != request.estimate.currency || !matches(c.match, request) ||
        !in_scope(c.per, request))
      continue;
    const std::string key = scope_key(c.per, request);
    Instance& instance = book_.instance(*budget, key, now);
    if (shares(*budget)) {
      hold.shared.emplace_back(budget, &instance);
      continue;
    }
    const std::int64_t limit =
        rules::saturating_add(book_.limit(*budget), book_.overrides(*budget, key, now));
    if (!request.force && over(instance, estimate, limit)) {
      if (!c.shadow) {
        undo_trial();
        return refuse(budget_refusal(book_.standing(*budget, instance, now), estimate, now));
      }
      shadow_over.push_back(budget);
    }
    hold.parts.emplace_back(budget, &instance);
  }

  Admission admission;
  // A request refused by a shared budget still took its rate-limit tokens (they are not given
  // back: a bucket may have been refilled, expired or reconfigured by the time Redis answers).
  if (!request.force) rates_.take(plan, request);
  // With shared budgets, their would_refuse events wait for the shared ledger's counters.
  if (hold.shared.empty())
    note_shadow(hold, shadow_over, request.provider, request.endpoint, estimate, now, events,
                admission);
  for (auto& [budget, instance] : hold.parts) {
    instance->reserved += estimate;
    ++instance->holds;
    admission.budgets.push_back(book_.standing(*budget, *instance, now));
  }
  // Counted as held at once: the instance stays while the shared ledger answers.
  for (auto& [budget, instance] : hold.shared) ++instance->holds;
  const rules::Provider* p =
      request.provider_rules ? request.provider_rules : provider(request.provider);
  hold.balance = p && p->balance && p->currency == request.estimate.currency;
  if (hold.balance) {
    balances_.hold(request.provider, request.credential_hash, estimate);
    balances_.check_warning(request.provider, request.credential_hash, *p->balance, now, events);
  }
  // Every admitted request gets a hold, even one in no budget: its settlement still feeds the
  // spend breakers (only holds with budget parts are journaled).
  // With a shared ledger its hold id is unique across processes (hold_tag_).
  const HoldId id = hold_tag_ | (hold_tag_ ? next_hold_++ & 0xffff'ffffu : next_hold_++);
  hold.deadline = now + config_->store.hold_ttl;
  hold.estimate = estimate;
  hold.currency = request.estimate.currency;
  hold.provider = request.provider;
  if (hold.balance) hold.credential = request.credential_hash;  // read only to give it back
  hold.breaker_trials = std::move(trials);
  CostRecord& record = hold.record;
  record.id = request.record_id.empty() ? new_record_id() : request.record_id;
  record.provider = request.provider;
  record.endpoint = request.endpoint;
  record.model = request.model;
  record.client = request.client;
  record.credential = request.credential_hash;
  record.currency = request.estimate.currency;
  record.estimate = estimate;
  for (const auto& [budget, instance] : hold.parts)
    record.budgets.push_back(instance_name(budget->config.name, instance->key));
  for (const auto& [budget, instance] : hold.shared)
    record.budgets.push_back(instance_name(budget->config.name, instance->key));
  write.hold.id = id;
  write.hold.deadline = unix_seconds(hold.deadline);
  for (const auto& [budget, instance] : hold.parts)
    write.hold.parts.push_back({budget->config.name, instance->key, estimate});
  if (!write.hold.parts.empty()) write.hold.record = record;
  if (shared_) hold.shared_breakers = breakers_.shared_parts(hold.currency);
  if (!hold.shared.empty() || !shared_rates.empty() ||
      (!request.force && !hold.shared_breakers.empty())) {
    auto pending = std::make_unique<SharedReserve>();
    pending->id = id;
    pending->estimate = estimate;
    pending->hold_ttl_ms = config_->store.hold_ttl.count();
    pending->provider = request.provider;
    pending->endpoint = request.endpoint;
    pending->parts = shared_parts(hold, now, request.force);
    for (auto& [limit, key] : shared_rates) {
      pending->rates.push_back(
          {limit->name, std::move(key), limit->requests.value_or(0), limit->tokens.value_or(0),
           std::max<std::int64_t>(1, limit->window.count()), request.estimated_tokens});
      pending->rate_limits.push_back(limit);
    }
    if (!shared_rates.empty()) pending->config = config_;
    if (!request.force) pending->breakers = hold.shared_breakers;
    pending->shadow_over = std::move(shadow_over);
    shared_calls_.reserve = std::move(pending);
  }
  holds_.emplace(id, std::move(hold));
  admission.hold = id;
  if (shared_calls_.reserve) shared_calls_.reserve->admission = admission;
  return admission;
}

void StoreEnforcer::close(HoldId id, LiveHold& hold, std::optional<std::int64_t> actual,
                          RecordDetail detail, TimePoint now, std::vector<Event>& events,
                          CloseHold& write) {
  write.hold = id;
  CostRecord& record = write.record.emplace(std::move(hold.record));
  record.at = util::unix_millis(now);
  record.actual = actual.value_or(0);
  record.usage = std::move(detail.usage);
  record.status = detail.status;
  record.outcome = detail.outcome;
  record.upstream_request_id = std::move(detail.upstream_request_id);
  record.ms = detail.ms;
  if (!detail.model.empty()) record.model = std::move(detail.model);
  record.service_tier = std::move(detail.service_tier);
  for (auto& [budget, instance] : hold.parts) {
    instance->reserved -= hold.estimate;
    --instance->holds;
    instance->last_used = now;
    if (actual) write.charged.push_back(book_.charge(*budget, *instance, *actual, now, events));
  }
  if (!hold.shared.empty() || !hold.shared_breakers.empty())
    close_shared(id, hold, actual, now, events);
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
    if (hold.fallback_breakers) fallback_breakers_.spent(hold.currency, *actual, now, events);
  }
  if (!hold.breaker_trials.empty())
    breakers_.trial_done(hold.breaker_trials, actual.has_value(), now, events);
  if (!hold.fallback_trials.empty())
    fallback_breakers_.trial_done(hold.fallback_trials, actual.has_value(), now, events);
}

void StoreEnforcer::finish(HoldId id, std::optional<std::int64_t> actual, RecordDetail detail,
                           std::function<void()> done) {
  std::vector<Event> events;
  Completed completed;
  SharedCalls calls;
  bool waits = false, waits_shared = false;
  const bool await_shared = detail.await_shared;
  {
    std::lock_guard lock(mutex_);
    const TimePoint now = clock_.now();
    auto it = holds_.find(id);
    if (it != holds_.end()) {
      // Every closed hold writes its record, in a budget or not.
      CloseHold write;
      waits_shared = !it->second.shared.empty() || !it->second.shared_breakers.empty();
      close(id, it->second, actual, std::move(detail), now, events, write);
      holds_.erase(it);
      // Done once the journal has the change and its record, and the shared ledger has answered
      // (or, without await_shared, has the close queued: never before, so that nothing the
      // caller sends next can reach the ledger ahead of it).
      done = after_all(1 + int{waits_shared}, std::move(done));
      waits = true;
      auto waiting = std::make_unique<Waiting>();
      waiting->done = done;
      this->write(std::move(write), std::move(waiting), completed);
    }
    sweep(now, events, completed, false);
    calls = std::move(shared_calls_);
    shared_calls_ = {};
  }
  publish(events);
  complete(completed);
  call_shared(std::move(calls), nullptr, waits_shared && await_shared ? done : nullptr);
  if (waits_shared && !await_shared && done) done();  // the close is queued
  if (!waits && !waits_shared && done) done();
}

void StoreEnforcer::settle(HoldId hold, std::int64_t actual_micros, RecordDetail detail,
                           std::function<void()> done) {
  finish(hold, actual_micros, std::move(detail), std::move(done));
}

void StoreEnforcer::release(HoldId hold, RecordDetail detail, std::function<void()> done) {
  finish(hold, std::nullopt, std::move(detail), std::move(done));
}

void StoreEnforcer::record_refusal(const AdmitRequest& request, const Admission& refusal,
                                   RecordDetail detail, std::function<void()> done) {
  AddRecord write;
  CostRecord& r = write.record;
  r.id = request.record_id.empty() ? new_record_id() : request.record_id;
  r.provider = request.provider;
  r.endpoint = request.endpoint;
  r.model = request.model;
  r.client = request.client;
  r.credential = request.credential_hash;
  if (refusal.refused_by == RefusedBy::budget && !refusal.name.empty())
    r.budgets.push_back(instance_name(refusal.name, refusal.key));
  r.currency = request.estimate.currency;
  r.estimate = request.estimate.micros;
  r.usage = std::move(detail.usage);
  r.status = detail.status;
  r.outcome = RecordOutcome::refused;
  r.refused_by = refused_by_name(refusal.refused_by);
  r.upstream_request_id = std::move(detail.upstream_request_id);
  r.ms = detail.ms;
  Completed completed;
  {
    std::lock_guard lock(mutex_);
    r.at = util::unix_millis(clock_.now());
    auto waiting = std::make_unique<Waiting>();
    waiting->done = std::move(done);
    this->write(std::move(write), std::move(waiting), completed);
  }
  complete(completed);
}

void StoreEnforcer::sweep(TimePoint now, std::vector<Event>& events, Completed& completed,
                          bool force, const std::function<void()>& done) {
  if (!force && now < next_sweep_) return;
  next_sweep_ = now + std::chrono::seconds(1);
  // Holds of every sidecar expired in the shared ledger; limits and overrides another sidecar set
  // through its admin API apply here within a second.
  if (shared_) shared_calls_.sweep = true;
  std::vector<HoldId> expired;
  for (const auto& [id, hold] : holds_)
    if (hold.deadline <= now) expired.push_back(id);
  std::sort(expired.begin(), expired.end());
  for (HoldId id : expired) {
    auto it = holds_.find(id);
    CloseHold write;
    // Its owner is gone (crash, timeout): charge the estimate, never under-count.
    RecordDetail detail;
    detail.outcome = RecordOutcome::expired;
    close(id, it->second, it->second.estimate, std::move(detail), now, events, write);
    holds_.erase(it);
    auto waiting = std::make_unique<Waiting>();
    waiting->done = done;
    this->write(std::move(write), std::move(waiting), completed);
  }
  book_.expire_idle(now);
  rates_.expire_idle(now);
}

// Waits until every settlement it made (and its record) is durable: what the ledger says at
// start, the records say too.
void StoreEnforcer::recover() {
  std::vector<Event> events;
  Completed completed;
  struct Left {
    std::mutex mutex;
    std::condition_variable zero;
    std::size_t count = 0;
  };
  auto left = std::make_shared<Left>();
  SharedCalls calls;
  {
    std::lock_guard lock(mutex_);
    const TimePoint now = clock_.now();
    {
      std::lock_guard count_lock(left->mutex);
      for (const auto& [id, hold] : holds_) left->count += hold.deadline <= now ? 1 : 0;
    }
    sweep(now, events, completed, true, [left] {
      std::lock_guard lock(left->mutex);
      if (--left->count == 0) left->zero.notify_all();
    });
    calls = std::move(shared_calls_);
    shared_calls_ = {};
  }
  publish(events);
  complete(completed);
  call_shared(std::move(calls), nullptr, nullptr);
  std::unique_lock lock(left->mutex);
  left->zero.wait(lock, [&] { return left->count == 0; });
}

std::size_t StoreEnforcer::open_holds() const {
  std::lock_guard lock(mutex_);
  return holds_.size();
}

}  // namespace budget
