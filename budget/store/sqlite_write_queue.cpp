#include "budget/store/sqlite_write_queue.hpp"

#include <algorithm>

#include "budget/store/sqlite_journal.hpp"

namespace budget {
namespace {

thread_local bool t_defer_wakeups = false;
thread_local std::vector<std::shared_ptr<Queue>> t_deferred;

}  // namespace

void queue_write(const std::shared_ptr<Queue>& queue, Pending pending) {
  bool wake = false;
  {
    std::lock_guard lock(queue->mutex);
    queue->pending.push_back(std::move(pending));
    // A writer busy committing takes this write into its next transaction without a wake-up;
    // on an event loop that defers, the wake-up waits for the end of the loop's turn.
    if (queue->writer_waiting) {
      if (!t_defer_wakeups) {
        wake = queue->take_wakeup();
      } else if (std::find(t_deferred.begin(), t_deferred.end(), queue) == t_deferred.end()) {
        t_deferred.push_back(queue);
      }
    }
  }
  if (wake) queue->wake.notify_one();
}

void defer_journal_wakeups(bool on) {
  if (!on) flush_journal_wakeups();
  t_defer_wakeups = on;
}

// At the end of an event loop's turn. A writer that sleeps while the turn left at most
// k_inline_writes is not woken: the loop commits them itself (the same transaction the writer
// would run, and their callbacks after it), which saves the two thread hand-offs that dominate a
// lone request's ledger latency. More writes, or a commit already running, go to the writer.
void flush_journal_wakeups() {
  constexpr std::size_t k_inline_writes = 4;
  std::vector<Pending> batch;
  for (const auto& queue : t_deferred) {
    bool wake = false, commit_here = false;
    {
      std::lock_guard lock(queue->mutex);
      if (queue->writer_waiting && !queue->committing && !queue->stopping && queue->commit_inline &&
          !queue->pending.empty() && queue->pending.size() <= k_inline_writes) {
        batch.swap(queue->pending);
        queue->committing = true;
        commit_here = true;
      } else {
        wake = queue->take_wakeup();
      }
    }
    if (wake) queue->wake.notify_one();
    if (!commit_here) continue;
    queue->commit_inline(batch);
    batch.clear();
    {
      std::lock_guard lock(queue->mutex);
      queue->committing = false;
      // The writer waits for this commit when other threads queued writes meanwhile, or when
      // the journal is being destroyed.
      wake = queue->stopping || queue->take_wakeup();
    }
    if (wake) queue->wake.notify_one();
  }
  t_deferred.clear();
}

}  // namespace budget
