// How the enforcer's changes reach the journal: each written under the lock, in the order it was
// made, and completed (its outcome accounted for, its caller's continuation run) outside it.
#include <future>

#include "budget/event_detail.hpp"
#include "budget/store_enforcer.hpp"

namespace budget {

// The shared ledger and the journal go first: they may still complete calls and writes, whose
// completions touch the rest.
StoreEnforcer::~StoreEnforcer() {
  shared_.reset();
  journal_.reset();
}

void StoreEnforcer::write(Mutation mutation, std::unique_ptr<Waiting> waiting,
                          Completed& completed) {
  Waiting* w = waiting.release();  // owned by whichever side of the hand-off comes second
  journal_->write(std::move(mutation), [this, w](bool durable) {
    w->durable = durable;
    if (w->one_side_done.exchange(true, std::memory_order_acq_rel))
      complete(std::unique_ptr<Waiting>(w));
  });
  // The first side to arrive leaves the rest to the other: here, to the journal's callback.
  if (!w->one_side_done.exchange(true, std::memory_order_acq_rel)) return;
  // Completed already (at once, inside write(), or on the journal's thread meanwhile): the caller
  // completes it once it has unlocked.
  (completed.tail ? completed.tail->next : completed.head).reset(w);
  completed.tail = w;
}

void StoreEnforcer::complete(std::unique_ptr<Waiting> waiting) {
  after_write(waiting->durable);
  if (waiting->admitted)
    waiting->admitted(std::move(waiting->admission));
  else if (waiting->done)
    waiting->done();
}

void StoreEnforcer::complete(Completed& completed) {
  completed.tail = nullptr;
  for (auto waiting = std::move(completed.head); waiting;) {
    auto next = std::move(waiting->next);
    complete(std::move(waiting));
    waiting = std::move(next);
  }
}

void StoreEnforcer::after_write(bool durable) {
  if (durable) {
    if (writes_failing_.load(std::memory_order_relaxed)) writes_failing_ = false;
    return;
  }
  // The decision stands in memory (requests keep flowing), only not on disk: counted, readiness
  // reports the store down until a write succeeds, and the first failure of a spell is an error
  // event (the log, webhooks), not every failed write of it.
  const std::uint64_t failures = ++write_failures_;
  if (writes_failing_.exchange(true)) return;
  events_.emit({0, clock_.now(), budget::EventType::error, "", "",
                "the ledger store could not record a change: decisions stand in memory but are "
                "not durable until a write succeeds",
                EventDetail().num("failures", static_cast<std::int64_t>(failures)).done()});
}

void StoreEnforcer::write_and_wait(std::unique_lock<std::mutex>& lock, Mutation mutation) {
  std::promise<void> written;
  auto done = written.get_future();
  auto waiting = std::make_unique<Waiting>();
  waiting->done = [&written] { written.set_value(); };
  Completed completed;
  write(std::move(mutation), std::move(waiting), completed);
  lock.unlock();
  complete(completed);
  done.wait();
}

}  // namespace budget
