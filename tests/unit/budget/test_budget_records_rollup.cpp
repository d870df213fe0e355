// The SQLite records' roll-up (budget/store/sqlite_records.hpp): a spend report equals the sum
// of the records kept, counted one by one, whatever the watermark is (nothing rolled up, part of
// it, all of it), for ranges on and off hour and day edges, every grouping and a currency filter;
// pruning keeps that true batch by batch, also when the newest record goes and its seq comes
// again; a kill -9 in the middle of a roll-up leaves the sums and the watermark as they were.
#include <doctest/doctest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include "budget/store/journal.hpp"
#include "budget/store/sqlite_records.hpp"
#include "budget/store/sqlite_statement.hpp"
#include "budget_test_support.hpp"

using namespace budget_test;

namespace {

constexpr std::int64_t k_hour = 3'600'000, k_day = 24 * k_hour;
const std::int64_t k_midnight = 1'795'046'400'000;  // 2026-11-19T00:00:00Z

// The records' file as the journal keeps it: the writer's connection with SqliteRecords on it,
// and a connection of its own for the background work.
struct Store {
  TempDir dir;
  std::string path = (dir.path / "ledger.db").string();
  sqlite3* writer = open(path);
  sqlite3* background = open(path);
  std::unique_ptr<budget::SqliteRecords> records =
      std::make_unique<budget::SqliteRecords>(writer, path, budget::RecordOptions{});

  static sqlite3* open(const std::string& path) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                            nullptr) == SQLITE_OK);
    sqlite3_busy_timeout(db, 2000);
    exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF");
    return db;
  }
  static void exec(sqlite3* db, const char* sql) {
    REQUIRE(sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK);
  }
  ~Store() {
    records.reset();
    sqlite3_close(background);
    sqlite3_close(writer);
  }

  void insert(const std::vector<budget::CostRecord>& batch) {
    records->begin();
    exec(writer, "BEGIN IMMEDIATE");
    for (const auto& r : batch) records->insert(r);
    exec(writer, "COMMIT");
  }
  std::int64_t scalar(const char* sql) const {
    budget::SqliteStatement s(background, sql);
    std::int64_t v = 0;
    if (s.step()) v = s.integer(0);
    while (s.step()) {
    }
    return v;
  }
  std::int64_t watermark() const { return scalar("SELECT seq FROM spend_rolled"); }
  std::vector<budget::CostRecord> kept() const { return records->records({}); }
};

// Times on the edges of hours and days (and a millisecond before them) as often as not.
std::int64_t random_time(std::mt19937& random, std::int64_t from, std::int64_t span) {
  const std::int64_t at = from + static_cast<std::int64_t>(random() % span);
  switch (random() % 6) {
    case 0:
      return at / k_hour * k_hour;
    case 1:
      return at / k_hour * k_hour - 1;
    case 2:
      return at / k_day * k_day;
    case 3:
      return at / k_day * k_day - 1;
    default:
      return at;
  }
}

// Records over 3 days and some hours either side, in no particular order of time.
std::vector<budget::CostRecord> random_records(std::mt19937& random, int n) {
  std::vector<budget::CostRecord> out;
  for (int i = 0; i < n; ++i)
    out.push_back(random_record(
        random, random_time(random, k_midnight - 5 * k_hour, 3 * k_day + 10 * k_hour)));
  return out;
}

using K = budget::SpendKey;
const std::vector<std::vector<K>> k_groupings = {{},
                                                 {K::model},
                                                 {K::client},
                                                 {K::credential},
                                                 {K::budget},
                                                 {K::day},
                                                 {K::hour},
                                                 {K::client, K::credential},
                                                 {K::provider, K::endpoint, K::day},
                                                 {K::hour, K::budget, K::model},
                                                 {K::budget, K::day}};

// Compares `rounds` random reports with the records kept, counted one by one.
void check_reports(const Store& store, std::mt19937& random, int rounds) {
  const auto kept = store.kept();
  for (int round = 0; round < rounds; ++round) {
    budget::SpendQuery q;
    q.group_by = k_groupings[random() % k_groupings.size()];
    const auto bound = [&] {
      return random_time(random, k_midnight - 7 * k_hour, 3 * k_day + 14 * k_hour);
    };
    if (random() % 5) q.range.since = bound();
    if (random() % 5)
      q.range.until = random() % 4 ? q.range.since + (bound() - k_midnight) : bound();
    if (random() % 4 == 0) q.currency = random() % 2 ? "usd" : "eur";
    budget::SpendTally tally(q);
    for (const auto& r : kept)
      if (q.range.contains(r.at) && (q.currency.empty() || r.currency == q.currency)) tally.add(r);
    const auto expected = std::move(tally).groups();
    const auto got = store.records->spend(q);
    INFO("round " << round << " since " << q.range.since << " until " << q.range.until << " groups "
                  << q.group_by.size() << " currency " << q.currency << " watermark "
                  << store.watermark() << " kept " << kept.size());
    REQUIRE((got == expected));
  }
}

}  // namespace

TEST_CASE("SQLite records roll-up: a report equals its records counted one by one, any watermark") {
  Store store;
  std::mt19937 random(11);
  store.insert(random_records(random, 1500));
  CHECK(store.watermark() == 0);
  check_reports(store, random, 150);  // nothing rolled up: records only
  for (int step = 0; step < 6; ++step) {
    CHECK(budget::SqliteRecords::roll_up(store.background, 97 + step * 31) == 97 + step * 31);
    check_reports(store, random, 40);  // part rolled up
    store.insert(random_records(random, 50));
  }
  while (budget::SqliteRecords::roll_up(store.background, 400) > 0) {
  }
  CHECK(store.watermark() == store.scalar("SELECT max(seq) FROM records"));
  check_reports(store, random, 150);  // all rolled up
  // No group comes twice (the sums' keys are the groups' keys, with level and half).
  CHECK(store.scalar("SELECT count(*) FROM spend_sums WHERE requests <= 0") == 0);
  CHECK(store.scalar("SELECT sum(requests) FROM spend_sums WHERE level = 0 AND by_budget = 0") ==
        store.scalar("SELECT count(*) FROM records"));
  CHECK(store.scalar("SELECT sum(requests) FROM spend_sums WHERE level = 1 AND by_budget = 0") ==
        store.scalar("SELECT count(*) FROM records"));
}

TEST_CASE("SQLite records roll-up: pruning keeps the sums equal to the records kept") {
  Store store;
  std::mt19937 random(5);
  store.insert(random_records(random, 1200));
  // One set of prepared statements for every call, as the checkpoint thread keeps them: each
  // statement is used again, by roll-ups and prunes in turn.
  budget::SqliteStatementCache cache(store.background);
  budget::SqliteRecords::roll_up(cache, 700);  // part rolled up, part not
  // Retention moving forward a few hours at a time, in small batches, interleaved with roll-ups
  // and new records: after every transaction the reports match what is kept.
  std::int64_t oldest = k_midnight - 6 * k_hour;
  for (int step = 0; step < 12; ++step) {
    oldest += static_cast<std::int64_t>(random() % (7 * k_hour));
    if (step % 3 == 0) oldest = oldest / k_hour * k_hour;
    while (budget::SqliteRecords::prune(cache, oldest, 60 + step) > 0) {
      check_reports(store, random, 3);
      if (random() % 3 == 0) budget::SqliteRecords::roll_up(cache, 50);
    }
    for (const auto& r : store.kept()) REQUIRE(r.at >= oldest);
    store.insert(random_records(random, 20));
    check_reports(store, random, 20);
    CHECK(store.scalar("SELECT count(*) FROM spend_sums WHERE requests <= 0") == 0);
  }
  // A report over a pruned range counts what is still kept in it: nothing, once pruned.
  budget::SpendQuery before;
  before.range.until = k_midnight - 6 * k_hour;
  while (budget::SqliteRecords::prune(cache, k_midnight - 6 * k_hour, 100) > 0) {
  }
  CHECK(store.records->spend(before).empty());
}

TEST_CASE("SQLite records roll-up: the newest record pruned, its seq comes again and counts") {
  Store store;
  std::mt19937 random(9);
  const std::int64_t old = k_midnight - 40 * k_day;
  std::vector<budget::CostRecord> batch;
  for (int i = 0; i < 30; ++i) batch.push_back(random_record(random, old + i * 1000));
  store.insert(batch);
  while (budget::SqliteRecords::roll_up(store.background, 7) > 0) {
  }
  CHECK(store.watermark() == 30);
  // Everything goes: SQLite numbers the next record 1 again, below the old watermark.
  while (budget::SqliteRecords::prune(store.background, k_midnight - 30 * k_day, 8) > 0) {
  }
  CHECK(store.kept().empty());
  CHECK(store.watermark() == 0);
  CHECK(store.scalar("SELECT count(*) FROM spend_sums") == 0);
  const auto fresh = random_record(random, k_midnight + 5 * k_hour);
  store.insert({fresh});
  CHECK(store.scalar("SELECT max(seq) FROM records") == 1);
  budget::SpendQuery all;
  for (int rolled = 0; rolled < 2; ++rolled) {
    const auto groups = store.records->spend(all);
    REQUIRE(groups.size() == 1);
    CHECK(groups[0].requests == 1);
    CHECK(groups[0].spent == fresh.actual);
    budget::SqliteRecords::roll_up(store.background, 10);
  }
  CHECK(store.watermark() == 1);
  // Only the newest ones pruned (older ones rolled up and kept): the watermark comes down to the
  // largest seq left, and a new record above it counts once.
  std::vector<budget::CostRecord> more;
  for (int i = 0; i < 5; ++i) more.push_back(random_record(random, old + i));
  store.insert(more);  // seq 2..6, all older than the one before
  while (budget::SqliteRecords::roll_up(store.background, 10) > 0) {
  }
  CHECK(store.watermark() == 6);
  while (budget::SqliteRecords::prune(store.background, k_midnight - 30 * k_day, 2) > 0) {
  }
  CHECK(store.watermark() == 1);
  store.insert({random_record(random, k_midnight + 6 * k_hour)});
  CHECK(store.scalar("SELECT max(seq) FROM records") == 2);
  check_reports(store, random, 30);
}

namespace {
void die(sqlite3_context*, int, sqlite3_value**) {
  raise(SIGKILL);
}
}  // namespace

TEST_CASE("SQLite records roll-up: kill -9 in the middle leaves sums and watermark consistent") {
  Store store;
  std::mt19937 random(13);
  store.insert(random_records(random, 900));
  budget::SqliteRecords::roll_up(store.background, 300);
  const auto sums_before = store.scalar("SELECT sum(requests) FROM spend_sums");
  const pid_t child = fork();
  if (child == 0) {
    // The next roll-up dies after writing its sums, before the watermark moves: as if killed
    // between two statements of the transaction.
    sqlite3* db = nullptr;
    sqlite3_open_v2(store.path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
    sqlite3_busy_timeout(db, 2000);
    sqlite3_create_function(db, "die", 0, SQLITE_UTF8, nullptr, die, nullptr, nullptr);
    sqlite3_exec(db,
                 "CREATE TEMP TRIGGER crash BEFORE UPDATE ON main.spend_rolled "
                 "BEGIN SELECT die(); END",
                 nullptr, nullptr, nullptr);
    budget::SqliteRecords::roll_up(db, 400);
    _exit(0);  // not reached
  }
  int status = 0;
  waitpid(child, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  CHECK(store.watermark() == 300);
  CHECK(store.scalar("SELECT sum(requests) FROM spend_sums") == sums_before);
  check_reports(store, random, 40);
  while (budget::SqliteRecords::roll_up(store.background, 400) > 0) {
  }
  CHECK(store.watermark() == 900);
  check_reports(store, random, 40);
}

TEST_CASE("SQLite records: a ledger made before records had a service tier is opened and kept") {
  TempDir dir;
  const std::string path = (dir.path / "ledger.db").string();
  {
    // The records table as it was, with one record in it.
    sqlite3* db = Store::open(path);
    Store::exec(db, R"sql(
CREATE TABLE records (seq INTEGER PRIMARY KEY, id TEXT NOT NULL,
  at INTEGER NOT NULL, provider TEXT NOT NULL, endpoint TEXT NOT NULL, model TEXT NOT NULL,
  client TEXT NOT NULL, credential TEXT NOT NULL, budgets TEXT NOT NULL, currency TEXT NOT NULL,
  estimate INTEGER NOT NULL, actual INTEGER NOT NULL, usage TEXT NOT NULL,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, status INTEGER NOT NULL,
  outcome TEXT NOT NULL, refused_by TEXT NOT NULL, upstream_request_id TEXT NOT NULL,
  ms INTEGER NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL, sig TEXT NOT NULL);
INSERT INTO records VALUES (1, 'r-old', 1795046400000, 'openai', 'chat', 'gpt-5.4', '', 'k1',
  '["daily"]', 'usd', 5000, 4000, '{"input":10}', 10, 0, 200, 'complete', '', 'u1', 12, '',
  'h1', '');
)sql");
    sqlite3_close(db);
  }
  sqlite3* writer = Store::open(path);
  {
    budget::SqliteRecords records(writer, path, budget::RecordOptions{});
    auto before = records.records({});
    REQUIRE(before.size() == 1);
    CHECK(before[0].id == "r-old");
    CHECK(before[0].service_tier.empty());
    CHECK(before[0].actual == 4000);

    std::mt19937 random(3);
    auto r = random_record(random, k_midnight + k_hour);
    r.service_tier = "priority";
    records.begin();
    Store::exec(writer, "BEGIN IMMEDIATE");
    records.insert(r);
    Store::exec(writer, "COMMIT");
    const auto after = records.records({});
    REQUIRE(after.size() == 2);
    CHECK(after[1].id == r.id);
    CHECK(after[1].service_tier == "priority");
    CHECK(after[1].prev == "h1");  // the chain goes on from the old record
  }
  // Opened again: the column is there once, nothing is added twice.
  {
    budget::SqliteRecords again(writer, path, budget::RecordOptions{});
    CHECK(again.records({}).size() == 2);
  }
  sqlite3_close(writer);
}
