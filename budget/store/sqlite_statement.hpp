#pragma once
// budget::SqliteStatement — one prepared SQLite statement, prepared once for the life of its
// connection (SQLITE_PREPARE_PERSISTENT) and reset after each use. Errors are thrown as
// std::runtime_error, so that the journal rolls back a batch whose statement failed. Not
// thread-safe: used under its connection's lock.

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace budget {

class SqliteStatement {
 public:
  SqliteStatement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db));
  }
  ~SqliteStatement() { sqlite3_finalize(stmt_); }
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  SqliteStatement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  SqliteStatement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // Binds text without copying it: it must outlive the statement's run, so bind it in the very
  // expression that runs it (stmt.bind_view(1, s).run()). run() clears every binding after.
  SqliteStatement& bind_view(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  bool step() {  // true while a row is available
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    sqlite3_reset(stmt_);
    if (rc != SQLITE_DONE) throw std::runtime_error(sqlite3_errstr(rc));
    return false;
  }
  void run() {
    // Cleared even when a step throws: no binding outlives the text it points to.
    struct Clear {
      sqlite3_stmt* stmt;
      ~Clear() { sqlite3_clear_bindings(stmt); }
    } clear{stmt_};
    while (step()) {
    }
  }
  // Ready for a new use: no row pending, no binding.
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  // The column's text in the statement's own memory: valid until the next step or reset.
  std::string_view view(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string_view(reinterpret_cast<const char*>(p),
                                static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string_view();
  }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, col)) : "";
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// The statements of one connection's background work, each prepared the first time its text is
// asked for and kept until the cache goes (before its connection closes): preparing the
// roll-up's statements again for every batch cost more allocations than the requests whose
// records it rolled up.
class SqliteStatementCache {
 public:
  explicit SqliteStatementCache(sqlite3* db) : db_(db) {}
  sqlite3* db() const { return db_; }

  // The statement for `sql`, reset and without bindings.
  SqliteStatement& get(std::string_view sql) {
    for (auto& [text, statement] : statements_)
      if (text == sql) {
        statement->reset();
        return *statement;
      }
    std::string text(sql);
    auto statement = std::make_unique<SqliteStatement>(db_, text.c_str());
    statements_.emplace_back(std::move(text), std::move(statement));
    return *statements_.back().second;
  }

 private:
  sqlite3* db_;
  std::vector<std::pair<std::string, std::unique_ptr<SqliteStatement>>> statements_;
};

}  // namespace budget
