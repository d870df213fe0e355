#include "budget/store/redis_outbox.hpp"

#include <stdexcept>

#include "budget/store/sqlite_statement.hpp"

namespace budget {
namespace {

// A close that failed is committed here before its callback runs, so before a settle that
// awaits Redis is reported done (synchronous=FULL: a close that waits here is money that Redis
// has not counted yet). Writes happen only while Redis is away.
constexpr const char* k_schema = R"sql(
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS closes (
  hold INTEGER PRIMARY KEY,
  actual TEXT NOT NULL,
  keys TEXT NOT NULL,
  ttls TEXT NOT NULL
);
)sql";

// Columns added since: the hold's member in the deadline set, its estimate, and whether it was
// admitted without a reservation (NULL in an earlier version's rows: keys were then given only
// for such a hold).
constexpr const char* k_columns[] = {
    "ALTER TABLE closes ADD COLUMN member TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE closes ADD COLUMN estimate TEXT NOT NULL DEFAULT '0'",
    "ALTER TABLE closes ADD COLUMN unreserved INTEGER",
    // Shared breakers: a line per breaker, "limit,window,bucket,cooldown,KEY".
    "ALTER TABLE closes ADD COLUMN breakers TEXT NOT NULL DEFAULT ''",
};

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += '\n';
    out += p;
  }
  return out;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  for (std::size_t pos = 0;;) {
    const auto end = text.find(sep, pos);
    out.push_back(text.substr(pos, end - pos));
    if (end == std::string::npos) return out;
    pos = end + 1;
  }
}

void exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string text = error ? error : "sqlite error";
    sqlite3_free(error);
    throw std::runtime_error(text);
  }
}

}  // namespace

RedisOutbox::RedisOutbox(const std::string& path) {
  const std::string file = path.empty() ? ":memory:" : path;
  if (sqlite3_open_v2(file.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    const std::string error = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw std::runtime_error("cannot open " + file + ": " + error);
  }
  try {
    exec(db_, k_schema);
    for (const char* column : k_columns)
      // "duplicate column name": the file has it already.
      sqlite3_exec(db_, column, nullptr, nullptr, nullptr);
  } catch (const std::exception& e) {
    sqlite3_close(db_);
    throw std::runtime_error("cannot open " + file + ": " + e.what());
  }
  size_ = count();
}

RedisOutbox::~RedisOutbox() {
  sqlite3_close(db_);
}

bool RedisOutbox::add(const std::vector<PendingClose>& closes) {
  if (closes.empty()) return true;
  try {
    exec(db_, "BEGIN");
    SqliteStatement insert(db_,
                           "INSERT OR REPLACE INTO closes (hold, actual, keys, ttls, member, "
                           "estimate, unreserved, breakers) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    for (const auto& c : closes) {
      std::string ttls;
      // "ttl" per key, "ttl:window:bucket" for a rolling window (rows from before windows were
      // shared hold the TTL alone).
      for (std::size_t i = 0; i < c.key_ttls.size(); ++i) {
        if (!ttls.empty()) ttls += ',';
        ttls += std::to_string(c.key_ttls[i]);
        if (i < c.key_windows.size() && c.key_windows[i] > 0)
          ttls += ':' + std::to_string(c.key_windows[i]) + ':' + std::to_string(c.key_buckets[i]);
      }
      std::vector<std::string> breakers;
      for (std::size_t i = 0; i < c.breaker_keys.size() && 4 * i + 3 < c.breaker_args.size(); ++i) {
        std::string line;
        for (std::size_t j = 0; j < 4; ++j) line += std::to_string(c.breaker_args[4 * i + j]) + ',';
        breakers.push_back(line + c.breaker_keys[i]);
      }
      insert.bind(1, static_cast<std::int64_t>(c.hold))
          .bind(2, c.actual)
          .bind(3, join(c.keys))
          .bind(4, ttls)
          .bind(5, c.member)
          .bind(6, c.estimate)
          .bind(7, static_cast<std::int64_t>(c.unreserved))
          .bind(8, join(breakers))
          .run();
    }
    exec(db_, "COMMIT");
  } catch (const std::exception&) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return false;
  }
  size_ = count();
  return true;
}

void RedisOutbox::remove(const std::vector<std::uint64_t>& holds) {
  if (holds.empty()) return;
  try {
    exec(db_, "BEGIN");
    SqliteStatement erase(db_, "DELETE FROM closes WHERE hold = ?");
    for (const auto h : holds) erase.bind(1, static_cast<std::int64_t>(h)).run();
    exec(db_, "COMMIT");
  } catch (const std::exception&) {
    // Kept: replayed again later, which Redis ignores.
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  size_ = count();
}

std::size_t RedisOutbox::count() {
  SqliteStatement select(db_, "SELECT count(*) FROM closes");
  std::size_t n = 0;
  while (select.step()) n = static_cast<std::size_t>(select.integer(0));
  return n;
}

std::vector<PendingClose> RedisOutbox::all() {
  std::vector<PendingClose> out;
  SqliteStatement select(db_,
                         "SELECT hold, actual, keys, ttls, member, estimate, "
                         "coalesce(unreserved, keys != ''), breakers FROM closes ORDER BY rowid");
  while (select.step()) {
    PendingClose c;
    c.hold = static_cast<std::uint64_t>(select.integer(0));
    c.actual = select.text(1);
    c.keys = split(select.text(2), '\n');
    for (const auto& t : split(select.text(3), ',')) {
      const auto f = split(t, ':');
      c.key_ttls.push_back(std::stoll(f.at(0)));
      c.key_windows.push_back(f.size() == 3 ? std::stoll(f[1]) : 0);
      c.key_buckets.push_back(f.size() == 3 ? std::stoll(f[2]) : 0);
    }
    c.member = select.text(4);
    c.estimate = select.text(5);
    c.unreserved = select.integer(6) != 0;
    for (const auto& line : split(select.text(7), '\n')) {
      std::size_t pos = 0;
      for (int j = 0; j < 4; ++j) {
        const auto comma = line.find(',', pos);
        c.breaker_args.push_back(std::stoll(line.substr(pos, comma - pos)));
        pos = comma + 1;
      }
      c.breaker_keys.push_back(line.substr(pos));
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace budget
