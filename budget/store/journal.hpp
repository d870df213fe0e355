#pragma once
// budget::Journal — the durable record of decisions made in memory. The enforcer decides under
// its lock and its state is the truth while it runs; a journal records each change, in the order
// it was made, and gives the state back at the next start. (Budgets that several processes share
// are decided elsewhere: budget::SharedLedger.)

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "budget/store/mutation.hpp"
#include "budget/store/rows.hpp"

namespace budget {

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
};

// Keeps nothing: state lives and dies with the process; every write completes at once, durable.
// (The SQLite journal: budget/store/sqlite_journal.hpp.)
std::unique_ptr<Journal> make_memory_journal();

}  // namespace budget
