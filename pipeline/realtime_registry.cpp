#include "pipeline/realtime_registry.hpp"

#include <algorithm>

namespace proxy {

std::uint64_t RealtimeRegistry::add(Instances instances, Deliver deliver) {
  std::lock_guard lock(mutex_);
  const std::uint64_t id = next_++;
  sessions_.emplace(id, Entry{std::move(instances), std::move(deliver)});
  return id;
}

void RealtimeRegistry::remove(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  sessions_.erase(id);
}

void RealtimeRegistry::dispatch(const budget::Event& event) const {
  if (event.type != budget::EventType::threshold) return;
  std::lock_guard lock(mutex_);
  for (const auto& [id, entry] : sessions_) {
    const bool concerned = std::any_of(
        entry.instances.begin(), entry.instances.end(),
        [&](const auto& i) { return i.first == event.budget && i.second == event.key; });
    if (concerned) entry.deliver(event);
  }
}

}  // namespace proxy
