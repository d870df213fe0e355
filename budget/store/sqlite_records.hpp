#pragma once
// budget::SqliteRecords — the cost records in a SQLite journal's file: a `records` table (indexed
// by time), written in the transaction of the settlement each describes, and `spend_sums`, the
// same records summed per day and per hour and per group (and again per budget instance), rolled
// up in the background from the records kept before a watermark. A spend report reads the sums of
// the whole days and hours it covers, and records only for its partial hours at either end and
// for what is past the watermark: over 30 days of a million records, some ten thousand rows
// instead of a million, and nothing more to write per settlement than the record itself.

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

  // Background work on `db`, a connection other than the writer's, in small transactions so that
  // a commit waits at most for one small batch. roll_up() adds the records past the watermark to
  // the sums, at most `batch` records a transaction, and returns how many it added; prune()
  // deletes records older than `oldest` (unix ms) and the sums of days and hours wholly before
  // it, and returns the records deleted.
  static std::int64_t roll_up(sqlite3* db, std::int64_t batch = 2000);
  static std::int64_t prune(sqlite3* db, std::int64_t oldest);

 private:
  sqlite3* reader() const;  // under read_mutex_

  const std::string path_;
  RecordChain chain_;
  std::string committed_hash_;
  std::unique_ptr<SqliteStatement> insert_;
  mutable std::mutex read_mutex_;
  mutable sqlite3* reader_ = nullptr;
};

}  // namespace budget
