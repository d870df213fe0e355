#pragma once
// budget::Breakers — the circuit breakers of `breakers:`. A spend breaker opens when settled spend
// in its currency within `window` exceeds `limit`, refuses that currency for `cooldown`, then lets
// one trial request through (half-open) and closes once it settles. An upstream-failure breaker
// (per provider host) opens after `failures` consecutive failures for `open_for`, then lets
// requests through and closes after `successes` consecutive successes (a failure re-opens it).
// Not thread-safe: the enforcer calls it under its one mutex.

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "budget/enforcer.hpp"

namespace budget {

class Breakers {
 public:
  void apply(const rules::Config& config);

  // A refusal when a breaker covering this currency or host is open. `trials` gets the spend
  // breakers whose half-open trial this request becomes (to pass to trial_done).
  std::optional<Admission> check(const std::string& currency, const std::string& host,
                                 TimePoint now, std::vector<std::string>& trials);

  // The trials admitted by check() ended (settled or released): those breakers close on settle.
  void trial_done(const std::vector<std::string>& trials, bool settled, TimePoint now,
                  std::vector<Event>& events);

  // Settled spend, for the spend breakers' windows.
  void spent(const std::string& currency, std::int64_t amount, TimePoint now,
             std::vector<Event>& events);

  void upstream_result(const std::string& host, bool ok, TimePoint now, std::vector<Event>& events);

  std::vector<BreakerStanding> standings(TimePoint now) const;

 private:
  struct Spend {
    rules::BreakerConfig config;
    std::deque<std::pair<TimePoint, std::int64_t>> charges;
    std::int64_t sum = 0;
    TimePoint open_until{};
    bool open = false;
    bool trial_out = false;
  };
  struct Upstream {
    int failures = 0, successes = 0;
    bool open = false;
    TimePoint open_until{};
  };
  std::vector<Spend> spend_;
  std::optional<rules::BreakerConfig> upstream_config_;
  std::map<std::string, Upstream> hosts_;
};

}  // namespace budget
