#pragma once
// budget::SqliteStatement — one prepared SQLite statement, prepared once for the life of its
// connection (SQLITE_PREPARE_PERSISTENT) and reset after each use. Errors are thrown as
// std::runtime_error, so that the journal rolls back a batch whose statement failed. Not
// thread-safe: used under its connection's lock.

#include <sqlite3.h>

#include <cstdint>
#include <stdexcept>
#include <string>

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
  bool step() {  // true while a row is available
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    sqlite3_reset(stmt_);
    if (rc != SQLITE_DONE) throw std::runtime_error(sqlite3_errstr(rc));
    return false;
  }
  void run() {
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
