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

  // Background work on `db`, a connection other than the writer's, one small transaction a call
  // so that a commit waits at most for one batch. The invariant both keep, whatever is committed
  // when: the sums hold exactly the records that are still kept and have a seq at or below the
  // watermark (spend_rolled.seq), and every record above it is in no sum.
  //
  // roll_up() adds the next `batch` records past the watermark to the sums and moves the
  // watermark past them, in one transaction (a crash leaves both as they were); returns how many.
  // prune() deletes the `batch` oldest records older than `oldest` (unix ms), takes those at or
  // below the watermark out of the sums in the same transaction, deletes the sums left empty and
  // lowers the watermark to the largest seq left when it is above it (SQLite gives a new row the
  // largest seq + 1, so a pruned seq can come again); returns how many it deleted. So a report
  // over a pruned range counts exactly the records still kept in it: none, once pruning is done.
  // The forms taking a cache keep their statements prepared from one call to the next.
  static std::int64_t roll_up(sqlite3* db, std::int64_t batch = 250);
  static std::int64_t prune(sqlite3* db, std::int64_t oldest, std::int64_t batch = 500);
  static std::int64_t roll_up(SqliteStatementCache& cache, std::int64_t batch = 250);
  static std::int64_t prune(SqliteStatementCache& cache, std::int64_t oldest,
                            std::int64_t batch = 500);

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
