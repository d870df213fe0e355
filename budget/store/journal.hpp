#pragma once
// budget::Journal — the durable record of decisions made in memory. The enforcer decides under
// its lock and its state is the truth while it runs; a journal records each change, in the order
// it was made, and gives the state back at the next start. (Budgets that several processes share
// are decided elsewhere: budget::SharedLedger.) A journal also keeps the cost records its
// writes carry, and answers questions about them.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "budget/store/mutation.hpp"
#include "budget/store/receipt_key.hpp"
#include "budget/store/record_query.hpp"
#include "budget/store/rows.hpp"

namespace budget {

class Clock;

// How a journal keeps cost records.
struct RecordOptions {
  std::chrono::milliseconds retention = std::chrono::hours(24 * 30);  // older ones are pruned
  std::size_t memory = 20000;             // the memory journal's ring: records kept at most
  std::shared_ptr<const ReceiptKey> key;  // signs each record when set
  Clock* clock = nullptr;                 // what "now" is for retention (null: the system's)
  // How often the SQLite journal prunes (on its checkpoint thread, in small batches).
  std::chrono::milliseconds prune_every = std::chrono::minutes(1);
};

// Everything a journal holds, as loaded at start.
struct JournalSnapshot {
  std::vector<SpentRow> spent;
  std::vector<HoldRow> holds;
  std::vector<LimitRow> limits;
  std::vector<OverrideRow> overrides;
};

class Journal {
 public:
  virtual ~Journal() = default;

  // Returns the state as of the last recorded write. Safe from any thread; throws
  // std::runtime_error when the journal cannot be read (at start, where that is fatal).
  virtual JournalSnapshot load() = 0;

  // Records `mutation` after every earlier write, then calls done(true), or done(false) when
  // nothing of it could be kept. Safe from any thread (calls made under one lock are recorded in
  // that order); `done`, which may be empty, runs exactly once: later on another thread, or
  // inside write() for a journal that keeps nothing.
  virtual void write(Mutation mutation, std::function<void(bool durable)> done) = 0;

  // False after a write failed, until one succeeds. Safe from any thread.
  virtual bool healthy() const = 0;

  // The records kept (durable ones: written and committed) that `query` asks for, and spend
  // grouped as `query` asks. Safe from any thread; never blocks writes for long.
  virtual std::vector<CostRecord> records(const RecordQuery& query) const = 0;
  virtual std::vector<SpendGroup> spend(const SpendQuery& query) const = 0;
};

// Keeps no state: it lives and dies with the process; every write completes at once, durable.
// Cost records are kept in a ring of options.memory, linked into a receipt chain as written.
// (The SQLite journal: budget/store/sqlite_journal.hpp.)
std::unique_ptr<Journal> make_memory_journal(RecordOptions options = {});

}  // namespace budget
