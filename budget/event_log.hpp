#pragma once
// budget::EventLog — the bounded list of recent events (thresholds, refusals, breaker trips,
// admin actions) the admin API serves, and the listeners (webhooks, log) told of each one.

#include <cstdint>
#include <deque>
#include <functional>
#include <memory_resource>
#include <mutex>
#include <string>
#include <vector>

#include "budget/enforcer.hpp"

namespace budget {

class EventLog {
 public:
  explicit EventLog(std::size_t capacity = 10'000) : capacity_(capacity) {}

  // Gives the event the next id (from 1), stores it (dropping the oldest past capacity), then
  // calls every listener synchronously on this thread.
  void emit(Event event);

  // Events with id > `id`, oldest first, at most `max`.
  std::vector<Event> since(std::uint64_t id, std::size_t max) const;

  // The id of the newest event (0 before the first).
  std::uint64_t last_id() const;

  void on_event(std::function<void(const Event&)> listener);

 private:
  // An event as kept: its strings and the deque's blocks come from pool_, so that the 10,000
  // events a burst can leave behind sit together instead of one or two between every two
  // connections' freed memory, where they would keep the heap's pages from going back.
  struct Kept {
    std::uint64_t id;
    TimePoint at;
    EventType type;
    std::pmr::string budget, key, message, detail_json;
  };

  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::pmr::unsynchronized_pool_resource pool_;  // under mutex_
  std::pmr::deque<Kept> events_{&pool_};
  std::uint64_t next_id_ = 1;
  std::vector<std::function<void(const Event&)>> listeners_;
};

}  // namespace budget
