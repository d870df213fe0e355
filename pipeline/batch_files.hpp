#pragma once
// The batch input files tollgate saw uploaded (POST /v1/files with purpose "batch"), priced
// when they went through, so that the batch created from one later (POST /v1/batches) holds what
// its requests cost. In memory: after a restart, or past the bound, a batch falls back to the
// provider's batch_estimate.

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace proxy {

class BatchFiles {
 public:
  static constexpr std::size_t k_max_files = 10000;

  struct Priced {
    std::int64_t micros = 0;  // the requests at full price
    std::int64_t requests = 0;
    std::optional<std::string> error;  // a line that cannot be priced: the batch is refused
  };

  // Remembers the price of file `id` of `provider`; the oldest is forgotten past k_max_files.
  void remember(const std::string& provider, const std::string& id, Priced priced);
  std::optional<Priced> find(const std::string& provider, const std::string& id) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, Priced> files_;  // "provider\x1fid"
  std::deque<std::string> order_;
};

}  // namespace proxy
