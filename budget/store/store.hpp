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

  // Records `mutation` after every write made before it, then calls done(true); done(false)
  // when nothing of it could be kept. `done` (may be empty) runs exactly once: later, on another
  // thread, or at once inside write() (a journal that keeps nothing completes every write so).
  // Safe from any thread; calls made under one lock are recorded in the order made.
  virtual void write(Mutation mutation, std::function<void(bool durable)> done) = 0;

  // False after a write failed, until one succeeds. Safe from any thread.
  virtual bool healthy() const = 0;
};

// Wake-ups of store writer threads deferred to the end of an event-loop turn. On a thread that
// called defer_store_wakeups(true), a write that finds its store's writer asleep leaves the
// wake-up to flush_store_wakeups(), which the loop calls after each turn: the writes of one turn
// then share one wake-up and one commit. For a small turn (SQLite: up to 4 writes) and a writer
// asleep, flush_store_wakeups() commits on the calling thread instead and runs the callbacks
// there, after the commit. Such a thread must flush before it blocks on a write.
void defer_store_wakeups(bool on);
void flush_store_wakeups();

// Keeps nothing: state lives and dies with the process; every write completes at once, durable.
std::unique_ptr<Journal> make_memory_journal();

// SQLite in WAL mode at `path` (created if absent), with one writer thread committing queued
// writes in grouped transactions. Throws std::runtime_error when the file cannot be opened.
std::unique_ptr<Journal> make_sqlite_journal(const std::string& path);

}  // namespace budget
