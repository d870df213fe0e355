#pragma once
// budget::Store — the durable journal behind the ledger. Decisions are made in memory (the
// enforcer's state is authoritative while running); a store only makes them durable and gives
// them back at start. Every write is applied in submission order.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace budget {

class SharedLedger;  // budget/shared_ledger.hpp

// Spent amount of one budget instance in one period. For rolling periods, one row per second
// in which charges were made (period_start = that second), so that a window slides exactly.
struct SpentRow {
  std::string budget, key;
  std::int64_t period_start = 0;  // unix seconds; 0 for period: total
  std::int64_t amount = 0;        // micro-units
};

struct HoldPart {
  std::string budget, key;
  std::int64_t estimate = 0;
};

struct HoldRow {
  std::uint64_t id = 0;
  std::int64_t deadline = 0;  // unix seconds
  std::vector<HoldPart> parts;
};

struct LimitRow {
  std::string budget;
  std::int64_t limit = 0;
  std::int64_t config_limit = 0;  // the config's limit when it was set: a new one supersedes it
};

struct OverrideRow {
  std::string budget, key, reason;
  std::int64_t extra = 0;
  std::int64_t until = 0;  // unix seconds
};

// Everything a store holds, as loaded at start.
struct StoreSnapshot {
  std::vector<SpentRow> spent;
  std::vector<HoldRow> holds;
  std::vector<LimitRow> limits;
  std::vector<OverrideRow> overrides;
  bool complete = true;  // false: the store could not be read (what is here is partial)
};

// One change; the kinds mirror the ledger's operations.
struct Mutation {
  enum class Kind { open_hold, close_hold, reset, set_limit, add_override };
  Kind kind = Kind::open_hold;
  HoldRow hold;               // open_hold: the hold; close_hold: only id
  std::vector<SpentRow> add;  // close_hold: amounts added to spent (may be empty: release)
  SpentRow row;               // reset: budget, key ("" = all), period_start = from
  LimitRow limit;             // set_limit
  OverrideRow override_;      // add_override
};

class Store {
 public:
  virtual ~Store() = default;

  // Returns the durable state as of the last committed write.
  virtual StoreSnapshot load() = 0;

  // Makes `mutation` durable, then calls `done` (possibly on another thread, possibly later).
  virtual void write(Mutation mutation, std::function<void()> done) = 0;

  // Returns false after a write failed (the store is not reachable or not writable).
  virtual bool healthy() const = 0;

  // False for a store that keeps nothing (writes need not be made at all).
  virtual bool persistent() const { return true; }

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
