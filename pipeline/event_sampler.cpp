// EventSampler (enforcement_hooks.hpp): the hooks' own events, sampled per key and window.
#include <algorithm>
#include <chrono>
#include <utility>

#include "pipeline/enforcement_hooks.hpp"

namespace proxy {

void EventSampler::emit(budget::Enforcer& enforcer,
                        const std::vector<std::pair<std::string, Rate>>& keys, budget::Event event,
                        budget::EventDetail detail) {
  const std::int64_t second =
      std::chrono::duration_cast<std::chrono::seconds>(event.at.time_since_epoch()).count();
  std::int64_t suppressed = 0;
  {
    std::lock_guard lock(mutex_);
    if (samples_.size() > k_max_keys) samples_.clear();  // names from the network: bounded
    bool allowed = true;
    for (const auto& [key, rate] : keys) {
      Sample& sample = samples_[key];
      const std::int64_t window = second / std::max<std::int64_t>(1, rate.window_s);
      if (sample.window != window) sample = {window, 0, sample.suppressed};
      allowed = allowed && sample.emitted < rate.per;
    }
    for (const auto& [key, rate] : keys) {
      Sample& sample = samples_[key];
      if (!allowed) {
        ++sample.suppressed;
        continue;
      }
      ++sample.emitted;
      const auto before = std::exchange(sample.suppressed, 0);
      if (&key == &keys.front().first) suppressed = before;
    }
    if (!allowed) return;
  }
  event.detail_json = detail.num("suppressed_before", suppressed).done();
  enforcer.emit(std::move(event));
}

}  // namespace proxy
