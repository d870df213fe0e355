#pragma once
// budget::BudgetBook — every budget and its instances: spent and reserved per period, period
// roll-over in the budget's timezone, rolling windows, thresholds, runtime limits, overrides.
// Not thread-safe: the enforcer calls it under its one mutex.

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "budget/enforcer.hpp"
#include "budget/store/journal.hpp"

namespace budget {

struct Instance {
  std::string key;
  std::int64_t spent = 0, reserved = 0;
  std::uint32_t alerts = 0;  // bit i: alert i fired in this period
  TimePoint period_start{}, period_end{};
  std::deque<std::pair<std::int64_t, std::int64_t>> charges;  // rolling: (unix second, amount)
  // A rolling window kept by a shared ledger: its spend is the ledger's (no charges here), and
  // its oldest amount leaves the window at `leaves_at` (as last told).
  bool mirrored = false;
  TimePoint leaves_at{};
  int holds = 0;
  TimePoint last_used{};
};

struct BudgetState {
  rules::BudgetConfig config;
  bool active = true;  // false once a reload removed it (its holds still settle)
  std::unordered_map<std::string, Instance> instances;
};

class BudgetBook {
 public:
  // Installs the budgets of `config`; existing instances keep their spent amounts.
  void apply(const rules::Config& config);

  // Takes the journaled state (spent rows are used when their instance is first touched).
  void load(const JournalSnapshot& snapshot);
  // Replaces the runtime limits and overrides with a shared ledger's (which other processes
  // change too: what one sidecar's admin API set applies in all of them).
  void refresh_runtime(const std::vector<LimitRow>& limits,
                       const std::vector<OverrideRow>& overrides);

  // Active budgets in config order.
  const std::vector<BudgetState*>& active() const { return active_; }
  BudgetState* find(const std::string& name);

  // The instance for `key`, created on first use, rolled over to the period containing `now`.
  Instance& instance(BudgetState& budget, const std::string& key, TimePoint now);

  std::int64_t limit(const BudgetState& budget) const;  // runtime limit or the config's
  std::int64_t overrides(const BudgetState& budget, const std::string& key, TimePoint now) const;

  // Adds `amount` to spent and appends to `events` the thresholds it crossed. Returns the spent
  // row (period key) the amount belongs to in the store.
  SpentRow charge(BudgetState& budget, Instance& instance, std::int64_t amount, TimePoint now,
                  std::vector<Event>& events);

  // Takes `spent` from a shared ledger, which keeps the instance. A rolling window's amounts
  // then live there: `leaves_in` (when known) is how long its oldest one stays, and a threshold
  // re-arms when the spend falls back below it, as for a window kept here.
  void mirror(BudgetState& budget, Instance& instance, std::int64_t spent,
              std::optional<std::chrono::seconds> leaves_in, TimePoint now) const;

  // Zeroes the current period of one instance (key "" = every instance); the change for the
  // store. Returns nullopt for an unknown budget.
  std::optional<Reset> reset(const std::string& budget, const std::string& key, TimePoint now);

  std::optional<LimitRow> set_limit(const std::string& budget, std::int64_t limit);
  void add_override(const OverrideRow& row) { overrides_.push_back(row); }

  BudgetStanding standing(const BudgetState& budget, const Instance& instance, TimePoint now) const;
  std::vector<BudgetStanding> standings(TimePoint now);

  // Drops instances idle past their budget's idle_expiry (no holds, not used since).
  void expire_idle(TimePoint now);

  // The unix second under which a charge made now is stored.
  std::int64_t period_key(const BudgetState& budget, const Instance& instance, TimePoint now) const;

 private:
  void roll(BudgetState& budget, Instance& instance, TimePoint now);
  void restore(BudgetState& budget, Instance& instance, TimePoint now);
  void arm_alerts(const BudgetState& budget, Instance& instance) const;
  // Creates the instances that have spend stored for the current period (listed after a restart).
  void materialize_stored(BudgetState& budget, TimePoint now);

  std::map<std::string, std::unique_ptr<BudgetState>> budgets_;
  std::vector<BudgetState*> active_;
  std::map<std::string, LimitRow> limits_;
  std::vector<OverrideRow> overrides_;
  // Stored spent rows per budget, then key, consumed when the instance is first created.
  std::map<std::string, std::map<std::string, std::vector<SpentRow>>> preload_;
};

}  // namespace budget
