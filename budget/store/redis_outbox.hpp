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
  std::string actual;                  // micro-units, or "-1" for a release
  std::vector<std::string> keys;       // counters to charge when Redis holds no reservation
  std::vector<std::int64_t> key_ttls;  // their TTLs (seconds; 0 = none)
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
