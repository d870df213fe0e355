#pragma once
// The live realtime sessions a budget event may concern: a threshold of a warn_client budget
// instance is handed to every session spending from that instance, so that its client hears of
// it (DESIGN §12). Thread-safe: events come from whichever thread settled.

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "budget/enforcer.hpp"

namespace proxy {

class RealtimeRegistry {
 public:
  // Runs on the thread that emitted the event; must not block (the glue posts it to the
  // session's own thread).
  using Deliver = std::function<void(const budget::Event&)>;
  using Instances = std::vector<std::pair<std::string, std::string>>;  // (budget, key)

  std::uint64_t add(Instances instances, Deliver deliver);
  // After it returns, `deliver` of that session is not running and will not run again.
  void remove(std::uint64_t id);
  // Threshold events go to the sessions whose instances include the event's.
  void dispatch(const budget::Event& event) const;

 private:
  struct Entry {
    Instances instances;
    Deliver deliver;
  };
  mutable std::mutex mutex_;
  std::map<std::uint64_t, Entry> sessions_;
  std::uint64_t next_ = 1;
};

}  // namespace proxy
