#include "budget/store/sqlite_records.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <stdexcept>

#include "budget/store/record_columns.hpp"
#include "rules/json_reader.hpp"

namespace budget {
namespace {

constexpr const char* k_schema = R"sql(
CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, id TEXT NOT NULL,
  at INTEGER NOT NULL, provider TEXT NOT NULL, endpoint TEXT NOT NULL, model TEXT NOT NULL,
  client TEXT NOT NULL, credential TEXT NOT NULL, budgets TEXT NOT NULL, currency TEXT NOT NULL,
  estimate INTEGER NOT NULL, actual INTEGER NOT NULL, usage TEXT NOT NULL,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, status INTEGER NOT NULL,
  outcome TEXT NOT NULL, refused_by TEXT NOT NULL, upstream_request_id TEXT NOT NULL,
  ms INTEGER NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL, sig TEXT NOT NULL,
  service_tier TEXT NOT NULL DEFAULT '');
-- By time, with the costs and currency in the index: a top-N by cost over a range reads only the index
-- (no row) and then the N rows it picked. (Replaces records_at (at), of which it is a superset.)
CREATE INDEX IF NOT EXISTS records_at_cost ON records (at, actual, estimate, currency);
DROP INDEX IF EXISTS records_at;
-- The records up to spend_rolled.seq, summed per group: level 0 per hour, 1 per day (start: its
-- first unix second, UTC); by_budget 0 counts each record once, 1 once per budget instance it was
-- charged in ('' when none), for reports grouped by budget. A report reads one level of one half.
CREATE TABLE IF NOT EXISTS spend_sums (level INTEGER NOT NULL, by_budget INTEGER NOT NULL,
  start INTEGER NOT NULL, budget TEXT NOT NULL, provider TEXT NOT NULL, endpoint TEXT NOT NULL,
  model TEXT NOT NULL, client TEXT NOT NULL, credential TEXT NOT NULL, currency TEXT NOT NULL,
  requests INTEGER NOT NULL, refused INTEGER NOT NULL, spent INTEGER NOT NULL,
  estimated INTEGER NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
  PRIMARY KEY (level, by_budget, start, budget, provider, endpoint, model, client, credential,
    currency)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS spend_rolled (id INTEGER PRIMARY KEY CHECK (id = 1),
  seq INTEGER NOT NULL);
INSERT OR IGNORE INTO spend_rolled (id, seq) VALUES (1, 0);
-- The sums kept per hour in the settlement's transaction before the roll-up: the roll-up starts
-- from the first record kept (watermark 0) and rebuilds them.
DROP TABLE IF EXISTS spend_hours;
)sql";

constexpr const char* k_columns =
    "id, at, provider, endpoint, model, client, credential, budgets, currency, estimate, actual, "
    "usage, status, outcome, refused_by, upstream_request_id, ms, prev, hash, sig, service_tier";

constexpr std::int64_t k_hour_ms = 3'600'000;
// Far enough for any record, small enough that hour arithmetic cannot overflow.
constexpr std::int64_t k_far_ms = std::int64_t{1} << 52;

// The columns' JSON, written through a writer of this thread's kept from one row to the next.
rules::ReusableJsonWriter& column_writer() {
  thread_local rules::ReusableJsonWriter writer;
  return writer;
}

std::string budgets_text(const std::vector<std::string>& budgets) {
  rules::ReusableJsonWriter& writer = column_writer();
  auto& out = writer.start();
  out.StartArray();
  for (const auto& b : budgets) out.String(b.data(), static_cast<rapidjson::SizeType>(b.size()));
  out.EndArray();
  return writer.text();
}

std::string usage_text(const Usage& usage) {
  rules::ReusableJsonWriter& writer = column_writer();
  auto& out = writer.start();
  out.StartObject();
  for (const auto& [name, count] : usage) {
    out.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    out.Int64(count);
  }
  out.EndObject();
  return writer.text();
}

// Our own columns, written by budgets_text and usage_text: read without the network's guards.
std::vector<std::string> parse_budgets(std::string_view text) {
  std::vector<std::string> out;
  for_each_budget(text, [&out](std::string_view b) { out.emplace_back(b); });
  return out;
}

Usage parse_usage(const std::string& text) {
  Usage out;
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.IsObject())
    for (const auto& m : doc.GetObject())
      if (m.value.IsInt64())
        out.emplace_back(std::string(m.name.GetString(), m.name.GetStringLength()),
                         m.value.GetInt64());
  return out;
}

CostRecord read_record(const SqliteStatement& row) {
  CostRecord r;
  r.id = row.text(0);
  r.at = row.integer(1);
  r.provider = row.text(2);
  r.endpoint = row.text(3);
  r.model = row.text(4);
  r.client = row.text(5);
  r.credential = row.text(6);
  r.budgets = parse_budgets(row.text(7));
  r.currency = row.text(8);
  r.estimate = row.integer(9);
  r.actual = row.integer(10);
  r.usage = parse_usage(row.text(11));
  r.status = static_cast<int>(row.integer(12));
  r.outcome = parse_outcome(row.text(13)).value_or(RecordOutcome::complete);
  r.refused_by = row.text(14);
  r.upstream_request_id = row.text(15);
  r.ms = row.integer(16);
  r.prev = row.text(17);
  r.hash = row.text(18);
  r.sig = row.text(19);
  r.service_tier = row.text(20);
  return r;
}

// The SQL expression of `key` over spend_sums, and over records (joined with its budgets as j).
std::string sums_expr(SpendKey key) {
  switch (key) {
    case SpendKey::day:
      return "start / 86400 * 86400";
    case SpendKey::hour:
      return "start";
    default:
      return std::string(spend_key_name(key));
  }
}

std::string records_expr(SpendKey key) {
  switch (key) {
    case SpendKey::day:
      return "at / 86400000 * 86400";
    case SpendKey::hour:
      return "at / 3600000 * 3600";
    case SpendKey::budget:
      return "coalesce(j.value, '')";
    default:
      return std::string(spend_key_name(key));
  }
}

}  // namespace

SqliteRecords::SqliteRecords(sqlite3* db, std::string path, const RecordOptions& options)
    : path_(std::move(path)), chain_(options.key, "") {
  char* error = nullptr;
  if (sqlite3_exec(db, k_schema, nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    throw std::runtime_error("sqlite: " + message);
  }
  {
    // A ledger made before records had a service tier gets the column (empty for those).
    bool has_tier = false;
    SqliteStatement columns(db, "SELECT name FROM pragma_table_info('records')");
    while (columns.step()) has_tier = has_tier || columns.text(0) == "service_tier";
    if (!has_tier &&
        sqlite3_exec(db, "ALTER TABLE records ADD COLUMN service_tier TEXT NOT NULL DEFAULT ''",
                     nullptr, nullptr, &error) != SQLITE_OK) {
      const std::string message = error ? error : "unknown error";
      sqlite3_free(error);
      throw std::runtime_error("sqlite: " + message);
    }
  }
  {
    SqliteStatement last(db, "SELECT hash FROM records ORDER BY seq DESC LIMIT 1");
    if (last.step()) {
      chain_.rewind(last.text(0));
      while (last.step()) {
      }
    }
  }
  committed_hash_ = chain_.last_hash();
  insert_ = std::make_unique<SqliteStatement>(
      db,
      "INSERT INTO records (id, at, provider, endpoint, model, client, credential, budgets, "
      "currency, estimate, actual, usage, input_tokens, output_tokens, status, outcome, "
      "refused_by, upstream_request_id, ms, prev, hash, sig, service_tier) VALUES (?1, ?2, ?3, "
      "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, "
      "?23)");
}

SqliteRecords::~SqliteRecords() {
  insert_.reset();
  sqlite3_close(reader_);
}

void SqliteRecords::insert(CostRecord r) {
  chain_.link(r);
  insert_->bind_view(1, r.id)
      .bind(2, r.at)
      .bind_view(3, r.provider)
      .bind_view(4, r.endpoint)
      .bind_view(5, r.model)
      .bind_view(6, r.client)
      .bind_view(7, r.credential)
      .bind_view(8, budgets_text(r.budgets))
      .bind_view(9, r.currency)
      .bind(10, r.estimate)
      .bind(11, r.actual)
      .bind_view(12, usage_text(r.usage))
      .bind(13, r.input_tokens())
      .bind(14, r.output_tokens())
      .bind(15, static_cast<std::int64_t>(r.status))
      .bind_view(16, outcome_name(r.outcome))
      .bind_view(17, r.refused_by)
      .bind_view(18, r.upstream_request_id)
      .bind(19, r.ms)
      .bind_view(20, r.prev)
      .bind_view(21, r.hash)
      .bind_view(22, r.sig)
      .bind_view(23, r.service_tier)
      .run();
}

sqlite3* SqliteRecords::reader() const {
  if (reader_) return reader_;
  if (sqlite3_open_v2(path_.c_str(), &reader_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    sqlite3_close(reader_);
    reader_ = nullptr;
    throw std::runtime_error("cannot read the records in " + path_);
  }
  sqlite3_busy_timeout(reader_, 2000);
  return reader_;
}

std::vector<CostRecord> SqliteRecords::records(const RecordQuery& query) const {
  std::lock_guard lock(read_mutex_);
  std::string sql = std::string("SELECT ") + k_columns +
                    " FROM records WHERE at >= ?1 AND at < ?2 AND (?3 = '' OR currency = ?3)";
  if (query.order == RecordQuery::Order::cost) {
    // The top N picked from records_at_cost alone, then read: over a month of a million records
    // a scan of the index, not of the table.
    constexpr const char* k_order = " ORDER BY actual DESC, estimate DESC, seq";
    sql = std::string("SELECT ") + k_columns +
          " FROM records WHERE seq IN (SELECT seq FROM records WHERE at >= ?1 AND at < ?2 AND "
          "(?3 = '' OR currency = ?3)" +
          k_order + " LIMIT ?4)" + k_order;
  } else {
    sql += " ORDER BY seq LIMIT ?4";
  }
  SqliteStatement select(reader(), sql.c_str());
  select.bind(1, query.range.since)
      .bind(2, query.range.until)
      .bind(3, query.currency)
      .bind(4, static_cast<std::int64_t>(
                   std::min<std::size_t>(query.limit, std::numeric_limits<std::int64_t>::max())));
  std::vector<CostRecord> out;
  while (select.step()) out.push_back(read_record(select));
  return out;
}

std::vector<SpendGroup> SqliteRecords::spend(const SpendQuery& query) const {
  const auto has = [&](SpendKey key) {
    return std::find(query.group_by.begin(), query.group_by.end(), key) != query.group_by.end();
  };
  const bool by_budget = has(SpendKey::budget);
  std::string keys, sums_keys, records_keys;
  for (std::size_t i = 0; i < query.group_by.size(); ++i) {
    std::string name = "k";  // (not "k" + ...: GCC 12 warns falsely of overlapping copies)
    name += std::to_string(i);
    keys += name + ", ";
    sums_keys += sums_expr(query.group_by[i]) + " AS " + name + ", ";
    records_keys += records_expr(query.group_by[i]) + " AS " + name + ", ";
  }
  // [since, until) in pieces: whole days from the daily sums, whole hours around them from the
  // hourly sums (records rolled up so far), and records for the partial hours at either end and
  // for what was kept after the last roll-up.
  const std::int64_t since = std::clamp<std::int64_t>(query.range.since, 0, k_far_ms);
  const std::int64_t until = std::clamp<std::int64_t>(query.range.until, since, k_far_ms);
  std::int64_t h0 = (since + k_hour_ms - 1) / k_hour_ms * 3600, h1 = until / k_hour_ms * 3600;
  std::int64_t d0 = (h0 + 86'399) / 86'400 * 86'400, d1 = h1 / 86'400 * 86'400;
  std::int64_t h0_ms = h0 * 1000, h1_ms = h1 * 1000;
  if (h0 >= h1) {  // no whole hour: records only
    h0 = h1 = d0 = d1 = 0;
    h0_ms = h1_ms = until;
  }
  // Days cannot say which hour: grouped by hour, every whole hour comes from the hourly sums.
  if (d0 >= d1 || has(SpendKey::hour)) d0 = d1 = h1;
  const std::string join = by_budget ? " LEFT JOIN json_each(records.budgets) AS j" : "";
  const std::string currency = " AND (?10 = '' OR currency = ?10)";
  const std::string sums = "SELECT " + sums_keys +
                           "currency, requests, refused, spent, estimated, input_tokens, "
                           "output_tokens FROM spend_sums WHERE by_budget = ?1 AND ";
  const std::string records =
      "SELECT " + records_keys +
      "currency, 1 AS requests, outcome = 'refused' AS refused, actual AS spent, "
      "CASE WHEN outcome = 'refused' THEN 0 ELSE estimate END AS estimated, input_tokens, "
      "output_tokens FROM records" +
      join + " WHERE ";
  const std::string sql =
      "SELECT " + keys +
      "currency, sum(requests), sum(refused), sum(spent), sum(estimated), sum(input_tokens), "
      "sum(output_tokens) FROM (" +
      sums + "level = 1 AND start >= ?4 AND start < ?5" + currency + " UNION ALL " + sums +
      "level = 0 AND start >= ?2 AND start < ?4" + currency + " UNION ALL " + sums +
      "level = 0 AND start >= ?5 AND start < ?3" + currency + " UNION ALL " + records +
      "at >= ?6 AND at < ?7" + currency + " UNION ALL " + records + "at >= ?8 AND at < ?9" +
      currency +
      // Past the watermark, by seq (+at: not by the time index, which would read the whole range).
      (h0_ms < h1_ms ? " UNION ALL " + records +
                           "seq > (SELECT seq FROM spend_rolled WHERE id = 1) AND +at >= ?7 AND "
                           "+at < ?8" +
                           currency
                     : std::string()) +
      ") GROUP BY " + keys + "currency";
  std::lock_guard lock(read_mutex_);
  SqliteStatement select(reader(), sql.c_str());
  select.bind(1, std::int64_t{by_budget ? 1 : 0})
      .bind(2, h0)
      .bind(3, h1)
      .bind(4, d0)
      .bind(5, d1)
      .bind(6, since)
      .bind(7, h0_ms)
      .bind(8, h1_ms)
      .bind(9, until)
      .bind(10, query.currency);
  std::vector<SpendGroup> out;
  const int n = static_cast<int>(query.group_by.size());
  while (select.step()) {
    SpendGroup g;
    for (int i = 0; i < n; ++i) {
      const SpendKey key = query.group_by[i];
      g.keys.push_back(key == SpendKey::day || key == SpendKey::hour
                           ? time_key(key, select.integer(i))
                           : select.text(i));
    }
    g.currency = select.text(n);
    g.requests = select.integer(n + 1);
    g.refused = select.integer(n + 2);
    g.spent = select.integer(n + 3);
    g.estimated = select.integer(n + 4);
    g.input_tokens = select.integer(n + 5);
    g.output_tokens = select.integer(n + 6);
    out.push_back(std::move(g));
  }
  sort_groups(out);
  return out;
}

}  // namespace budget
