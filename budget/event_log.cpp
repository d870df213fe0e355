#include "budget/event_log.hpp"

#include <algorithm>

namespace budget {

void EventLog::emit(Event event) {
  std::vector<std::function<void(const Event&)>> listeners;
  {
    std::lock_guard lock(mutex_);
    event.id = next_id_++;
    if (event.detail_json.empty()) event.detail_json = "{}";
    events_.push_back({event.id, event.at, event.type, std::pmr::string(event.budget, &pool_),
                       std::pmr::string(event.key, &pool_), std::pmr::string(event.message, &pool_),
                       std::pmr::string(event.detail_json, &pool_)});
    if (events_.size() > capacity_) events_.pop_front();
    listeners = listeners_;
  }
  // Outside the lock: a listener may read the log (or emit) without deadlocking.
  for (const auto& listener : listeners) listener(event);
}

std::vector<Event> EventLog::since(std::uint64_t id, std::size_t max) const {
  std::lock_guard lock(mutex_);
  // Ids are consecutive, so the first wanted event's position is known without a search.
  std::vector<Event> out;
  if (events_.empty() || max == 0) return out;
  const std::uint64_t first = events_.front().id;
  const std::size_t skip = id < first ? 0 : static_cast<std::size_t>(id - first + 1);
  for (std::size_t i = skip; i < events_.size() && out.size() < max; ++i) {
    const Kept& e = events_[i];
    out.push_back({e.id, e.at, e.type, std::string(e.budget), std::string(e.key),
                   std::string(e.message), std::string(e.detail_json)});
  }
  return out;
}

std::uint64_t EventLog::last_id() const {
  std::lock_guard lock(mutex_);
  return next_id_ - 1;
}

void EventLog::on_event(std::function<void(const Event&)> listener) {
  std::lock_guard lock(mutex_);
  listeners_.push_back(std::move(listener));
}

}  // namespace budget
