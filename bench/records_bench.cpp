// Spend reports over a month of cost records (DESIGN §13: 30 days of 1M records in under 1 s):
// fills a SQLite ledger through the journal, as the proxy writes it, with N records spread evenly
// over 30 days (5 models of 3 providers, 20 clients with 25 keys, 2 budgets each), then
// times the queries behind GET /v1/spend and GET /v1/records, each run several times (median):
//   1. all records rolled up into the daily and hourly sums (the steady state);
//   2. nothing rolled up (sums emptied, watermark 0: every report counts the records themselves,
//      the worst case, e.g. right after an upgrade), checked to give the same groups as 1;
//   3. the roll-up of all of them again from the watermark 0, in the journal's batches of 250
//      records: the time of each batch is the longest a commit waits for the roll-up.
//
//   records_bench [--records N] [--file PATH] [--runs R] [--batch B]
//
// With --file naming an existing ledger of records, the fill is skipped.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <random>
#include <string>
#include <vector>

#include "budget/enforcer.hpp"
#include "budget/store/journal.hpp"
#include "budget/store/sqlite_journal.hpp"
#include "budget/store/sqlite_records.hpp"
#include "budget/store/sqlite_statement.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::int64_t k_day_ms = 86'400'000;

class FixedClock final : public budget::Clock {
 public:
  explicit FixedClock(budget::TimePoint at) : at_(at) {}
  budget::TimePoint now() const override { return at_; }

 private:
  budget::TimePoint at_;
};

// As traffic looks: a model belongs to one provider, a provider serves two endpoints, a client
// uses one or two keys. About 200 combinations of model, endpoint, client and key an hour.
budget::CostRecord make_record(std::mt19937_64& random, std::int64_t at) {
  static const char* models[] = {"gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5", "gemini-2.0-flash",
                                 "gpt-4.1-mini"};
  static const char* providers[] = {"openai", "openai", "anthropic", "gemini", "openai"};
  static const char* endpoints[][2] = {{"chat", "responses"},
                                       {"chat", "responses"},
                                       {"messages", "count_tokens"},
                                       {"generate", "stream_generate"},
                                       {"chat", "responses"}};
  budget::CostRecord r;
  const std::size_t model = random() % 5, client = random() % 20;
  r.id = budget::new_record_id();
  r.at = at;
  r.model = models[model];
  r.provider = providers[model];
  r.endpoint = endpoints[model][random() % 8 == 0 ? 1 : 0];
  r.client = "client-" + std::to_string(client);
  r.credential = "key" + std::to_string((client + random() % 2 * 7) % 25) + "0123456789ab";
  r.budgets = {"daily", "per-client/" + r.client};
  r.currency = "usd";
  r.estimate = 1000 + static_cast<std::int64_t>(random() % 90'000);
  r.outcome = random() % 50 ? budget::RecordOutcome::complete : budget::RecordOutcome::refused;
  r.actual = r.outcome == budget::RecordOutcome::refused ? 0 : r.estimate / 3;
  r.usage = {{"input", static_cast<std::int64_t>(random() % 4000)},
             {"output", static_cast<std::int64_t>(random() % 800)}};
  r.status = r.outcome == budget::RecordOutcome::refused ? 429 : 200;
  r.upstream_request_id = "req_" + r.id;
  r.ms = static_cast<std::int64_t>(random() % 3000);
  return r;
}

double median_ms(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename F>
double time_ms(int runs, F&& f) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto start = Clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  return median_ms(std::move(ms));
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t records = 1'000'000;
  std::string file;
  int runs = 5;
  std::int64_t batch = 250;  // records a roll-up transaction, as the journal's
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--records") records = std::atoll(argv[i + 1]);
    if (flag == "--file") file = argv[i + 1];
    if (flag == "--runs") runs = std::atoi(argv[i + 1]);
    if (flag == "--batch") batch = std::atoll(argv[i + 1]);
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress as it comes, also into a file
  const bool temporary = file.empty();
  if (temporary)
    file = (std::filesystem::temp_directory_path() /
            ("tollgate-records-bench-" + std::to_string(::getpid()) + ".db"))
               .string();
  const bool fill = !std::filesystem::exists(file);

  // "Now" is the end of the month of records, so that since=30d covers all of them.
  const std::int64_t end_ms = 1'795'000'000'000;
  FixedClock clock(budget::TimePoint{std::chrono::milliseconds(end_ms)});
  budget::RecordOptions options;
  options.clock = &clock;
  options.retention = std::chrono::hours(24 * 365);
  auto journal = budget::make_sqlite_journal(file, options);

  if (fill) {
    std::mt19937_64 random(42);
    const auto start = Clock::now();
    const std::int64_t span = 30 * k_day_ms;
    constexpr std::int64_t k_chunk = 20'000;
    for (std::int64_t i = 0; i < records; i += k_chunk) {
      std::promise<void> chunk_done;
      const std::int64_t n = std::min(k_chunk, records - i);
      for (std::int64_t j = 0; j < n; ++j) {
        const std::int64_t at = end_ms - span + (i + j) * span / records;
        std::function<void(bool)> done;
        if (j == n - 1) done = [&chunk_done](bool) { chunk_done.set_value(); };
        journal->write(budget::AddRecord{make_record(random, at)}, std::move(done));
      }
      chunk_done.get_future().get();  // journal writes complete in order
    }
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("filled %lld records over 30 days in %.1f s (%.0f records/s through the journal)\n",
                static_cast<long long>(records), s, records / s);
  }
  std::printf("file: %s (%.0f MiB)\n", file.c_str(), std::filesystem::file_size(file) / 1048576.0);

  journal.reset();  // its background roll-up stops: what follows controls the watermark

  sqlite3* db = nullptr;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) return 1;
  sqlite3_busy_timeout(db, 5000);
  auto store = std::make_unique<budget::SqliteRecords>(db, file, options);

  using K = budget::SpendKey;
  struct Case {
    const char* name;
    std::vector<K> group_by;
    std::int64_t since_ms, until_ms;
  };
  // A since that is not on an hour, as "30d" or "24h" from a real clock never is.
  const std::int64_t month = end_ms - 30 * k_day_ms - 1234, day = end_ms - k_day_ms - 1234;
  const std::int64_t never = std::numeric_limits<std::int64_t>::max();
  const std::vector<Case> cases = {
      {"group_by=model&since=30d", {K::model}, month, never},
      {"group_by=client&since=30d", {K::client}, month, never},
      {"group_by=credential&since=30d", {K::credential}, month, never},
      {"group_by=budget&since=30d", {K::budget}, month, never},
      {"group_by=day&since=30d", {K::day}, month, never},
      {"group_by=hour&since=30d", {K::hour}, month, never},
      {"group_by=model,client,day&since=30d", {K::model, K::client, K::day}, month, never},
      {"group_by=model&since=24h", {K::model}, day, never},
      // Two partial hours and no whole one: records only.
      {"group_by=model&since=-90min&until=-40min",
       {K::model},
       end_ms - 5'400'000 - 777,
       end_ms - 2'400'000 + 555},
  };
  std::vector<std::vector<budget::SpendGroup>> results(cases.size());
  const auto run_reports = [&](const char* title, int n) {
    std::printf("\n%s\n\n| GET /v1/spend? | groups | median ms (%d runs) |\n|---|---:|---:|\n",
                title, n);
    for (std::size_t i = 0; i < cases.size(); ++i) {
      budget::SpendQuery q;
      q.group_by = cases[i].group_by;
      q.range.since = cases[i].since_ms;
      q.range.until = cases[i].until_ms;
      const double ms = time_ms(n, [&] { results[i] = store->spend(q); });
      std::printf("| `%s` | %zu | %.1f |\n", cases[i].name, results[i].size(), ms);
    }
  };
  const auto exec = [db](const char* sql) { sqlite3_exec(db, sql, nullptr, nullptr, nullptr); };
  const auto count = [db](const char* sql) {
    budget::SqliteStatement s(db, sql);
    std::int64_t v = s.step() ? s.integer(0) : 0;
    while (s.step()) {
    }
    return v;
  };

  // 1. Everything rolled up (the fill's background roll-up may have left a few behind).
  while (budget::SqliteRecords::roll_up(db, batch) > 0) {
  }
  std::printf("\nspend_sums: %lld rows for %lld records\n",
              static_cast<long long>(count("SELECT count(*) FROM spend_sums")),
              static_cast<long long>(count("SELECT count(*) FROM records")));
  run_reports("**All records rolled up** (watermark = last record)", runs);
  const auto rolled = results;

  budget::RecordQuery top;
  top.range.since = month;
  top.order = budget::RecordQuery::Order::cost;
  top.limit = 10;
  const double top_ms = time_ms(runs, [&] { store->records(top); });
  std::printf("| `/v1/records?order=cost&limit=10&since=30d` | 10 | %.1f |\n", top_ms);
  budget::RecordQuery latest;
  latest.range.since = end_ms - 3'600'000;
  latest.limit = 1000;
  std::size_t n = 0;
  const double latest_ms = time_ms(runs, [&] { n = store->records(latest).size(); });
  std::printf("| `/v1/records?since=1h&limit=1000` | %zu | %.1f |\n", n, latest_ms);

  // 2. Nothing rolled up.
  exec("BEGIN IMMEDIATE; DELETE FROM spend_sums; UPDATE spend_rolled SET seq = 0; COMMIT");
  run_reports("**Nothing rolled up** (watermark 0, no sums: records only)", std::min(runs, 3));
  bool identical = true;
  for (std::size_t i = 0; i < cases.size(); ++i) identical = identical && results[i] == rolled[i];
  std::printf("\nsame groups and sums as when rolled up: %s\n", identical ? "yes" : "NO");

  // 3. The roll-up again, batch by batch.
  std::vector<double> batch_ms;
  const auto start = Clock::now();
  for (;;) {
    const auto t = Clock::now();
    const std::int64_t added = budget::SqliteRecords::roll_up(db, batch);
    if (added == 0) break;
    batch_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
  }
  const double total_s = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(batch_ms.begin(), batch_ms.end());
  if (!batch_ms.empty())
    std::printf(
        "\nroll-up of all records from watermark 0: %.1f s, %zu batches of %lld records; per "
        "batch (one transaction) median %.1f ms, p99 %.1f ms, max %.1f ms\n",
        total_s, batch_ms.size(), static_cast<long long>(batch), batch_ms[batch_ms.size() / 2],
        batch_ms[batch_ms.size() * 99 / 100], batch_ms.back());
  run_reports("**Rolled up again**", runs);
  identical = true;
  for (std::size_t i = 0; i < cases.size(); ++i) identical = identical && results[i] == rolled[i];
  std::printf("\nsame groups and sums as before: %s\n", identical ? "yes" : "NO");

  store.reset();
  sqlite3_close(db);
  if (temporary) {
    std::filesystem::remove(file);
    std::filesystem::remove(file + "-wal");
    std::filesystem::remove(file + "-shm");
  }
  return 0;
}
