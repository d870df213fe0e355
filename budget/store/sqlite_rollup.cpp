// SqliteRecords' roll-up and pruning (sqlite_records.hpp): the hourly and daily spend sums kept
// from the records up to a watermark, on the journal's background connection.
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include "budget/store/record_columns.hpp"
#include "budget/store/sqlite_records.hpp"
#include "budget/store/sqlite_statement.hpp"

namespace budget {

namespace {

// Inside the caller's transaction: adds (sign 1) or takes away (sign -1) the records that
// `where` selects (over records; ?4 and ?5 are its parameters) to or from the sums, at both
// levels and in both halves (by_budget 0 and 1). A sum whose requests come to 0 has no record
// left in it; the caller deletes it.
// The records are read once and summed here, then each sum is written by one upsert: four
// INSERT ... SELECT ... GROUP BY (one per level and half) read every record four times, sorted
// each time and expanded its budgets with json_each, which made the roll-up the largest part of
// the checkpointer thread's time under load. The sums are the same: the unit tests compare them
// with the records summed afresh.
template <typename A, typename B>
void add_to_sums(SqliteStatementCache& cache, std::int64_t sign, const std::string& where,
                 const A& p4, const B& p5) {
  struct Key {
    std::int64_t level, by_budget, start;
    std::string budget, provider, endpoint, model, client, credential, currency;
    bool operator<(const Key& o) const {
      return std::tie(level, by_budget, start, budget, provider, endpoint, model, client,
                      credential, currency) < std::tie(o.level, o.by_budget, o.start, o.budget,
                                                       o.provider, o.endpoint, o.model, o.client,
                                                       o.credential, o.currency);
    }
  };
  struct Sums {
    std::int64_t requests = 0, refused = 0, spent = 0, estimated = 0, input_tokens = 0,
                 output_tokens = 0;
  };
  std::map<Key, Sums> sums;
  SqliteStatement& read = cache.get(
      "SELECT at, provider, endpoint, model, client, credential, currency, "
      "outcome = 'refused', actual, estimate, input_tokens, output_tokens, budgets "
      "FROM records WHERE " +
      where);
  read.bind(4, p4).bind(5, p5);
  // One key, its strings assigned in place row after row: a row's sums are looked up without a
  // heap allocation (the map copies the key for a new sum only).
  Key key{};
  const auto add = [&](std::int64_t level, std::int64_t unit, std::int64_t by_budget,
                       std::string_view budget, std::int64_t at, const Sums& row) {
    key.level = level;
    key.by_budget = by_budget;
    key.start = at / (unit * 1000) * unit;
    key.budget.assign(budget);
    Sums& s = sums[key];
    s.requests += row.requests;
    s.refused += row.refused;
    s.spent += row.spent;
    s.estimated += row.estimated;
    s.input_tokens += row.input_tokens;
    s.output_tokens += row.output_tokens;
  };
  while (read.step()) {
    const std::int64_t at = read.integer(0);
    const bool refused = read.integer(7) != 0;
    const Sums row{1,
                   refused ? 1 : 0,
                   read.integer(8),
                   refused ? 0 : read.integer(9),
                   read.integer(10),
                   read.integer(11)};
    key.provider.assign(read.view(1));
    key.endpoint.assign(read.view(2));
    key.model.assign(read.view(3));
    key.client.assign(read.view(4));
    key.credential.assign(read.view(5));
    key.currency.assign(read.view(6));
    // Each record once in half 0; in half 1 once per budget instance it was charged in, or
    // once under '' when none.
    constexpr std::pair<std::int64_t, std::int64_t> k_levels[] = {{0, 3600}, {1, 86'400}};
    for (const auto& [level, unit] : k_levels) add(level, unit, 0, "", at, row);
    bool any = false;
    const auto budget = [&](std::string_view b) {
      any = true;
      for (const auto& [level, unit] : k_levels) add(level, unit, 1, b, at, row);
    };
    for_each_budget(read.view(12), budget);
    if (!any)
      for (const auto& [level, unit] : k_levels) add(level, unit, 1, "", at, row);
  }
  SqliteStatement& upsert = cache.get(
      "INSERT INTO spend_sums (level, by_budget, start, budget, provider, endpoint, model, "
      "client, credential, currency, requests, refused, spent, estimated, input_tokens, "
      "output_tokens) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
      "?16) ON CONFLICT DO UPDATE SET requests = requests + excluded.requests, "
      "refused = refused + excluded.refused, spent = spent + excluded.spent, "
      "estimated = estimated + excluded.estimated, "
      "input_tokens = input_tokens + excluded.input_tokens, "
      "output_tokens = output_tokens + excluded.output_tokens");
  for (const auto& [k, v] : sums)
    upsert.bind(1, k.level)
        .bind(2, k.by_budget)
        .bind(3, k.start)
        .bind_view(4, k.budget)
        .bind_view(5, k.provider)
        .bind_view(6, k.endpoint)
        .bind_view(7, k.model)
        .bind_view(8, k.client)
        .bind_view(9, k.credential)
        .bind_view(10, k.currency)
        .bind(11, sign * v.requests)
        .bind(12, sign * v.refused)
        .bind(13, sign * v.spent)
        .bind(14, sign * v.estimated)
        .bind(15, sign * v.input_tokens)
        .bind(16, sign * v.output_tokens)
        .run();
}

std::int64_t watermark(SqliteStatementCache& cache) {
  SqliteStatement& rolled = cache.get("SELECT seq FROM spend_rolled WHERE id = 1");
  std::int64_t seq = 0;
  if (rolled.step()) seq = rolled.integer(0);
  while (rolled.step()) {
  }
  return seq;
}

// BEGIN IMMEDIATE ... COMMIT around `work`; ROLLBACK when it throws.
template <typename F>
auto in_transaction(SqliteStatementCache& cache, F&& work) {
  cache.get("BEGIN IMMEDIATE").run();
  try {
    auto result = work();
    cache.get("COMMIT").run();
    return result;
  } catch (const std::exception&) {
    sqlite3_exec(cache.db(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace

std::int64_t SqliteRecords::roll_up(sqlite3* db, std::int64_t batch) {
  SqliteStatementCache cache(db);
  return roll_up(cache, batch);
}

std::int64_t SqliteRecords::prune(sqlite3* db, std::int64_t oldest, std::int64_t batch) {
  SqliteStatementCache cache(db);
  return prune(cache, oldest, batch);
}

std::int64_t SqliteRecords::roll_up(SqliteStatementCache& cache, std::int64_t batch) {
  return in_transaction(cache, [&] {
    const std::int64_t from = watermark(cache);
    SqliteStatement& last = cache.get(
        "SELECT count(*), max(seq) FROM (SELECT seq FROM records WHERE seq > ?1 "
        "ORDER BY seq LIMIT ?2)");
    last.bind(1, from).bind(2, batch);
    std::int64_t count = 0, to = from;
    if (last.step() && (count = last.integer(0)) > 0) to = last.integer(1);
    while (last.step()) {
    }
    if (count > 0) {
      add_to_sums(cache, 1, "seq > ?4 AND seq <= ?5", from, to);
      SqliteStatement& mark = cache.get("UPDATE spend_rolled SET seq = ?1 WHERE id = 1");
      mark.bind(1, to).run();
    }
    return count;
  });
}

std::int64_t SqliteRecords::prune(SqliteStatementCache& cache, std::int64_t oldest,
                                  std::int64_t batch) {
  return in_transaction(cache, [&] {
    // The batch: its seqs (as a JSON array, for json_each) and the span of its times.
    SqliteStatement& pick =
        cache.get("SELECT seq, at FROM records WHERE at < ?1 ORDER BY at LIMIT ?2");
    pick.bind(1, oldest).bind(2, batch);
    std::string seqs = "[";
    std::int64_t count = 0, first_at = 0, last_at = 0;
    while (pick.step()) {
      if (count++) seqs += ',';
      seqs += std::to_string(pick.integer(0));
      const std::int64_t at = pick.integer(1);
      first_at = count == 1 ? at : std::min(first_at, at);
      last_at = std::max(last_at, at);
    }
    seqs += ']';
    if (count == 0) return count;
    // The rolled-up ones leave the sums as they leave the records (the others never entered).
    const std::int64_t rolled = watermark(cache);
    add_to_sums(cache, -1, "seq IN (SELECT value FROM json_each(?4)) AND seq <= ?5", seqs, rolled);
    SqliteStatement& empty = cache.get(
        "DELETE FROM spend_sums WHERE level = ?1 AND by_budget IN (0, 1) AND "
        "start >= ?2 AND start <= ?3 AND requests = 0");
    for (const auto& [level, unit] : {std::pair{0, 3600}, {1, 86'400}}) {
      const std::int64_t unit_ms = std::int64_t{unit} * 1000;
      empty.bind(1, std::int64_t{level})
          .bind(2, first_at / unit_ms * unit)
          .bind(3, last_at / unit_ms * unit)
          .run();
    }
    SqliteStatement& drop =
        cache.get("DELETE FROM records WHERE seq IN (SELECT value FROM json_each(?1))");
    drop.bind(1, seqs).run();
    // A new record takes the seq after the largest left (1 in an empty table): with the newest
    // pruned, the watermark comes down to it, so that a seq used again is counted again. Every
    // record left at or below it was rolled up (it was below the old watermark).
    SqliteStatement& lower = cache.get(
        "UPDATE spend_rolled SET seq = (SELECT coalesce(max(seq), 0) FROM "
        "records) WHERE id = 1 AND seq > (SELECT coalesce(max(seq), 0) FROM "
        "records)");
    lower.run();
    return count;
  });
}

}  // namespace budget
