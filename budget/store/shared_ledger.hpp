#pragma once
// budget::SharedLedger — budgets decided by a store that several tollgate processes share
// (Redis): the check `spent + reserved + estimate <= limit` and the reservation happen in one
// atomic step inside the store, so sidecars sharing a budget never overrun it together. The store
// keeps what it decides, and the runtime limits and overrides every process applies.
// Thread safety: one call at a time (the enforcer calls under its lock), but healthy(), which is
// safe from any thread. Every call is a blocking round trip.

#include <cstdint>
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
    std::int64_t period = 0;  // period key (unix seconds of the period start; 0 for total)
    std::int64_t limit = 0;   // limit + live overrides
    bool enforce = true;      // false: shadow (reserved, never refused)
    std::int64_t ttl = 0;  // seconds from now (on the store's clock) the counters may go; 0 = never
  };
  struct Counters {
    std::int64_t spent = 0, reserved = 0;
  };
  struct Reservation {
    bool admitted = false;
    std::size_t refused_part = 0;    // when refused: the part that did not fit
    std::uint64_t hold = 0;          // when admitted: a hold id unique across processes
    std::vector<Counters> counters;  // per part, after reserving (or as found, when refused)
  };
  // The operator's runtime changes, as every process applies them.
  struct Runtime {
    std::vector<LimitRow> limits;
    std::vector<OverrideRow> overrides;
  };

  // Reserves `estimate` in every part or in none; nullopt when the store cannot be reached. The
  // hold expires `hold_ttl_ms` milliseconds from now by the store's clock, never by this process's.
  virtual std::optional<Reservation> reserve(const std::vector<Part>& parts, std::int64_t estimate,
                                             std::int64_t hold_ttl_ms) = 0;

  // Closes a hold: charges `actual` (nullopt: release). Returns the spent amount of each part
  // after it, an empty vector when the hold is unknown or already closed, nullopt on failure.
  virtual std::optional<std::vector<std::int64_t>> close(std::uint64_t hold,
                                                         std::optional<std::int64_t> actual) = 0;

  // The counters of each part as the store holds them now (every process's spend and holds);
  // nullopt when the store cannot be reached.
  virtual std::optional<std::vector<Counters>> read(const std::vector<Part>& parts) = 0;

  // Settles at their estimate the holds of every process whose deadline has passed on the
  // store's clock.
  virtual void settle_expired() = 0;

  // Zeroes one instance's period (key "": every instance of the budget); false on failure.
  virtual bool reset(const std::string& budget, const std::string& key, std::int64_t period) = 0;

  // Records a runtime limit (replacing the budget's last one) for every process; false on failure.
  virtual bool set_limit(const LimitRow& limit) = 0;

  // Records an override for every process; false on failure.
  virtual bool add_override(const OverrideRow& override_) = 0;

  // The runtime limits and overrides recorded by any process; nullopt when the store cannot be
  // reached.
  virtual std::optional<Runtime> runtime() = 0;

  // False after a call failed, until one succeeds.
  virtual bool healthy() const = 0;
};

// Redis at `url` (redis://host:port/db), keys under `prefix`: shared by every tollgate using it.
// Throws std::runtime_error when the first connection fails.
std::unique_ptr<SharedLedger> make_redis_ledger(const std::string& url, const std::string& prefix);

}  // namespace budget
