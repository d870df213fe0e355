#pragma once
// budget::StoreEnforcer — the Enforcer: every decision is made in memory under one mutex (exact
// under any concurrency, short critical sections), then recorded in a Journal; callbacks run once
// the change is durable. Holds left in the journal by a crash are settled at their estimate.
// With a SharedLedger, budgets shared by several processes are decided there instead: admit()
// decides the local parts under the lock, lets it go, and finishes when the ledger answers.

#include <atomic>
#include <boost/container/small_vector.hpp>
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
#include "budget/store/journal.hpp"
#include "budget/store/shared_ledger.hpp"

namespace budget {

// How long a hold may stay open before anyone finding it settles it at its estimate. Long
// enough for the slowest streamed or generated responses (a settle after that is a no-op).
inline constexpr std::chrono::minutes k_hold_ttl{60};  // the default of store.hold_ttl

// Refusal events kept per second and per refusing budget, balance, rate limit or breaker.
inline constexpr int k_refusal_events_per_second = 10;

class StoreEnforcer final : public Enforcer {
 public:
  // `shared` may be null: every budget is then decided here. `receipts_key`: the key the
  // journal signs records with (null: unsigned), whose public half receipts_key() gives.
  StoreEnforcer(std::shared_ptr<const rules::Config> config, std::unique_ptr<Journal> journal,
                std::unique_ptr<SharedLedger> shared, Clock& clock,
                std::shared_ptr<const ReceiptKey> receipts_key = nullptr);
  ~StoreEnforcer() override;

  void apply_config(std::shared_ptr<const rules::Config> config) override;
  void admit(const AdmitRequest& request, std::function<void(Admission)> done) override;
  using Enforcer::release;
  using Enforcer::settle;
  void settle(HoldId hold, std::int64_t actual_micros, RecordDetail detail,
              std::function<void()> done) override;
  void release(HoldId hold, RecordDetail detail, std::function<void()> done) override;
  void record_refusal(const AdmitRequest& request, const Admission& refusal, RecordDetail detail,
                      std::function<void()> done) override;
  std::vector<CostRecord> records(const RecordQuery& query) const override {
    return journal_->records(query);
  }
  std::vector<SpendGroup> spend(const SpendQuery& query) const override {
    return journal_->spend(query);
  }
  std::string receipts_key() const override {
    return receipts_key_ ? receipts_key_->public_pem() : std::string();
  }
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
  std::uint64_t last_event_id() const override { return events_.last_id(); }
  void emit(Event event) override { events_.emit(std::move(event)); }
  void on_event(std::function<void(const Event&)> listener) override {
    events_.on_event(std::move(listener));
  }
  bool store_healthy() const override {
    return journal_->healthy() && (!shared_ || shared_->healthy());
  }
  void recover() override;

  // Holds currently open (for tests and metrics).
  std::size_t open_holds() const;
  // Changes the journal or the shared ledger could not record, since start (tests, metrics).
  std::uint64_t write_failures() const { return write_failures_; }

 private:
  struct LiveHold {
    TimePoint deadline{};
    std::int64_t estimate = 0;
    std::string currency, provider;
    std::string credential;  // for the provider's balance (only when `balance`)
    std::vector<std::string> breaker_trials;
    // The shared breakers of its currency (decided by the shared ledger): charged at its close.
    std::vector<SharedLedger::BreakerPart> shared_breakers;
    // Admitted while the shared ledger could not be reached (on_error: allow): its settlement
    // feeds the fallback breakers, and it may be a trial of theirs.
    bool fallback_breakers = false;
    std::vector<std::string> fallback_trials;
    // The budget instances it holds (most requests fall in one or two: kept inline, no heap).
    using Parts = boost::container::small_vector<std::pair<BudgetState*, Instance*>, 2>;
    Parts parts;   // decided here
    Parts shared;  // decided by the shared ledger
    // Admitted while the shared ledger could not be reached (on_error: allow): its parts there,
    // charged when it settles.
    std::vector<SharedLedger::Part> unreserved;
    bool balance = false;
    CostRecord record;  // as known at admission; completed when the hold closes
  };
  // An admission waiting for the shared ledger's reservation (its hold is in holds_ already).
  struct SharedReserve {
    HoldId id = 0;
    std::int64_t estimate = 0, hold_ttl_ms = 0;
    std::string provider, endpoint;
    std::vector<SharedLedger::Part> parts;
    std::vector<SharedLedger::RatePart> rates;  // shared rate limits, checked by the store
    // Their limits, for a refusal's message (in `config`, kept while Redis answers).
    std::vector<const rules::RateLimitConfig*> rate_limits;
    std::vector<SharedLedger::BreakerPart> breakers;  // shared breakers, checked by the store
    std::shared_ptr<const rules::Config> config;
    std::vector<BudgetState*> shadow_over;  // local shadow budgets the request exceeds
    Admission admission;
  };
  // Shared-ledger calls decided under the lock, made once it is released.
  struct SharedCalls {
    std::unique_ptr<SharedReserve> reserve;
    struct Close {
      HoldId id = 0;
      std::optional<std::int64_t> actual;
      std::vector<SharedLedger::Part> unreserved;
      std::vector<SharedLedger::BreakerPart> breakers;
      std::vector<std::pair<std::string, std::string>> instances;  // budget, key: the mirror
    };
    std::vector<Close> closes;
    bool sweep = false;  // settle expired holds and re-read the runtime limits
  };

  // A caller waiting for a journal write, and the write's outcome. Its continuation runs on
  // whichever side of a hand-off comes second: the journal's callback, or the caller once write()
  // has returned and the lock is released. A write the journal completes at once (the memory
  // journal completes every write inside write()) is so acted on by the caller itself, with no
  // thread hand-off; and a continuation never runs under the lock, since it goes on with a
  // request, which may call straight back into the enforcer.
  struct Waiting {
    std::function<void(Admission)> admitted;  // admit()
    Admission admission;
    std::function<void()> done;  // settle(), release(), admin changes
    bool durable = false;
    std::atomic<bool> one_side_done{false};
    std::unique_ptr<Waiting> next;  // in a Completed list
  };
  // Writes the journal completed at once, in order, for the caller to complete once unlocked.
  struct Completed {
    std::unique_ptr<Waiting> head;
    Waiting* tail = nullptr;
  };
  // Writes `mutation` under the lock (the journal sees changes in the order they were made) on
  // behalf of `waiting`, whose continuation may be empty; a write the journal completed at once
  // joins `completed`.
  void write(Mutation mutation, std::unique_ptr<Waiting> waiting, Completed& completed);
  // Outside the lock: each write's outcome, then its continuation.
  void complete(std::unique_ptr<Waiting> waiting);
  void complete(Completed& completed);

  Admission decide(const AdmitRequest& request, TimePoint now, std::vector<Event>& events,
                   OpenHold& write);
  // A refusal of `refused_by` for the request, with its (sampled) refusal event.
  Admission refuse(Admission refusal, const std::string& provider, const std::string& endpoint,
                   std::int64_t estimate, TimePoint now, std::vector<Event>& events);
  // The would_refuse events of the shadow budgets `hold` exceeds; their names in `admission`.
  void note_shadow(const LiveHold& hold, const std::vector<BudgetState*>& shadow_over,
                   const std::string& provider, const std::string& endpoint, std::int64_t estimate,
                   TimePoint now, std::vector<Event>& events, Admission& admission);
  std::optional<Admission> check_balance(const AdmitRequest& request, TimePoint now);
  // Ends a hold: charges `actual` (settle) or nothing (release); fills the journal write, its
  // cost record included.
  void close(HoldId id, LiveHold& hold, std::optional<std::int64_t> actual, RecordDetail detail,
             TimePoint now, std::vector<Event>& events, CloseHold& write);
  // Settles expired holds; each write's continuation is `done` (may be empty).
  void sweep(TimePoint now, std::vector<Event>& events, Completed& completed, bool force,
             const std::function<void()>& done = {});
  // Shared ledger (redis): the parts of `hold` there, as the ledger takes them. `force`:
  // reserved in every part, refused by none (AdmitRequest::force).
  std::vector<SharedLedger::Part> shared_parts(const LiveHold& hold, TimePoint now,
                                               bool force) const;
  // One instance as the shared ledger keys it (limit, enforce and ttl left for the caller).
  SharedLedger::Part shared_part(const BudgetState& budget, const Instance& instance,
                                 TimePoint now) const;
  // Undoes what decide() did for a hold the shared ledger refused.
  void undo(LiveHold& hold, TimePoint now, std::vector<Event>& events);
  // Ends the shared parts of a hold here; the ledger's close joins `shared_calls_`.
  void close_shared(HoldId id, LiveHold& hold, std::optional<std::int64_t> actual, TimePoint now,
                    std::vector<Event>& events);
  // Outside the lock: sends what `calls` holds; `done` (may be empty) runs once every close has
  // been answered.
  void call_shared(SharedCalls calls, std::function<void(Admission)> admitted,
                   std::function<void()> done);
  // The shared ledger's answers, each taking the lock.
  void reserved(SharedReserve& pending, SharedLedger::Reservation reservation,
                std::function<void(Admission)> done);
  void closed(const SharedCalls::Close& close, const std::optional<SharedLedger::Closed>& result);
  bool shares(const BudgetState& budget) const;
  void finish(HoldId id, std::optional<std::int64_t> actual, RecordDetail detail,
              std::function<void()> done);
  // Writes an admin change, unlocks and waits until it is durable.
  void write_and_wait(std::unique_lock<std::mutex>& lock, Mutation mutation);
  // After each write to the journal or the shared ledger, outside the lock.
  void after_write(bool durable);
  const rules::Provider* provider(const std::string& name) const;
  void publish(std::vector<Event>& events);

  struct RefusalSample {
    std::int64_t second = 0;
    int emitted = 0;
    std::int64_t suppressed = 0;  // since the last refusal event of this kind
  };

  mutable std::mutex mutex_;
  std::shared_ptr<const rules::Config> config_;
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<SharedLedger> shared_;  // null: no budget is shared with other processes
  // What the lock's holder decided to ask the shared ledger; taken by it before unlocking.
  SharedCalls shared_calls_;
  // With a shared ledger, hold ids carry a random tag in their high half: unique across
  // processes, so the ledger can key holds by them.
  HoldId hold_tag_ = 0;
  Clock& clock_;
  mutable BudgetBook book_;
  BalanceBook balances_;
  RateLimiter rates_;
  mutable Breakers breakers_;
  // The shared spend breakers as breakers of this process's own: they decide while the shared
  // ledger cannot be reached (on_error: allow), over what is admitted meanwhile.
  mutable Breakers fallback_breakers_;  // mutable: breakers() refreshes the shared ones
  EventLog events_;
  std::unordered_map<HoldId, LiveHold> holds_;
  HoldId next_hold_ = 1;
  TimePoint next_sweep_{};
  std::map<std::string, RefusalSample> refusal_samples_;
  std::atomic<std::uint64_t> write_failures_{0};
  std::atomic<bool> writes_failing_{false};  // the last write could not be recorded
  const std::shared_ptr<const ReceiptKey> receipts_key_;
};

}  // namespace budget
