// The SQLite journal's records: spend from the hourly sums plus the partial hours equals spend
// counted record by record, for any range; retention prunes records and sums in the background;
// kill -9 never leaves a settlement without its record or a record without its settlement.
#include <doctest/doctest.h>

#include <random>
#include <thread>

#include "budget/store/journal.hpp"
#include "budget/store/sqlite_journal.hpp"
#include "budget_test_support.hpp"

using namespace budget_test;
using Kind = rules::Period::Kind;

namespace {

constexpr std::int64_t k_hour = 3'600'000;
const std::int64_t k_start = 1'795'000'000'000;  // 2026-11-18T11:06:40Z

void write(budget::Journal& journal, budget::Mutation mutation) {
  std::promise<bool> p;
  auto f = p.get_future();
  journal.write(std::move(mutation), [&p](bool durable) { p.set_value(durable); });
  REQUIRE(f.get());
}

}  // namespace

TEST_CASE("SQLite records, spend from hourly sums equals spend counted record by record") {
  TempDir dir;
  ManualClock clock(TimePoint{std::chrono::milliseconds(k_start + 10 * k_hour)});
  budget::RecordOptions options;
  options.clock = &clock;
  auto journal = budget::make_sqlite_journal((dir.path / "ledger.db").string(), options);
  std::mt19937 random(7);
  std::vector<budget::CostRecord> all;
  for (int i = 0; i < 400; ++i) {
    auto r = random_record(random, k_start + static_cast<std::int64_t>(random() % (6 * k_hour)));
    all.push_back(r);
    write(*journal, budget::AddRecord{r});
  }
  using K = budget::SpendKey;
  const std::vector<std::vector<K>> groupings = {{},
                                                 {K::model},
                                                 {K::client, K::credential},
                                                 {K::budget},
                                                 {K::provider, K::endpoint, K::day},
                                                 {K::hour, K::budget, K::model}};
  for (int round = 0; round < 60; ++round) {
    budget::SpendQuery q;
    q.group_by = groupings[round % groupings.size()];
    if (round % 3)
      q.range.since = k_start - k_hour + static_cast<std::int64_t>(random() % (8 * k_hour));
    if (round % 4)
      q.range.until = q.range.since + static_cast<std::int64_t>(random() % (4 * k_hour));
    if (round % 5 == 0) q.currency = "usd";
    budget::SpendTally tally(q);
    for (const auto& r : all)
      if (q.range.contains(r.at) && (q.currency.empty() || r.currency == q.currency)) tally.add(r);
    const auto expected = std::move(tally).groups();
    const auto got = journal->spend(q);
    INFO("round " << round << " since " << q.range.since << " until " << q.range.until);
    CHECK((got == expected));
  }
  SUBCASE("records come back as written, in the order kept") {
    const auto back = journal->records({});
    REQUIRE(back.size() == all.size());
    for (std::size_t i = 0; i < all.size(); ++i) {
      CHECK(back[i].id == all[i].id);
      CHECK(back[i].budgets == all[i].budgets);
      CHECK(back[i].usage == all[i].usage);
      if (i) CHECK(back[i].prev == back[i - 1].hash);
    }
  }
}

TEST_CASE("SQLite records, pruned past retention in the background") {
  TempDir dir;
  ManualClock clock(TimePoint{std::chrono::milliseconds(k_start)});
  budget::RecordOptions options;
  options.clock = &clock;
  options.retention = std::chrono::hours(24);
  options.prune_every = std::chrono::milliseconds(0);
  auto journal = budget::make_sqlite_journal((dir.path / "ledger.db").string(), options);
  std::mt19937 random(3);
  for (int i = 0; i < 1200; ++i)
    write(*journal, budget::AddRecord{random_record(random, k_start - 48 * k_hour + i)});
  write(*journal, budget::AddRecord{random_record(random, k_start - k_hour)});
  // The checkpoint thread prunes every half second.
  for (int i = 0; i < 100 && journal->records({}).size() > 1; ++i)
    std::this_thread::sleep_for(50ms);
  CHECK(journal->records({}).size() == 1);
  budget::SpendQuery q;
  const auto groups = journal->spend(q);
  REQUIRE(groups.size() == 1);
  CHECK(groups[0].requests == 1);
}

TEST_CASE("SQLite records, after kill -9 the records and the ledger agree exactly") {
  TempDir dir;
  auto config = base_config();
  config->store.type = rules::StoreConfig::Type::sqlite;
  config->store.path = (dir.path / "ledger.db").string();
  config->data_dir = dir.path.string();
  config->budgets = {budget_config("total", 1'000'000 * k_usd, Kind::total),
                     budget_config("per-client", 1'000'000 * k_usd, Kind::total, "client")};
  const pid_t child = fork();
  if (child == 0) {
    // Settles as fast as it can, several threads, until killed.
    auto e = budget::make_enforcer(config);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&e, t] {
        for (int i = 0;; ++i) {
          const auto a = admit(*e, openai(3000, "client-" + std::to_string(t)));
          if (i % 3) settle(*e, a.hold, 1000 + i % 777);
        }
      });
    for (auto& th : threads) th.join();
    _exit(0);
  }
  std::this_thread::sleep_for(700ms);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);

  ManualClock clock;
  auto e = budget::make_enforcer(config, clock);
  e->recover();  // holds left open: settled at their estimate, recorded as expired
  const auto records = all_records(*e);
  REQUIRE(records.size() > 10);
  std::map<std::string, std::int64_t> by_budget;
  for (const auto& r : records)
    for (const auto& b : r.budgets) by_budget[b] += r.actual;
  CHECK(by_budget["total"] == standing(*e, "total").spent);
  for (int t = 0; t < 4; ++t) {
    const std::string key = "client-" + std::to_string(t);
    CHECK(by_budget["per-client/" + key] == standing(*e, "per-client", key).spent);
  }
  std::size_t expired = 0;
  for (const auto& r : records) expired += r.outcome == budget::RecordOutcome::expired;
  MESSAGE(records.size() << " records, " << expired << " expired at restart");
}
