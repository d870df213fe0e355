#pragma once
// Fixtures for the admin tests: a temp folder, a config written to it, and a recording
// in-memory Enforcer that keeps one instance per configured budget (key "").

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "budget/enforcer.hpp"
#include "rules/config_loader.hpp"

namespace admin_test {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    static int n = 0;
    path = fs::temp_directory_path() /
           ("tollgate-admin-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string write(const std::string& name, std::string_view text) const {
    fs::create_directories((path / name).parent_path());
    std::ofstream(path / name, std::ios::trunc) << text;
    return (path / name).string();
  }
  std::string at(const std::string& name) const { return (path / name).string(); }
};

inline std::string config_yaml(const std::string& limit, const std::string& extra = "") {
  return "include: [catalog:openai]\nstore: { type: memory }\nbudgets:\n"
         "  - { name: daily, currency: usd, limit: " +
         limit + ", period: day }\n" + extra;
}

inline std::shared_ptr<const rules::Config> load(const std::string& path) {
  auto result = rules::load_config_file(path);
  if (!result.errors.empty()) throw std::runtime_error(result.errors.front().str());
  return result.config;
}

class FakeClock final : public budget::Clock {
 public:
  budget::TimePoint now_ = budget::TimePoint{} + std::chrono::hours(24 * 20000);
  budget::TimePoint now() const override { return now_; }
};

// Records what the admin layer asked; budgets mirror the last applied config.
class RecordingEnforcer final : public budget::Enforcer {
 public:
  struct Call {
    std::string what, budget, key, who;
    std::int64_t amount = 0;
  };
  std::vector<Call> calls;
  std::vector<budget::Override> overrides;
  std::vector<budget::Event> events;
  std::vector<budget::BalanceStanding> balance_list;
  std::vector<budget::BreakerStanding> breaker_list;
  std::map<std::string, budget::BudgetStanding> standings;
  std::shared_ptr<const rules::Config> applied;
  bool healthy = true;
  mutable std::mutex mutex;

  void apply_config(std::shared_ptr<const rules::Config> config) override {
    std::lock_guard lock(mutex);
    applied = config;
    std::map<std::string, budget::BudgetStanding> next;
    for (const auto& b : config->budgets) {
      auto standing = standings.count(b.name) ? standings[b.name] : budget::BudgetStanding{};
      standing.name = b.name;
      standing.currency = b.currency;
      standing.mode = b.shadow ? "shadow" : "enforce";
      standing.limit = b.limit;
      if (b.period.kind == rules::Period::Kind::total)
        standing.resets_at = budget::TimePoint::max();
      next[b.name] = standing;
    }
    standings = std::move(next);
  }
  void admit(const budget::AdmitRequest&, std::function<void(budget::Admission)> done) override {
    done({});
  }
  using budget::Enforcer::release;
  using budget::Enforcer::settle;
  void settle(budget::HoldId, std::int64_t, budget::RecordDetail,
              std::function<void()> done) override {
    done();
  }
  void release(budget::HoldId, budget::RecordDetail, std::function<void()> done) override {
    done();
  }
  void record_refusal(const budget::AdmitRequest&, const budget::Admission&, budget::RecordDetail,
                      std::function<void()> done) override {
    done();
  }
  // Records answer from record_list, as the memory journal would; the last queries are kept.
  std::vector<budget::CostRecord> record_list;
  std::string receipts_pem;
  mutable std::optional<budget::SpendQuery> last_spend;
  mutable std::optional<budget::RecordQuery> last_records;
  std::vector<budget::CostRecord> records(const budget::RecordQuery& query) const override {
    std::lock_guard lock(mutex);
    last_records = query;
    std::vector<budget::CostRecord> out;
    for (const auto& r : record_list)
      if (query.range.contains(r.at) && out.size() < query.limit) out.push_back(r);
    return out;
  }
  std::vector<budget::SpendGroup> spend(const budget::SpendQuery& query) const override {
    std::lock_guard lock(mutex);
    last_spend = query;
    budget::SpendTally tally(query);
    for (const auto& r : record_list)
      if (query.range.contains(r.at)) tally.add(r);
    return std::move(tally).groups();
  }
  std::string receipts_key() const override { return receipts_pem; }
  void observe_balance(const budget::BalanceObservation&) override {}
  void upstream_result(const std::string&, bool) override {}
  std::vector<budget::BudgetStanding> budgets() const override {
    std::lock_guard lock(mutex);
    std::vector<budget::BudgetStanding> out;
    for (const auto& [name, s] : standings) out.push_back(s);
    return out;
  }
  std::vector<budget::BalanceStanding> balances() const override { return balance_list; }
  std::vector<budget::BreakerStanding> breakers() const override { return breaker_list; }
  bool reset(const std::string& budget, const std::string& key, const std::string& who) override {
    std::lock_guard lock(mutex);
    calls.push_back({"reset", budget, key, who, 0});
    auto it = standings.find(budget);
    if (it == standings.end() || (!key.empty() && it->second.key != key)) return false;
    it->second.spent = 0;
    return true;
  }
  bool set_limit(const std::string& budget, std::int64_t limit, const std::string& who) override {
    std::lock_guard lock(mutex);
    calls.push_back({"set_limit", budget, "", who, limit});
    auto it = standings.find(budget);
    if (it == standings.end()) return false;
    it->second.limit = limit;
    return true;
  }
  bool add_override(const budget::Override& o, const std::string& who) override {
    std::lock_guard lock(mutex);
    calls.push_back({"add_override", o.budget, o.key, who, o.extra});
    overrides.push_back(o);
    return standings.count(o.budget) > 0;
  }
  std::vector<budget::Event> events_since(std::uint64_t id, std::size_t max) const override {
    std::lock_guard lock(mutex);
    std::vector<budget::Event> out;
    for (const auto& e : events)
      if (e.id > id && out.size() < max) out.push_back(e);
    return out;
  }
  void emit(budget::Event event) override {
    std::lock_guard lock(mutex);
    event.id = events.size() + 1;
    events.push_back(std::move(event));
  }
  void on_event(std::function<void(const budget::Event&)>) override {}
  bool store_healthy() const override { return healthy; }
  void recover() override {}

  std::size_t events_of(const std::string& type) const {
    std::lock_guard lock(mutex);
    std::size_t n = 0;
    for (const auto& e : events) n += budget::event_type_name(e.type) == type;
    return n;
  }
};

}  // namespace admin_test
