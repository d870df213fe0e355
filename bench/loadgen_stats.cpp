#include "bench/loadgen_stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace bench {

void Stats::merge(const Stats& other) {
  samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
  sorted_ = false;
}

double Stats::percentile_us(double p) {
  if (samples_.empty()) return 0;
  if (!sorted_) {
    std::sort(samples_.begin(), samples_.end());
    sorted_ = true;
  }
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * samples_.size()));
  const auto index = std::min(samples_.size() - 1, rank == 0 ? 0 : rank - 1);
  return samples_[index] / 1000.0;
}

std::string Stats::summary(const std::string& prefix) {
  char line[512];
  std::snprintf(
      line, sizeof line, "%sp50_us=%.1f %sp90_us=%.1f %sp99_us=%.1f %sp999_us=%.1f %smax_us=%.1f",
      prefix.c_str(), percentile_us(50), prefix.c_str(), percentile_us(90), prefix.c_str(),
      percentile_us(99), prefix.c_str(), percentile_us(99.9), prefix.c_str(), percentile_us(100));
  return line;
}

}  // namespace bench
