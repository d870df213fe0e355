#pragma once
// The append-only audit log of admin mutations (DESIGN §8): one JSON line per mutation in
// <data_dir>/audit.log, fsync'd before the call is answered, so an acknowledged change is on disk.

#include <mutex>
#include <string>

#include "budget/enforcer.hpp"

namespace proxy {

struct AuditEntry {
  budget::TimePoint time{};
  std::string caller;  // "127.0.0.1:53412"
  std::string action;  // budget.reset | budget.set_limit | override.add | config.reload
  std::string target;  // budget name, "budget/key", or the config file
  std::string before;  // JSON text ("null" when nothing was there)
  std::string after;   // JSON text
  std::string reason;
};

class AuditLog {
 public:
  // `path` "" disables the log (append() then does nothing). The file is created 0600 and its
  // folder made when missing; throws std::runtime_error when it cannot be opened (start-up only).
  explicit AuditLog(std::string path);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Writes one line and fsyncs it; false (and a log message) when the write failed.
  bool append(const AuditEntry& entry);

  // The JSON line append() writes for `entry`, without the newline.
  static std::string format(const AuditEntry& entry);

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::mutex mutex_;
};

}  // namespace proxy
