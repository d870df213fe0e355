#pragma once
// The SQLite journal: the ledger file in WAL mode, with one writer thread that commits queued
// writes in grouped transactions, and the event-loop hooks that let the writes of one loop turn
// share one commit.

#include <memory>
#include <string>

#include "budget/store/journal.hpp"

namespace budget {

// SQLite in WAL mode at `path` (created if absent). Throws std::runtime_error when the file
// cannot be opened.
std::unique_ptr<Journal> make_sqlite_journal(const std::string& path);

// Wake-ups of SQLite journal writer threads deferred to the end of an event-loop turn. On a
// thread that called defer_journal_wakeups(true), a write that finds its journal's writer asleep
// leaves the wake-up to flush_journal_wakeups(), which the loop calls after each turn: the writes
// of one turn then share one wake-up and one commit. For a small turn (up to 4 writes) and a
// writer asleep, flush_journal_wakeups() commits on the calling thread instead and runs the
// callbacks there, after the commit. Such a thread must flush before it blocks on a write.
// Both act on the calling thread only; with no SQLite journal they do nothing.
void defer_journal_wakeups(bool on);
void flush_journal_wakeups();

}  // namespace budget
