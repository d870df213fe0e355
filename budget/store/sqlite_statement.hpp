#pragma once
// budget::SqliteStatement — one prepared SQLite statement, prepared once for the life of its
// connection (SQLITE_PREPARE_PERSISTENT) and reset after each use. Errors are thrown as
// std::runtime_error, so that the journal rolls back a batch whose statement failed. Not
// thread-safe: used under its connection's lock.

#include <sqlite3.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

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
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, col)) : "";
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace budget
