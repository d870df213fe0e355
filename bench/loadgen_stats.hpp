#pragma once
// Latency samples and their summary as one `key=value` line that bench/run.sh parses.

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

class Stats {
 public:
  void add(std::int64_t nanoseconds) { samples_.push_back(nanoseconds); }
  void merge(const Stats& other);
  std::size_t count() const { return samples_.size(); }

  // Nearest-rank percentile in microseconds (0 when empty); sorts the samples once.
  double percentile_us(double p);

  // "<prefix>p50_us=.. <prefix>p90_us=.. <prefix>p99_us=.. <prefix>p999_us=.. <prefix>max_us=.."
  std::string summary(const std::string& prefix);

 private:
  std::vector<std::int64_t> samples_;
  bool sorted_ = false;
};

}  // namespace bench
