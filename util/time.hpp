#pragma once
// Unix time of a system_clock point, the one conversion the ledger and its stores share.

#include <chrono>
#include <cstdint>

namespace util {

inline std::int64_t unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace util
