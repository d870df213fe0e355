#pragma once
// budget::Enforcer — the one object the proxy talks to for admission and settlement: budgets
// (ledger + store), provider balances, rate limits, breakers, admin mutations, events.
// Thread-safe. No Asio: asynchronous results are delivered through callbacks, which may run on
// a journal thread after the change is durable, or on the shared ledger's connection thread once
// Redis has answered (never under the enforcer's lock: a callback may call straight back in); the
// caller re-posts them to its own executor.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "budget/store/record_query.hpp"
#include "rules/config.hpp"
#include "rules/money.hpp"
#include "rules/request_view.hpp"

namespace budget {

using TimePoint = std::chrono::system_clock::time_point;

// Injectable wall clock (tests move time to cross a midnight in some timezone).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  static Clock& system();
};

using HoldId = std::uint64_t;

// What the proxy knows about a request once it is priced.
struct AdmitRequest {
  std::string provider, endpoint, model;
  // The provider's rules in the config the request was priced under, resolved once at the head
  // of the exchange (valid during admit()); nullptr: looked up by `provider`.
  const rules::Provider* provider_rules = nullptr;
  std::string client;                          // identity from clients.identify ("" when none)
  std::string credential_hash;                 // hashed provider credential ("" when none)
  std::string host;                            // upstream host, for the upstream-failure breaker
  const rules::HeaderList* headers = nullptr;  // for per: header:NAME (valid during admit())
  rules::Money estimate;
  std::int64_t estimated_tokens = 0;  // for token rate limits
  std::string record_id;              // the id its cost record will have (new_record_id())
  std::string session;  // the realtime WebSocket session, for per: session ("" outside one)
  // The provider already does the work (a response the server started by itself): reserve it in
  // every budget it falls in whatever they say, never refuse, so that what it costs is still
  // settled against them. Breakers, rate limits and balances are not consulted.
  bool force = false;
};

// One budget instance as seen now. Amounts in micro-units.
struct BudgetStanding {
  std::string name, key, currency, mode;  // mode: enforce | shadow
  std::int64_t limit = 0, spent = 0, reserved = 0, overrides = 0;
  TimePoint period_start{}, resets_at{};  // resets_at == TimePoint::max() for period: total
  std::int64_t effective_limit() const { return rules::saturating_add(limit, overrides); }
  std::int64_t remaining() const {
    return rules::saturating_add(effective_limit(), -rules::saturating_add(spent, reserved));
  }
};

// What refused a request: the x-tollgate-refused header and the refusal event's refused_by.
// `price` is the pipeline's (a model it may not price), the others the ledger's.
enum class RefusedBy { none, budget, balance, rate, breaker, store, price };
std::string_view refused_by_name(RefusedBy refused_by);

struct Admission {
  bool admitted = true;
  // When refused: which mechanism and which instance of it.
  RefusedBy refused_by = RefusedBy::none;
  std::string name;     // budget, rate limit, breaker or provider name
  std::string key;      // for a budget: the instance's key ("" for a budget without per:)
  std::string message;  // names the budget, the estimate, what remains, the deficit, the reset
  std::optional<std::int64_t> retry_after_s;  // seconds until waiting can help
  bool should_retry = false;                  // false when waiting cannot help before the reset
  std::optional<std::int64_t> balance_left;   // provider balance (micro-units), for Keepa refusals
  HoldId hold = 0;                            // 0 when nothing was reserved
  std::vector<BudgetStanding> budgets;        // instances the request falls in, after reserving
  std::vector<std::string> shadow_refusals;   // shadow budgets that would have refused
};

// What the caller knows of how an exchange ended, for its cost record; the enforcer adds the
// rest (when, the budgets, the amounts).
struct RecordDetail {
  RecordOutcome outcome = RecordOutcome::complete;
  int status = 0;  // HTTP status the client got
  Usage usage;     // token counts the provider reported
  std::string upstream_request_id;
  std::int64_t ms = 0;  // from the request head to the end
  // The model the provider says it billed (gpt-4o-2024-08-06 for a request for gpt-4o): the
  // record and the spend by model name it. Empty: the requested model.
  std::string model;
  // The service tier it was billed at, when not the standard one (OpenAI flex, priority).
  std::string service_tier;
  // When settle's or release's `done` runs with budgets in a shared ledger (Redis): once the
  // ledger has answered too (true), or once this process's journal has the change and the close
  // is queued to the ledger (false). Queued is enough for a proxied exchange to go on: the
  // ledger's one connection runs what this process sends in order, so its next reservation
  // already sees the close; a close that fails goes to the outbox as before.
  bool await_shared = true;
};

// What the provider's response said about an account.
struct BalanceObservation {
  std::string provider, credential_hash;
  std::optional<std::int64_t> balance;            // micro-units
  std::optional<std::int64_t> refill_per_minute;  // micro-units
};

struct BalanceStanding {
  std::string provider, account;  // account = credential hash
  std::int64_t observed = 0, refill_per_minute = 0, holds = 0, estimated_now = 0;
  TimePoint at{};
};

// The kinds of budget event (GET /v1/events, webhooks, the log): `type` in their JSON.
enum class EventType {
  threshold,
  refused,
  would_refuse,
  balance_warning,
  breaker,
  admin,
  overrun,
  reload,
  error,
  unpriced_model,
  unpriced_endpoint,
};
std::string_view event_type_name(EventType type);
std::optional<EventType> parse_event_type(std::string_view name);

struct Event {
  std::uint64_t id = 0;
  TimePoint at{};
  EventType type = EventType::admin;
  std::string budget, key, message;
  std::string detail_json;  // extra fields as a JSON object text ("{}" when none)
};

// One circuit breaker as seen now (tollgate_breaker_open{name}).
struct BreakerStanding {
  std::string name;  // the breaker's name (upstream-failure breakers: "NAME:host")
  bool open = false;
};

struct Override {
  std::string budget, key;  // key "" = every instance of the budget
  std::int64_t extra = 0;   // micro-units
  TimePoint until{};
  std::string reason;
};

class Enforcer {
 public:
  virtual ~Enforcer() = default;

  // Installs a config snapshot; budgets keep their spent amounts across calls; a removed
  // budget stops applying, a changed limit applies at once.
  virtual void apply_config(std::shared_ptr<const rules::Config> config) = 0;

  // Reserves the estimate in every matching budget (all or nothing) and checks balance, rate
  // limits and breakers. `done` runs once, after the hold is durable (or refused). A hold the
  // store could not record stands all the same: the store then reports itself unhealthy.
  virtual void admit(const AdmitRequest& request, std::function<void(Admission)> done) = 0;

  // Replaces the hold by the actual cost (may exceed the estimate: recorded, alerted) and keeps
  // the exchange's cost record in the same durable step; `done` runs once both are durable.
  virtual void settle(HoldId hold, std::int64_t actual_micros, RecordDetail detail,
                      std::function<void()> done) = 0;
  void settle(HoldId hold, std::int64_t actual_micros, std::function<void()> done) {
    settle(hold, actual_micros, RecordDetail{}, std::move(done));
  }

  // Drops the hold (the request never reached the provider) and keeps its record (actual 0).
  virtual void release(HoldId hold, RecordDetail detail, std::function<void()> done) = 0;
  void release(HoldId hold, std::function<void()> done) {
    RecordDetail detail;
    detail.outcome = RecordOutcome::upstream_error;
    release(hold, std::move(detail), std::move(done));
  }

  // Keeps the cost record of a request refused by `refusal` (admit()'s answer) or by the caller
  // itself (refused_by: price): actual 0, no hold; `done` runs once it is durable.
  virtual void record_refusal(const AdmitRequest& request, const Admission& refusal,
                              RecordDetail detail, std::function<void()> done) = 0;

  // The cost records kept, and spend grouped from them (DESIGN §13).
  virtual std::vector<CostRecord> records(const RecordQuery& query) const = 0;
  virtual std::vector<SpendGroup> spend(const SpendQuery& query) const = 0;
  // The public key receipts are signed with (PEM); "" when receipts.sign is off.
  virtual std::string receipts_key() const { return {}; }

  virtual void observe_balance(const BalanceObservation& observation) = 0;
  virtual void upstream_result(const std::string& host, bool ok) = 0;

  // Admin (each mutation persisted, audited by the caller, emitted as an event).
  virtual std::vector<BudgetStanding> budgets() const = 0;
  virtual std::vector<BalanceStanding> balances() const = 0;
  virtual bool reset(const std::string& budget, const std::string& key, const std::string& who) = 0;
  virtual bool set_limit(const std::string& budget, std::int64_t limit, const std::string& who) = 0;
  virtual bool add_override(const Override& override_, const std::string& who) = 0;
  virtual std::vector<Event> events_since(std::uint64_t id, std::size_t max = 1000) const = 0;
  // The id of the newest event (0 before the first); ids are consecutive. Additive: the default
  // reads every event, implementations keep it at hand.
  virtual std::uint64_t last_event_id() const {
    const auto all = events_since(0, SIZE_MAX);
    return all.empty() ? 0 : all.back().id;
  }
  virtual void emit(Event event) = 0;  // events from outside budget/ (reload, admin, error)
  virtual void on_event(std::function<void(const Event&)> listener) = 0;  // webhooks, logs
  // False while the journal or the shared ledger cannot record changes (readiness).
  virtual bool store_healthy() const = 0;
  // What is left now (limit plus overrides, minus spent and reserved; micro-units) in the
  // tightest enforced budget instance `request` falls in, as admit() would see it before
  // reserving; nullopt when no enforced budget applies. Shadow budgets do not count. For output
  // caps: a later admit() may still refuse (other requests reserve meanwhile). Additive: nullopt
  // unless overridden.
  virtual std::optional<std::int64_t> remaining_for(const AdmitRequest& /*request*/) const {
    return std::nullopt;
  }
  // Every breaker and whether it is open now, for metrics. Additive: none unless overridden.
  virtual std::vector<BreakerStanding> breakers() const { return {}; }

  // Settles at their estimate the holds left by a crash (called once at start).
  virtual void recover() = 0;
};

// Builds the enforcer for config.store (memory | sqlite | redis). Throws on a store that
// cannot be opened (start-up only).
std::unique_ptr<Enforcer> make_enforcer(std::shared_ptr<const rules::Config> config,
                                        Clock& clock = Clock::system());

}  // namespace budget
