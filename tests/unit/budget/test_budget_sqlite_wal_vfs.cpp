// The WAL-gathering VFS (budget/store/sqlite_wal_vfs.hpp): a commit reaches the WAL in one write,
// another connection sees it as soon as the commit returns, a transaction larger than the buffer
// still commits whole, and a process killed right after its commits loses none of them.
#include <doctest/doctest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "budget/store/sqlite_wal_vfs.hpp"
#include "budget_test_support.hpp"

using namespace budget_test;

namespace {

sqlite3* open(const std::string& path, const char* vfs) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs) ==
          SQLITE_OK);
  sqlite3_busy_timeout(db, 2000);
  return db;
}

void exec(sqlite3* db, const std::string& sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  const std::string message = error ? error : "";
  sqlite3_free(error);
  INFO(sql << ": " << message << " (" << sqlite3_extended_errcode(db) << ")");
  REQUIRE(rc == SQLITE_OK);
}

std::int64_t count(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  const std::int64_t n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

// A ledger-like file: 1 KiB pages, WAL, no automatic checkpoints, two indexed tables.
sqlite3* open_ledger(const std::string& path) {
  sqlite3* db = open(path, budget::wal_write_vfs());
  exec(db,
       "PRAGMA page_size = 1024; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
       "PRAGMA wal_autocheckpoint = 0;"
       "CREATE TABLE IF NOT EXISTS holds (id INTEGER PRIMARY KEY, parts TEXT NOT NULL);"
       "CREATE TABLE IF NOT EXISTS spent (k TEXT PRIMARY KEY, amount INTEGER NOT NULL);"
       "CREATE INDEX IF NOT EXISTS holds_parts ON holds (parts);");
  return db;
}

}  // namespace

TEST_CASE("a commit reaches the WAL in one write, and another connection sees it at once") {
  REQUIRE(budget::wal_write_vfs() != nullptr);
  TempDir dir;
  const std::string path = (dir.path / "ledger.db").string();
  sqlite3* writer = open_ledger(path);
  sqlite3* reader = open(path, nullptr);

  for (int i = 0; i < 50; ++i) {
    const auto before = budget::wal_file_writes();
    // Four b-trees change: several pages, each a frame of two writes without the VFS.
    exec(writer, "BEGIN IMMEDIATE; INSERT INTO holds (parts) VALUES ('budget-" + std::to_string(i) +
                     "'); INSERT INTO spent (k, amount) VALUES ('k" + std::to_string(i % 7) +
                     "', 5) ON CONFLICT (k) DO UPDATE SET amount = amount + 5; COMMIT");
    CHECK(budget::wal_file_writes() - before == 1);
    CHECK(count(reader, "SELECT count(*) FROM holds") == i + 1);
    CHECK(count(reader, "SELECT sum(amount) FROM spent") == 5 * (i + 1));
  }
  // The frames are whole where SQLite looks for them: a checkpoint copies them into the file.
  exec(reader, "PRAGMA wal_checkpoint(TRUNCATE)");
  CHECK(count(reader, "SELECT count(*) FROM holds") == 50);
  sqlite3_close(reader);
  sqlite3_close(writer);
  sqlite3* again = open(path, nullptr);
  CHECK(count(again, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'") ==
        1);
  CHECK(count(again, "SELECT sum(amount) FROM spent") == 250);
  sqlite3_close(again);
}

TEST_CASE("a transaction larger than the buffer commits whole") {
  TempDir dir;
  const std::string path = (dir.path / "ledger.db").string();
  sqlite3* writer = open_ledger(path);
  const auto before = budget::wal_file_writes();
  // About 3 MiB of pages: written in several pieces, published once.
  exec(writer,
       "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
       "INSERT INTO holds (parts) SELECT printf('%.900c%d', 'x', i) FROM n; COMMIT");
  CHECK(budget::wal_file_writes() - before > 2);
  sqlite3* reader = open(path, nullptr);
  CHECK(count(reader, "SELECT count(*) FROM holds") == 3000);
  CHECK(count(reader, "SELECT count(DISTINCT parts) FROM holds") == 3000);
  CHECK(count(reader, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'") ==
        1);
  sqlite3_close(reader);
  sqlite3_close(writer);
}

TEST_CASE("a process killed right after its commits loses none of them") {
  TempDir dir;
  const std::string path = (dir.path / "ledger.db").string();
  sqlite3_close(open_ledger(path));
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, budget::wal_write_vfs()) !=
        SQLITE_OK)
      ::_exit(2);
    for (int i = 0; i < 200; ++i) {
      const std::string sql = "INSERT INTO holds (parts) VALUES ('p" + std::to_string(i) + "')";
      if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) ::_exit(3);
    }
    ::kill(::getpid(), SIGKILL);  // no close, no checkpoint: only the WAL has them
    ::_exit(4);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  sqlite3* db = open(path, nullptr);
  CHECK(count(db, "SELECT count(*) FROM holds") == 200);
  CHECK(count(db, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'") == 1);
  sqlite3_close(db);
}
