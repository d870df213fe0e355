#pragma once
// The SQLite journal's queue of writes, shared by the callers and the writer thread, and the
// deferral of writer wake-ups to the end of an event-loop turn (defer_journal_wakeups,
// flush_journal_wakeups in sqlite_journal.hpp). Internal to budget/store/.

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "budget/store/mutation.hpp"

namespace budget {

struct Pending {
  Mutation mutation;
  std::function<void(bool durable)> done;
};

// What writers and the writer thread share: the queue and the writer's sleep. Held by
// shared_ptr so that a wake-up deferred on some thread (flush_journal_wakeups) never outlives it.
struct Queue {
  std::mutex mutex;
  std::condition_variable wake;  // the writer: work queued, a commit finished, or stopping
  std::vector<Pending> pending;
  bool writer_waiting = false;  // the writer sleeps on `wake`
  bool committing = false;      // a batch is being committed (writer or inline): one at a time
  bool stopping = false;
  // Commits a batch and runs its callbacks on the calling thread (set by the journal; null once
  // it is gone).
  std::function<void(std::vector<Pending>&)> commit_inline;

  // Under `mutex`: true when the caller must notify `wake`.
  bool take_wakeup() {
    if (!writer_waiting || pending.empty()) return false;
    writer_waiting = false;
    return true;
  }
};

// Queues `pending` and wakes the writer if it sleeps, or, on a thread that defers wake-ups,
// leaves the wake-up to the end of its turn.
void queue_write(const std::shared_ptr<Queue>& queue, Pending pending);

}  // namespace budget
