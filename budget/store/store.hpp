#pragma once
// budget::Store — the durable journal behind the ledger. Decisions are made in memory (the
// enforcer's state is authoritative while running); a store only makes them durable and gives
// them back at start. Every write is applied in submission order.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "budget/store/mutation.hpp"
#include "budget/store/rows.hpp"

namespace budget {

class SharedLedger;  // budget/shared_ledger.hpp

// Everything a store holds, as loaded at start.
struct StoreSnapshot {
  std::vector<SpentRow> spent;
  std::vector<HoldRow> holds;
  std::vector<LimitRow> limits;
  std::vector<OverrideRow> overrides;
  bool complete = true;  // false: the store could not be read (what is here is partial)
};

class Store {
 public:
  virtual ~Store() = default;

  // Returns the durable state as of the last committed write.
  virtual StoreSnapshot load() = 0;

  // Makes `mutation` durable, then calls `done(true)`; `done(false)` when it could not (nothing
  // of it was kept). `done` runs once: later, on another thread, or at once inside write() (a
  // store that keeps nothing completes every write so).
  virtual void write(Mutation mutation, std::function<void(bool durable)> done) = 0;

  // Returns false after a write failed (the store is not reachable or not writable).
  virtual bool healthy() const = 0;

  // A store shared by several processes decides reservations itself (nullptr: decide in memory).
  virtual SharedLedger* shared() { return nullptr; }
};

// Wake-ups of store writer threads deferred to the end of an event-loop turn. On a thread that
// called defer_store_wakeups(true), a write that finds its store's writer asleep leaves the
// wake-up to flush_store_wakeups(), which the loop calls after each turn: the writes of one turn
// then share one wake-up and one commit. For a small turn (SQLite: up to 4 writes) and a writer
// asleep, flush_store_wakeups() commits on the calling thread instead and runs the callbacks
// there, after the commit. Such a thread must flush before it blocks on a write.
void defer_store_wakeups(bool on);
void flush_store_wakeups();

// Keeps nothing: state lives and dies with the process; `done` runs at once.
std::unique_ptr<Store> make_memory_store();

// SQLite in WAL mode at `path` (created if absent), with one writer thread committing queued
// writes in grouped transactions. Throws std::runtime_error when the file cannot be opened.
std::unique_ptr<Store> make_sqlite_store(const std::string& path);

// Redis at `url` (redis://host:port/db), keys under `prefix`: shared by every tollgate using it
// (see SharedLedger). Throws std::runtime_error when the first connection fails.
std::unique_ptr<Store> make_redis_store(const std::string& url, const std::string& prefix);

}  // namespace budget
