#include "budget/budget_book.hpp"

#include <algorithm>

#include "budget/event_detail.hpp"
#include "budget/period_window.hpp"
#include "util/time.hpp"

namespace budget {
namespace {

using util::unix_seconds;

using std::chrono::seconds;
using Kind = rules::Period::Kind;

TimePoint from_unix(std::int64_t s) {
  return TimePoint{seconds{s}};
}

std::int64_t rolling_seconds(const rules::BudgetConfig& config) {
  return std::max<std::int64_t>(1,
                                std::chrono::duration_cast<seconds>(config.period.rolling).count());
}

// spent >= limit * percent / 100, without overflow or rounding.
bool reached(std::int64_t spent, std::int64_t limit, int percent) {
  return static_cast<__int128>(spent) * 100 >= static_cast<__int128>(limit) * percent;
}

std::string key_text(const std::string& key) {
  return key.empty() ? "" : " (key \"" + key + "\")";
}

}  // namespace

void BudgetBook::apply(const rules::Config& config) {
  for (auto& [name, state] : budgets_) state->active = false;
  active_.clear();
  for (const auto& budget : config.budgets) {
    auto& state = budgets_[budget.name];
    if (!state) state = std::make_unique<BudgetState>();
    const bool period_changed = state->config.period.kind != budget.period.kind ||
                                state->config.period.rolling != budget.period.rolling ||
                                state->config.timezone != budget.timezone;
    state->config = budget;
    state->active = true;
    // A new period definition re-derives each instance's window on next use.
    if (period_changed)
      for (auto& [key, instance] : state->instances) instance.period_end = TimePoint{};
    active_.push_back(state.get());
  }
}

void BudgetBook::load(const JournalSnapshot& snapshot) {
  for (const auto& row : snapshot.spent) preload_[row.budget][row.key].push_back(row);
  refresh_runtime(snapshot.limits, snapshot.overrides);
}

void BudgetBook::refresh_runtime(const std::vector<LimitRow>& limits,
                                 const std::vector<OverrideRow>& overrides) {
  limits_.clear();
  for (const auto& row : limits) limits_[row.budget] = row;
  overrides_ = overrides;
}

BudgetState* BudgetBook::find(const std::string& name) {
  auto it = budgets_.find(name);
  return it == budgets_.end() ? nullptr : it->second.get();
}

Instance& BudgetBook::instance(BudgetState& budget, const std::string& key, TimePoint now) {
  auto [it, created] = budget.instances.try_emplace(key);
  Instance& instance = it->second;
  if (created) {
    instance.key = key;
    restore(budget, instance, now);
  }
  roll(budget, instance, now);
  instance.last_used = now;
  return instance;
}

void BudgetBook::restore(BudgetState& budget, Instance& instance, TimePoint now) {
  auto by_budget = preload_.find(budget.config.name);
  if (by_budget == preload_.end()) return;
  auto by_key = by_budget->second.find(instance.key);
  if (by_key == by_budget->second.end()) return;
  const auto& period = budget.config.period;
  if (period.kind == Kind::rolling) {
    auto rows = by_key->second;
    std::sort(rows.begin(), rows.end(),
              [](const SpentRow& a, const SpentRow& b) { return a.period_start < b.period_start; });
    for (const auto& row : rows) {
      instance.charges.emplace_back(row.period_start, row.amount);
      instance.spent += row.amount;
    }
  } else {
    const std::int64_t current =
        period.kind == Kind::total
            ? 0
            : unix_seconds(period_window(period, budget.config.timezone, now).start);
    for (const auto& row : by_key->second)
      if (row.period_start == current) instance.spent += row.amount;
  }
  by_budget->second.erase(by_key);
  roll(budget, instance, now);
  // Thresholds already crossed before a restart were alerted then: do not fire them again.
  arm_alerts(budget, instance);
}

void BudgetBook::arm_alerts(const BudgetState& budget, Instance& instance) const {
  const std::int64_t lim = limit(budget);
  instance.alerts = 0;
  if (lim <= 0) return;
  for (std::size_t i = 0; i < budget.config.alerts.size() && i < 32; ++i)
    if (reached(instance.spent, lim, budget.config.alerts[i])) instance.alerts |= 1u << i;
}

void BudgetBook::roll(BudgetState& budget, Instance& instance, TimePoint now) {
  const auto& period = budget.config.period;
  if (period.kind == Kind::total) {
    instance.period_end = TimePoint::max();
    return;
  }
  if (period.kind == Kind::rolling) {
    const std::int64_t cutoff = unix_seconds(now) - rolling_seconds(budget.config);
    bool dropped = false;
    while (!instance.charges.empty() && instance.charges.front().first <= cutoff) {
      instance.spent -= instance.charges.front().second;
      instance.charges.pop_front();
      dropped = true;
    }
    // A sliding window has no period to fire once in: an alert re-arms when spend falls below it.
    if (dropped) {
      const std::uint32_t fired = instance.alerts;
      arm_alerts(budget, instance);
      instance.alerts &= fired;
    }
    return;
  }
  if (now < instance.period_end && now >= instance.period_start) return;
  const PeriodWindow window = period_window(period, budget.config.timezone, now);
  if (window.start != instance.period_start) {
    if (instance.period_end != TimePoint{}) {  // not the first window: a new period starts empty
      instance.spent = 0;
      instance.alerts = 0;
    }
    instance.period_start = window.start;
  }
  instance.period_end = window.end;
}

std::int64_t BudgetBook::limit(const BudgetState& budget) const {
  auto it = limits_.find(budget.config.name);
  // A runtime limit stands until the config's own limit for that budget changes.
  if (it != limits_.end() && it->second.config_limit == budget.config.limit)
    return it->second.limit;
  return budget.config.limit;
}

std::int64_t BudgetBook::overrides(const BudgetState& budget, const std::string& key,
                                   TimePoint now) const {
  std::int64_t extra = 0;
  const std::int64_t now_s = unix_seconds(now);
  for (const auto& row : overrides_)
    if (row.budget == budget.config.name && (row.key.empty() || row.key == key) &&
        row.until > now_s)
      extra = rules::saturating_add(extra, row.extra);
  return extra;
}

std::int64_t BudgetBook::period_key(const BudgetState& budget, const Instance& instance,
                                    TimePoint now) const {
  switch (budget.config.period.kind) {
    case Kind::total:
      return 0;
    case Kind::rolling:
      return unix_seconds(now);
    default:
      return unix_seconds(instance.period_start);
  }
}

SpentRow BudgetBook::charge(BudgetState& budget, Instance& instance, std::int64_t amount,
                            TimePoint now, std::vector<Event>& events) {
  roll(budget, instance, now);
  const std::int64_t key = period_key(budget, instance, now);
  instance.spent += amount;
  if (budget.config.period.kind == Kind::rolling) {
    if (!instance.charges.empty() && instance.charges.back().first == key)
      instance.charges.back().second += amount;
    else
      instance.charges.emplace_back(key, amount);
  }
  const std::int64_t lim = limit(budget);
  const auto& alerts = budget.config.alerts;
  for (std::size_t i = 0; lim > 0 && i < alerts.size() && i < 32; ++i) {
    if ((instance.alerts & (1u << i)) || !reached(instance.spent, lim, alerts[i])) continue;
    instance.alerts |= 1u << i;
    const std::string& currency = budget.config.currency;
    events.push_back({0, now, budget::EventType::threshold, budget.config.name, instance.key,
                      "budget \"" + budget.config.name + "\"" + key_text(instance.key) +
                          " reached " + std::to_string(alerts[i]) + "% of " +
                          rules::format_micros(lim) + " " + currency + ": spent " +
                          rules::format_micros(instance.spent) + " " + currency,
                      EventDetail()
                          .num("percent", alerts[i])
                          .str("spent", rules::format_micros(instance.spent))
                          .str("limit", rules::format_micros(lim))
                          .str("currency", currency)
                          .done()});
  }
  return {budget.config.name, instance.key, key, amount};
}

std::optional<Reset> BudgetBook::reset(const std::string& name, const std::string& key,
                                       TimePoint now) {
  BudgetState* budget = find(name);
  if (!budget || !budget->active) return std::nullopt;
  // A key that has no instance (and no spend waiting to be loaded) is not a budget to reset.
  if (!key.empty() && !budget->instances.contains(key)) {
    const auto pre = preload_.find(name);
    if (pre == preload_.end() || !pre->second.contains(key)) return std::nullopt;
  }
  std::int64_t from = 0;
  const auto& period = budget->config.period;
  if (period.kind == Kind::rolling)
    from = unix_seconds(now) - rolling_seconds(budget->config);
  else if (period.kind != Kind::total)
    from = unix_seconds(period_window(period, budget->config.timezone, now).start);
  for (auto& [instance_key, instance] : budget->instances) {
    if (!key.empty() && instance_key != key) continue;
    roll(*budget, instance, now);
    instance.spent = 0;
    instance.alerts = 0;
    instance.charges.clear();
  }
  // Spent rows of instances not yet touched since start must not come back either.
  auto by_budget = preload_.find(name);
  if (by_budget != preload_.end()) {
    if (key.empty())
      by_budget->second.clear();
    else
      by_budget->second.erase(key);
  }
  return Reset{name, key, from};
}

std::optional<LimitRow> BudgetBook::set_limit(const std::string& name, std::int64_t new_limit) {
  BudgetState* budget = find(name);
  if (!budget || !budget->active) return std::nullopt;
  LimitRow row{name, new_limit, budget->config.limit};
  limits_[name] = row;
  return row;
}

BudgetStanding BudgetBook::standing(const BudgetState& budget, const Instance& instance,
                                    TimePoint now) const {
  BudgetStanding s;
  s.name = budget.config.name;
  s.key = instance.key;
  s.currency = budget.config.currency;
  s.mode = budget.config.shadow ? "shadow" : "enforce";
  s.limit = limit(budget);
  s.spent = instance.spent;
  s.reserved = instance.reserved;
  s.overrides = overrides(budget, instance.key, now);
  if (budget.config.period.kind == Kind::rolling) {
    s.period_start = now - budget.config.period.rolling;
    s.resets_at = instance.charges.empty()
                      ? now
                      : from_unix(instance.charges.front().first + rolling_seconds(budget.config));
  } else {
    s.period_start = instance.period_start;
    s.resets_at = instance.period_end;
  }
  return s;
}

std::vector<BudgetStanding> BudgetBook::standings(TimePoint now) {
  std::vector<BudgetStanding> out;
  for (BudgetState* budget : active_) {
    // A budget without `per` always shows its one instance, even before any request.
    if (budget->config.per.empty()) instance(*budget, "", now);
    materialize_stored(*budget, now);
    std::vector<std::string> keys;
    for (auto& [key, inst] : budget->instances) keys.push_back(key);
    std::sort(keys.begin(), keys.end());
    for (const auto& key : keys) {
      Instance& inst = budget->instances.at(key);
      roll(*budget, inst, now);
      out.push_back(standing(*budget, inst, now));
    }
  }
  return out;
}

void BudgetBook::materialize_stored(BudgetState& budget, TimePoint now) {
  auto by_budget = preload_.find(budget.config.name);
  if (by_budget == preload_.end()) return;
  const auto& period = budget.config.period;
  std::int64_t from = 0;
  if (period.kind == Kind::rolling)
    from = unix_seconds(now) - rolling_seconds(budget.config) + 1;
  else if (period.kind != Kind::total)
    from = unix_seconds(period_window(period, budget.config.timezone, now).start);
  std::vector<std::string> current;
  for (const auto& [key, rows] : by_budget->second)
    if (std::any_of(rows.begin(), rows.end(),
                    [&](const SpentRow& r) { return r.period_start >= from; }))
      current.push_back(key);
  for (const auto& key : current) instance(budget, key, now);
}

void BudgetBook::expire_idle(TimePoint now) {
  for (BudgetState* budget : active_) {
    if (!budget->config.idle_expiry) continue;
    const auto idle = *budget->config.idle_expiry;
    std::erase_if(budget->instances, [&](const auto& entry) {
      return entry.second.holds == 0 && now - entry.second.last_used >= idle;
    });
  }
}

}  // namespace budget
