#pragma once
// budget::StoreEnforcer — the Enforcer: every decision is made in memory under one mutex (exact
// under any concurrency, short critical sections), then journaled to a Store; callbacks run once
// the change is durable. Holds left in the store by a crash are settled at their estimate.

#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "budget/balance_book.hpp"
#include "budget/breakers.hpp"
#include "budget/budget_book.hpp"
#include "budget/enforcer.hpp"
#include "budget/event_log.hpp"
#include "budget/rate_limiter.hpp"
#include "budget/store/shared_ledger.hpp"
#include "budget/store/store.hpp"

namespace budget {

// How long a hold may stay open before anyone finding it settles it at its estimate. Long
// enough for the slowest streamed or generated responses (a settle after that is a no-op).
inline constexpr std::chrono::minutes k_hold_ttl{60};  // the default of store.hold_ttl

// Refusal events kept per second and per refusing budget, balance, rate limit or breaker.
inline constexpr int k_refusal_events_per_second = 10;

class StoreEnforcer final : public Enforcer {
 public:
  StoreEnforcer(std::shared_ptr<const rules::Config> config, std::unique_ptr<Store> store,
                Clock& clock);

  void apply_config(std::shared_ptr<const rules::Config> config) override;
  void admit(const AdmitRequest& request, std::function<void(Admission)> done) override;
  void settle(HoldId hold, std::int64_t actual_micros, std::function<void()> done) override;
  void release(HoldId hold, std::function<void()> done) override;
  void observe_balance(const BalanceObservation& observation) override;
  void upstream_result(const std::string& host, bool ok) override;

  std::optional<std::int64_t> remaining_for(const AdmitRequest& request) const override;
  std::vector<BudgetStanding> budgets() const override;
  std::vector<BalanceStanding> balances() const override;
  std::vector<BreakerStanding> breakers() const override;
  bool reset(const std::string& budget, const std::string& key, const std::string& who) override;
  bool set_limit(const std::string& budget, std::int64_t limit, const std::string& who) override;
  bool add_override(const Override& override_, const std::string& who) override;
  std::vector<Event> events_since(std::uint64_t id, std::size_t max = 1000) const override;
  void emit(Event event) override { events_.emit(std::move(event)); }
  void on_event(std::function<void(const Event&)> listener) override {
    events_.on_event(std::move(listener));
  }
  bool store_healthy() const override { return store_->healthy(); }
  void recover() override;

  // Holds currently open (for tests and metrics).
  std::size_t open_holds() const;

 private:
  struct LiveHold {
    TimePoint deadline{};
    std::int64_t estimate = 0;
    std::string currency, provider, credential;
    std::vector<std::string> breaker_trials;
    std::vector<std::pair<BudgetState*, Instance*>> parts;   // decided here
    std::vector<std::pair<BudgetState*, Instance*>> shared;  // decided by the shared store
    std::uint64_t shared_id = 0;                             // the shared store's hold
    bool balance = false;
  };

  Admission decide(const AdmitRequest& request, TimePoint now, std::vector<Event>& events,
                   Mutation& write);
  std::optional<Admission> check_balance(const AdmitRequest& request, TimePoint now);
  // Ends a hold: charges `actual` (settle) or nothing (release); fills the store write.
  void close(HoldId id, LiveHold& hold, std::optional<std::int64_t> actual, TimePoint now,
             std::vector<Event>& events, Mutation& write);
  void sweep(TimePoint now, std::vector<Event>& events, bool force);
  // Shared store (redis): reserves the shared parts of `hold` there; a refusal, or nullopt.
  // `force`: reserved in every part, refused by none (AdmitRequest::force).
  std::optional<Admission> reserve_shared(LiveHold& hold, std::int64_t estimate, TimePoint now,
                                          std::vector<BudgetState*>& shadow_over, bool force);
  void close_shared(LiveHold& hold, std::optional<std::int64_t> actual, TimePoint now,
                    std::vector<Event>& events);
  bool shares(const BudgetState& budget) const;
  void finish(HoldId id, std::optional<std::int64_t> actual, std::function<void()> done);
  // Journals an admin change and waits until it is durable.
  void write_and_wait(std::unique_lock<std::mutex>& lock, Mutation mutation);
  const rules::Provider* provider(const std::string& name) const;
  void publish(std::vector<Event>& events);

  struct RefusalSample {
    std::int64_t second = 0;
    int emitted = 0;
    std::int64_t suppressed = 0;  // since the last refusal event of this kind
  };

  mutable std::mutex mutex_;
  std::shared_ptr<const rules::Config> config_;
  std::unique_ptr<Store> store_;
  const bool persistent_;
  SharedLedger* const shared_;  // non-null for a store shared by several processes
  Clock& clock_;
  mutable BudgetBook book_;
  BalanceBook balances_;
  RateLimiter rates_;
  Breakers breakers_;
  EventLog events_;
  std::unordered_map<HoldId, LiveHold> holds_;
  HoldId next_hold_ = 1;
  TimePoint next_sweep_{};
  std::map<std::string, RefusalSample> refusal_samples_;
};

}  // namespace budget
