#pragma once
// budget::SqliteRecords — the cost records in a SQLite journal's file: a `records` table (indexed
// by time) and `spend_hours`, the same records summed per hour and per group (and again per
// budget instance), kept in the same transaction. A spend report then reads the sums of the
// whole hours it covers and only the records of its partial hours at either end: over 30 days
// of a million records, a few thousand rows instead of a million.

#include <sqlite3.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "budget/store/journal.hpp"
#include "budget/store/record_chain.hpp"
#include "budget/store/sqlite_statement.hpp"

namespace budget {

class SqliteRecords {
 public:
  // Creates the tables in `db` (the writer's connection, used only from the writer's side) and
  // reads the end of the receipt chain; reads go through a connection of their own to `path`.
  SqliteRecords(sqlite3* db, std::string path, const RecordOptions& options);
  ~SqliteRecords();

  // Inside the writer's transaction: links `record` into the chain and inserts it.
  void insert(CostRecord record);
  // Around each transaction, so that the chain forgets records that were rolled back.
  void begin() { committed_hash_ = chain_.last_hash(); }
  void rolled_back() { chain_.rewind(committed_hash_); }

  // On a connection of its own (WAL: readers never block the writer). Thread-safe.
  std::vector<CostRecord> records(const RecordQuery& query) const;
  std::vector<SpendGroup> spend(const SpendQuery& query) const;

  // Deletes records older than `oldest` (unix ms), and the hourly sums of hours wholly before
  // it, in small transactions on `db` (a connection other than the writer's), so that commits
  // wait at most for one small batch. Returns the records deleted.
  static std::int64_t prune(sqlite3* db, std::int64_t oldest);

 private:
  sqlite3* reader() const;  // under read_mutex_

  const std::string path_;
  RecordChain chain_;
  std::string committed_hash_;
  std::unique_ptr<SqliteStatement> insert_, add_hour_;
  mutable std::mutex read_mutex_;
  mutable sqlite3* reader_ = nullptr;
};

}  // namespace budget
