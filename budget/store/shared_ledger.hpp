#pragma once
// budget::SharedLedger — budgets decided by a store that several tollgate processes share
// (Redis): the check `spent + reserved + estimate <= limit` and the reservation happen in one
// atomic step inside the store, so sidecars sharing a budget never overrun it together. The store
// keeps what it decides, and the runtime limits and overrides every process applies.
// Thread safety: safe from any thread. reserve, close, settle_expired and runtime never block:
// their callbacks run later on the store's own thread (never under the caller's lock, but a
// callback may take it). read, reset, set_limit and add_override block until the store answers:
// never call them under a lock that a callback takes.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "budget/store/rows.hpp"

namespace budget {

class SharedLedger {
 public:
  virtual ~SharedLedger() = default;

  struct Part {
    std::string budget, key;
    // period key (unix seconds of the period start; 0 for total; k_rolling for a rolling window)
    std::int64_t period = 0;
    std::int64_t limit = 0;  // limit + live overrides
    bool enforce = true;     // false: shadow (reserved, never refused)
    std::int64_t ttl = 0;  // seconds from now (on the store's clock) the counters may go; 0 = never
    // A rolling window (period k_rolling): its length and the granularity its amounts are kept
    // at (seconds, both by the store's clock). An amount counts from the moment it is charged
    // until a whole window has passed since the end of its bucket: never for less than `window`,
    // at most `bucket` seconds more.
    std::int64_t window = 0, bucket = 0;
  };
  // The period key of a rolling window: one counter per instance, which the store's clock slides.
  static constexpr std::int64_t k_rolling = -1;
  // The bucket a rolling window of `window` seconds keeps its amounts at: a second, or 1/600 of
  // the window (rounded up) for windows longer than ten minutes.
  static constexpr std::int64_t rolling_bucket(std::int64_t window) {
    return window <= 600 ? 1 : (window + 599) / 600;
  }
  struct Counters {
    std::int64_t spent = 0, reserved = 0;
    std::int64_t leaves_in = 0;  // a rolling window: seconds until its oldest amount leaves it
  };
  // A shared rate limit's bucket pair (rate_limits with `shared: true`): token buckets kept in
  // the store, refilled by its clock. Capacities per window (0: not limited in that unit); a
  // reservation takes one request and `tokens` from each.
  struct RatePart {
    std::string name, key;
    std::int64_t requests = 0, tokens = 0, window_ms = 0;
    std::int64_t need = 0;  // this request's estimated tokens
  };
  // A shared spend breaker (breakers with `shared: true`): its window of settled spend, its open
  // state and its one half-open trial are kept in the store, by its clock. A reservation is
  // refused while it is open; once its cooldown is over, one hold becomes its trial (until that
  // hold closes, or its hold_ttl passes); a close charges the window (opening the breaker when it
  // goes over `limit`) and, for the trial's settlement, closes it.
  struct BreakerPart {
    std::string name;
    std::int64_t limit = 0;               // micro-units within the window
    std::int64_t window = 0, bucket = 0;  // seconds, as a rolling window's (rolling_bucket)
    std::int64_t cooldown_ms = 0;
  };
  // What a close did to a shared breaker (the process whose close did it reports it, so that
  // every change is reported once).
  struct BreakerChange {
    enum class Kind { none, opened, closed };
    Kind kind = Kind::none;
    std::int64_t spent = 0;  // opened: the window's spend that went over the limit
  };
  struct Closed {
    std::vector<std::int64_t> spent;      // per part, after the close (empty: closed already)
    std::vector<BreakerChange> breakers;  // per breaker part (empty: closed already)
  };
  struct Reservation {
    // rate_refused: a rate part had too little left; breaker_refused: a breaker part is open
    // (refused_part); nothing was taken from any part either way.
    enum class Outcome { admitted, refused, failed, rate_refused, breaker_refused };
    Outcome outcome = Outcome::failed;
    bool maybe_reserved = false;     // failed after the request was sent: it may have run
    std::size_t refused_part = 0;    // when refused: the part (or rate part) that did not fit
    std::vector<Counters> counters;  // per part, after reserving (or as found, when refused)
    // rate_refused: when the bucket will have enough (ms), and in which unit it ran short.
    std::int64_t rate_wait_ms = 0;
    bool rate_tokens = false;  // false: requests
    // breaker_refused: when its cooldown ends (ms), or 1000 when it is over and another hold is
    // the trial (breaker_trial_out).
    std::int64_t breaker_wait_ms = 0;
    bool breaker_trial_out = false;
    // admitted: per breaker part, whether this hold is its half-open trial.
    std::vector<bool> breaker_trials;
  };
  // The operator's runtime changes, as every process applies them.
  struct Runtime {
    std::vector<LimitRow> limits;
    std::vector<OverrideRow> overrides;
  };

  // Reserves `estimate` in every part or in none under `hold`, an id unique across processes
  // (the caller's). The hold expires `hold_ttl_ms` milliseconds from now by the store's clock,
  // never by this process's. A hold closed before its reservation arrives is not reserved.
  // Shared rate limits (`rates`) are checked first, by the store's clock, in the same atomic
  // step: one that is short refuses before anything is taken; otherwise each gives its request
  // and tokens, and keeps them even when a budget part then refuses (a process's own buckets,
  // checked after its local budgets, give nothing then; a shared budget's refusal comes too late
  // for that). A hold with no parts is only a rate check: nothing to close.
  // Shared breakers (`breakers`) are checked before anything: an open one refuses.
  virtual void reserve(std::uint64_t hold, const std::vector<Part>& parts,
                       const std::vector<RatePart>& rates, const std::vector<BreakerPart>& breakers,
                       std::int64_t estimate, std::int64_t hold_ttl_ms,
                       std::function<void(Reservation)> done) = 0;
  void reserve(std::uint64_t hold, const std::vector<Part>& parts,
               const std::vector<RatePart>& rates, std::int64_t estimate, std::int64_t hold_ttl_ms,
               std::function<void(Reservation)> done) {
    reserve(hold, parts, rates, {}, estimate, hold_ttl_ms, std::move(done));
  }
  void reserve(std::uint64_t hold, const std::vector<Part>& parts, std::int64_t estimate,
               std::int64_t hold_ttl_ms, std::function<void(Reservation)> done) {
    reserve(hold, parts, {}, {}, estimate, hold_ttl_ms, std::move(done));
  }

  // Closes a hold: charges `actual` (nullopt: release). `unreserved`: the parts a hold admitted
  // while the store could not be reached is charged to (a reservation made after all is closed
  // instead). A hold closes once whoever closes it, however often the close is sent. A close the
  // store cannot take now is kept (in a local journal) and sent again until it can: done(nullopt)
  // then. Otherwise done gets the spent amount of each part after it, or an empty vector when
  // the hold was closed already.
  // `breakers`: the shared breakers of the hold's currency (the same as its reservation's, or
  // every one when it made none): the settlement is charged to their windows, and a trial's
  // settlement closes its breaker (a release lets the next hold be the trial). A hold with
  // breakers and no parts closes once too.
  virtual void close(std::uint64_t hold, std::optional<std::int64_t> actual,
                     const std::vector<Part>& unreserved, const std::vector<BreakerPart>& breakers,
                     std::function<void(std::optional<Closed>)> done) = 0;
  void close(std::uint64_t hold, std::optional<std::int64_t> actual,
             const std::vector<Part>& unreserved,
             std::function<void(std::optional<std::vector<std::int64_t>>)> done) {
    close(hold, actual, unreserved, {}, [done = std::move(done)](std::optional<Closed> closed) {
      if (!done) return;
      if (closed) return done(std::move(closed->spent));
      done(std::nullopt);
    });
  }

  // Settles at their estimate the holds of every process whose deadline has passed on the
  // store's clock.
  virtual void settle_expired() = 0;

  // The runtime limits and overrides recorded by any process; nullopt when the store cannot be
  // reached.
  virtual void runtime(std::function<void(std::optional<Runtime>)> done) = 0;

  // The counters of each part as the store holds them now (every process's spend and holds);
  // nullopt when the store cannot be reached.
  virtual std::optional<std::vector<Counters>> read(const std::vector<Part>& parts) = 0;

  // Whether each of the shared breakers `names` is open (or half-open) in the store now;
  // nullopt when the store cannot be reached.
  virtual std::optional<std::vector<bool>> breakers_open(const std::vector<std::string>& names) = 0;

  // Zeroes one instance's period (key "": every instance of the budget; period k_rolling: a
  // rolling window); false on failure.
  virtual bool reset(const std::string& budget, const std::string& key, std::int64_t period) = 0;

  // Records a runtime limit (replacing the budget's last one) for every process; false on failure.
  virtual bool set_limit(const LimitRow& limit) = 0;

  // Records an override for every process; false on failure.
  virtual bool add_override(const OverrideRow& override_) = 0;

  // False while the store cannot be reached.
  virtual bool healthy() const = 0;

  // `listener` hears, on the store's thread, why the store could not be reached: once per spell.
  virtual void on_failure(std::function<void(const std::string& problem)> listener) = 0;

  // `listener` hears, on the store's thread, what a close sent again from the local journal (its
  // caller was told done(nullopt) long ago) did to a shared breaker.
  virtual void on_breaker_change(
      std::function<void(const std::string& breaker, BreakerChange change)> listener) = 0;
};

// Redis at `url` (redis[s]://[user:password@]host:port/db), keys under `prefix`: shared by every
// tollgate using it. Closes Redis could not take wait in `outbox_path` (SQLite; "" = in memory).
// Connects in the background, with backoff: Redis may come up later. Throws
// std::invalid_argument for a URL it cannot use.
std::unique_ptr<SharedLedger> make_redis_ledger(const std::string& url, const std::string& prefix,
                                                const std::string& outbox_path = "");

}  // namespace budget
