#include "budget/store/sqlite_records.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <stdexcept>

namespace budget {
namespace {

constexpr const char* k_schema = R"sql(
CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, id TEXT NOT NULL,
  at INTEGER NOT NULL, provider TEXT NOT NULL, endpoint TEXT NOT NULL, model TEXT NOT NULL,
  client TEXT NOT NULL, credential TEXT NOT NULL, budgets TEXT NOT NULL, currency TEXT NOT NULL,
  estimate INTEGER NOT NULL, actual INTEGER NOT NULL, usage TEXT NOT NULL,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, status INTEGER NOT NULL,
  outcome TEXT NOT NULL, refused_by TEXT NOT NULL, upstream_request_id TEXT NOT NULL,
  ms INTEGER NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL, sig TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS records_at ON records (at);
-- One row per hour and group; by_budget 0: each record once, 1: once per budget instance it was
-- charged in ('' when none), for reports grouped by budget.
CREATE TABLE IF NOT EXISTS spend_hours (hour INTEGER NOT NULL, by_budget INTEGER NOT NULL,
  budget TEXT NOT NULL, provider TEXT NOT NULL, endpoint TEXT NOT NULL, model TEXT NOT NULL,
  client TEXT NOT NULL, credential TEXT NOT NULL, currency TEXT NOT NULL,
  requests INTEGER NOT NULL, refused INTEGER NOT NULL, spent INTEGER NOT NULL,
  estimated INTEGER NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
  PRIMARY KEY (hour, by_budget, budget, provider, endpoint, model, client, credential, currency))
  WITHOUT ROWID;
)sql";

constexpr const char* k_columns =
    "id, at, provider, endpoint, model, client, credential, budgets, currency, estimate, actual, "
    "usage, status, outcome, refused_by, upstream_request_id, ms, prev, hash, sig";

constexpr std::int64_t k_hour_ms = 3'600'000;
// Far enough for any record, small enough that hour arithmetic cannot overflow.
constexpr std::int64_t k_far_ms = std::int64_t{1} << 52;

std::string budgets_text(const std::vector<std::string>& budgets) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> out(buffer);
  out.StartArray();
  for (const auto& b : budgets) out.String(b.data(), static_cast<rapidjson::SizeType>(b.size()));
  out.EndArray();
  return {buffer.GetString(), buffer.GetSize()};
}

std::string usage_text(const Usage& usage) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> out(buffer);
  out.StartObject();
  for (const auto& [name, count] : usage) {
    out.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    out.Int64(count);
  }
  out.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

// Our own columns, written by budgets_text and usage_text: read without the network's guards.
std::vector<std::string> parse_budgets(const std::string& text) {
  std::vector<std::string> out;
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.IsArray())
    for (const auto& b : doc.GetArray())
      if (b.IsString()) out.emplace_back(b.GetString(), b.GetStringLength());
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
  return r;
}

// The SQL expression of `key` over spend_hours, and over records (joined with its budgets as j).
std::string hours_expr(SpendKey key) {
  switch (key) {
    case SpendKey::day:
      return "hour / 86400 * 86400";
    case SpendKey::hour:
      return "hour";
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
      "refused_by, upstream_request_id, ms, prev, hash, sig) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
      "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)");
  add_hour_ = std::make_unique<SqliteStatement>(
      db,
      "INSERT INTO spend_hours (hour, by_budget, budget, provider, endpoint, model, client, "
      "credential, currency, requests, refused, spent, estimated, input_tokens, output_tokens) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10, ?11, ?12, ?13, ?14) "
      "ON CONFLICT DO UPDATE SET requests = requests + 1, refused = refused + ?10, "
      "spent = spent + ?11, estimated = estimated + ?12, input_tokens = input_tokens + ?13, "
      "output_tokens = output_tokens + ?14");
}

SqliteRecords::~SqliteRecords() {
  insert_.reset();
  add_hour_.reset();
  sqlite3_close(reader_);
}

void SqliteRecords::insert(CostRecord r) {
  chain_.link(r);
  const std::int64_t input = r.input_tokens(), output = r.output_tokens();
  const bool refused = r.outcome == RecordOutcome::refused;
  insert_->bind(1, r.id)
      .bind(2, r.at)
      .bind(3, r.provider)
      .bind(4, r.endpoint)
      .bind(5, r.model)
      .bind(6, r.client)
      .bind(7, r.credential)
      .bind(8, budgets_text(r.budgets))
      .bind(9, r.currency)
      .bind(10, r.estimate)
      .bind(11, r.actual)
      .bind(12, usage_text(r.usage))
      .bind(13, input)
      .bind(14, output)
      .bind(15, static_cast<std::int64_t>(r.status))
      .bind(16, std::string(outcome_name(r.outcome)))
      .bind(17, r.refused_by)
      .bind(18, r.upstream_request_id)
      .bind(19, r.ms)
      .bind(20, r.prev)
      .bind(21, r.hash)
      .bind(22, r.sig)
      .run();
  const auto add_hour = [&](std::int64_t by_budget, const std::string& budget) {
    add_hour_->bind(1, r.at / k_hour_ms * 3600)
        .bind(2, by_budget)
        .bind(3, budget)
        .bind(4, r.provider)
        .bind(5, r.endpoint)
        .bind(6, r.model)
        .bind(7, r.client)
        .bind(8, r.credential)
        .bind(9, r.currency)
        .bind(10, std::int64_t{refused ? 1 : 0})
        .bind(11, r.actual)
        .bind(12, refused ? 0 : r.estimate)
        .bind(13, input)
        .bind(14, output)
        .run();
  };
  add_hour(0, "");
  if (r.budgets.empty()) add_hour(1, "");
  for (const auto& b : r.budgets) add_hour(1, b);
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
  sql += query.order == RecordQuery::Order::cost ? " ORDER BY actual DESC, estimate DESC, seq"
                                                 : " ORDER BY seq";
  sql += " LIMIT ?4";
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
  const bool by_budget = std::find(query.group_by.begin(), query.group_by.end(),
                                   SpendKey::budget) != query.group_by.end();
  std::string keys, hours_keys, records_keys;
  for (std::size_t i = 0; i < query.group_by.size(); ++i) {
    std::string name = "k";  // (not "k" + ...: GCC 12 warns falsely of overlapping copies)
    name += std::to_string(i);
    keys += name + ", ";
    hours_keys += hours_expr(query.group_by[i]) + " AS " + name + ", ";
    records_keys += records_expr(query.group_by[i]) + " AS " + name + ", ";
  }
  // Whole hours from the hourly sums, the partial hours at either end from the records.
  const std::int64_t since = std::clamp<std::int64_t>(query.range.since, 0, k_far_ms);
  const std::int64_t until = std::clamp<std::int64_t>(query.range.until, 0, k_far_ms);
  std::int64_t first_hour = (since + k_hour_ms - 1) / k_hour_ms * 3600;
  std::int64_t end_hour = until / k_hour_ms * 3600;
  std::int64_t head_end = first_hour * 1000, tail_start = end_hour * 1000;
  if (first_hour >= end_hour) {
    first_hour = end_hour = 0;
    head_end = until;
    tail_start = until;
  }
  const std::string records_from =
      by_budget ? " FROM records LEFT JOIN json_each(records.budgets) AS j" : " FROM records";
  const std::string record_values =
      "currency, 1 AS requests, outcome = 'refused' AS refused, actual AS spent, "
      "CASE WHEN outcome = 'refused' THEN 0 ELSE estimate END AS estimated, input_tokens, "
      "output_tokens";
  const std::string sql =
      "SELECT " + keys +
      "currency, sum(requests), sum(refused), sum(spent), sum(estimated), sum(input_tokens), "
      "sum(output_tokens) FROM (SELECT " +
      hours_keys +
      "currency, requests, refused, spent, estimated, input_tokens, output_tokens "
      "FROM spend_hours WHERE by_budget = ?1 AND hour >= ?2 AND hour < ?3 "
      "AND (?8 = '' OR currency = ?8) UNION ALL SELECT " +
      records_keys + record_values + records_from +
      " WHERE at >= ?4 AND at < ?5 AND (?8 = '' OR currency = ?8) UNION ALL SELECT " +
      records_keys + record_values + records_from +
      " WHERE at >= ?6 AND at < ?7 AND (?8 = '' OR currency = ?8)) GROUP BY " + keys + "currency";
  std::lock_guard lock(read_mutex_);
  SqliteStatement select(reader(), sql.c_str());
  select.bind(1, std::int64_t{by_budget ? 1 : 0})
      .bind(2, first_hour)
      .bind(3, end_hour)
      .bind(4, since)
      .bind(5, head_end)
      .bind(6, tail_start)
      .bind(7, until)
      .bind(8, query.currency);
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

std::int64_t SqliteRecords::prune(sqlite3* db, std::int64_t oldest) {
  constexpr std::int64_t k_batch = 500;
  std::int64_t deleted = 0;
  SqliteStatement records(db,
                          "DELETE FROM records WHERE seq IN (SELECT seq FROM records WHERE at < ?1 "
                          "ORDER BY at LIMIT ?2)");
  for (;;) {
    records.bind(1, oldest).bind(2, k_batch).run();
    const int n = sqlite3_changes(db);
    deleted += n;
    if (n < k_batch) break;
  }
  // Hour by hour: one hour's sums are a few hundred rows at most.
  SqliteStatement first(db, "SELECT min(hour) FROM spend_hours");
  SqliteStatement hour(db, "DELETE FROM spend_hours WHERE hour = ?1");
  const std::int64_t last = oldest / 1000 - 3600;  // the last hour that ends before `oldest`
  for (;;) {
    if (!first.step()) break;
    const std::int64_t h = first.integer(0);  // 0 when the table is empty (min of nothing)
    while (first.step()) {
    }
    if (h == 0 || h > last) break;
    hour.bind(1, h).run();
  }
  return deleted;
}

}  // namespace budget
