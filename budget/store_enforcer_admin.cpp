// The operator's side of the enforcer: standings for the admin API and metrics, and the admin
// mutations (reset, runtime limit, override), each recorded before it is reported done.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <stdexcept>

#include "budget/event_detail.hpp"
#include "budget/scope.hpp"
#include "budget/store_enforcer.hpp"
#include "util/time.hpp"

namespace budget {
namespace {

using util::unix_seconds;

// A JSON string literal, escaped by RapidJSON.
std::string json_text(const std::string& s) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return std::string(buffer.GetString(), buffer.GetSize());
}

Event admin_event(TimePoint now, const std::string& budget, const std::string& key,
                  std::string message, const std::string& action, const std::string& who,
                  const std::string& before, const std::string& after) {
  return {0,
          now,
          budget::EventType::admin,
          budget,
          key,
          std::move(message),
          EventDetail()
              .str("action", action)
              .str("who", who)
              .raw("before", before)
              .raw("after", after)
              .done()};
}

// {"key":spent,...} of the budget's instances (only `key` when given).
std::string spent_json(const std::vector<BudgetStanding>& standings, const std::string& budget,
                       const std::string& key) {
  EventDetail out;
  for (const auto& s : standings)
    if (s.name == budget && (key.empty() || s.key == key))
      out.str(s.key, rules::format_micros(s.spent));
  return out.done();
}

}  // namespace

std::optional<std::int64_t> StoreEnforcer::remaining_for(const AdmitRequest& request) const {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  std::optional<std::int64_t> tightest;
  // The same budgets and instances decide() reserves in (a shared budget as this process last
  // saw it: the shared store may know of more spend, and then admit() refuses as before).
  for (BudgetState* budget : book_.active()) {
    const auto& c = budget->config;
    if (c.shadow || c.currency != request.estimate.currency || !matches(c.match, request) ||
        !in_scope(c.per, request))
      continue;
    const std::string key = scope_key(c.per, request);
    const Instance& instance = book_.instance(*budget, key, now);
    const std::int64_t limit =
        rules::saturating_add(book_.limit(*budget), book_.overrides(*budget, key, now));
    const std::int64_t left =
        rules::saturating_add(limit, -rules::saturating_add(instance.spent, instance.reserved));
    if (!tightest || left < *tightest) tightest = left;
  }
  return tightest;
}

std::vector<BudgetStanding> StoreEnforcer::budgets() const {
  std::unique_lock lock(mutex_);
  const auto now = clock_.now();
  if (!shared_) return book_.standings(now);
  // A shared budget's numbers are the store's, which other sidecars change too: this process's
  // mirror is only as fresh as its last reservation. Roll the periods, then read them afresh
  // (without the lock: the store's answers take it).
  book_.standings(now);
  std::vector<SharedLedger::Part> parts;
  for (BudgetState* budget : book_.active()) {
    if (!shares(*budget)) continue;
    for (auto& [key, instance] : budget->instances)
      parts.push_back(shared_part(*budget, instance, now));
  }
  if (parts.empty()) return book_.standings(now);
  lock.unlock();
  const auto counters = shared_->read(parts);
  lock.lock();
  for (std::size_t i = 0; counters && i < parts.size() && i < counters->size(); ++i) {
    BudgetState* budget = book_.find(parts[i].budget);
    if (!budget) continue;
    auto instance = budget->instances.find(parts[i].key);
    if (instance == budget->instances.end() ||
        shared_part(*budget, instance->second, now).period != parts[i].period)
      continue;
    const auto& c = (*counters)[i];
    book_.mirror(*budget, instance->second, c.spent, std::chrono::seconds(c.leaves_in), now);
    instance->second.reserved = c.reserved;
  }
  return book_.standings(now);
}

std::vector<BalanceStanding> StoreEnforcer::balances() const {
  std::lock_guard lock(mutex_);
  return balances_.standings(clock_.now(), *config_);
}

std::vector<BreakerStanding> StoreEnforcer::breakers() const {
  std::unique_lock lock(mutex_);
  // A shared breaker is opened and closed by whichever sidecar's close does it: read its state
  // afresh, as budgets() reads the shared counters (without the lock: the store's answers take
  // it). While the store cannot be reached, the last state heard stands.
  const auto names = shared_ ? breakers_.shared_names() : std::vector<std::string>{};
  if (!names.empty()) {
    lock.unlock();
    const auto open = shared_->breakers_open(names);
    lock.lock();
    for (std::size_t i = 0; open && i < names.size() && i < open->size(); ++i)
      breakers_.mirror(names[i], (*open)[i]);
  }
  auto out = breakers_.standings(clock_.now());
  // While Redis is away (on_error: allow), the process's own fallback decides: open there is open.
  if (shared_ && !shared_->healthy())
    for (const auto& fallback : fallback_breakers_.standings(clock_.now()))
      for (auto& standing : out)
        if (standing.name == fallback.name && fallback.open) standing.open = true;
  return out;
}

std::vector<Event> StoreEnforcer::events_since(std::uint64_t id, std::size_t max) const {
  return events_.since(id, max);
}

bool StoreEnforcer::reset(const std::string& budget, const std::string& key,
                          const std::string& who) {
  std::unique_lock lock(mutex_);
  const TimePoint now = clock_.now();
  const std::string before = spent_json(book_.standings(now), budget, key);
  auto row = book_.reset(budget, key, now);
  if (!row) return false;
  BudgetState* state = book_.find(budget);
  const bool in_shared = shared_ && state && shares(*state);
  // A rolling window is one counter in the shared ledger, whatever the time.
  const std::int64_t from = state && state->config.period.kind == rules::Period::Kind::rolling
                                ? SharedLedger::k_rolling
                                : row->from;
  const std::string after = spent_json(book_.standings(now), budget, key);
  write_and_wait(lock, std::move(*row));
  // The shared ledger is called without the lock (its answers take it).
  if (in_shared && !shared_->reset(budget, key, from)) after_write(false);
  events_.emit(admin_event(now, budget, key,
                           "budget \"" + budget + "\"" +
                               (key.empty() ? "" : " (key \"" + key + "\")") + " reset by " + who,
                           "reset", who, before, after));
  return true;
}

bool StoreEnforcer::set_limit(const std::string& budget, std::int64_t limit,
                              const std::string& who) {
  std::unique_lock lock(mutex_);
  const TimePoint now = clock_.now();
  BudgetState* state = book_.find(budget);
  if (!state || !state->active || limit < 0) return false;
  const std::int64_t before = book_.limit(*state);
  auto row = book_.set_limit(budget, limit);
  write_and_wait(lock, SetLimit{*row});
  // With a shared ledger, runtime limits (of every budget) live there: each process re-reads
  // them, so one set through any sidecar applies in all.
  if (shared_ && !shared_->set_limit(*row)) after_write(false);
  events_.emit(admin_event(now, budget, "",
                           "budget \"" + budget + "\" limit set from " +
                               rules::format_micros(before) + " to " + rules::format_micros(limit) +
                               " by " + who,
                           "set_limit", who, json_text(rules::format_micros(before)),
                           json_text(rules::format_micros(limit))));
  return true;
}

bool StoreEnforcer::add_override(const Override& override_, const std::string& who) {
  std::unique_lock lock(mutex_);
  const TimePoint now = clock_.now();
  BudgetState* state = book_.find(override_.budget);
  if (!state || !state->active || override_.until <= now) return false;
  const std::int64_t before = book_.overrides(*state, override_.key, now);
  OverrideRow row{override_.budget, override_.key, override_.reason, override_.extra,
                  unix_seconds(override_.until)};
  book_.add_override(row);
  const std::int64_t after = book_.overrides(*state, override_.key, now);
  write_and_wait(lock, AddOverride{row});
  if (shared_ && !shared_->add_override(row)) after_write(false);  // as limits, above
  events_.emit(admin_event(now, override_.budget, override_.key,
                           "budget \"" + override_.budget + "\" override +" +
                               rules::format_micros(override_.extra) + " until " +
                               std::to_string(unix_seconds(override_.until)) + " by " + who + ": " +
                               override_.reason,
                           "override", who, json_text(rules::format_micros(before)),
                           json_text(rules::format_micros(after))));
  return true;
}

}  // namespace budget
