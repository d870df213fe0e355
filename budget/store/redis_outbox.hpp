#pragma once
// budget::RedisOutbox — the closes of shared holds that Redis could not take when they were made
// (it was down, or the connection dropped before the reply), kept in SQLite until it can:
// <data_dir>/redis-outbox.db, or in memory without a data_dir. A close is idempotent in Redis (by
// its hold id), so replaying one that did reach Redis counts nothing twice. Not thread-safe: the
// Redis ledger uses it on its connection's thread only.

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace budget {

// One close, as the close script takes it.
struct PendingClose {
  std::uint64_t hold = 0;
  std::string member;    // the hold's member in the deadline set ("" when it was never sent)
  std::string estimate;  // micro-units reserved
  std::string actual;    // micro-units, or "-1" for a release
  // The hold was admitted while Redis could not be reached: its counters are charged when Redis
  // holds no reservation of it.
  bool unreserved = false;
  std::vector<std::string> keys;       // the hold's counters
  std::vector<std::int64_t> key_ttls;  // their TTLs (seconds; 0 = none)
  // Their rolling windows and buckets (seconds; 0 = a calendar period): as many as keys, or none.
  std::vector<std::int64_t> key_windows, key_buckets;
  // Shared breakers: the key of each one's state (its window's is that key + ":w") and, four per
  // breaker, its limit, window (s), bucket (s) and cooldown (ms).
  std::vector<std::string> breaker_keys;
  std::vector<std::int64_t> breaker_args;
};

class RedisOutbox {
 public:
  // Opens (creates) the file; throws std::runtime_error when it cannot.
  explicit RedisOutbox(const std::string& path);
  ~RedisOutbox();
  RedisOutbox(const RedisOutbox&) = delete;
  RedisOutbox& operator=(const RedisOutbox&) = delete;

  // Keeps `closes` (one transaction; a later close of the same hold replaces an earlier one);
  // false when they could not be written.
  bool add(const std::vector<PendingClose>& closes);
  // Forgets the closes of `holds` (Redis took them).
  void remove(const std::vector<std::uint64_t>& holds);
  std::vector<PendingClose> all();
  std::size_t size() const { return size_; }

 private:
  std::size_t count();

  sqlite3* db_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace budget
