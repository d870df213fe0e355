#pragma once
// budget::Breakers — the circuit breakers of `breakers:`. A spend breaker opens when settled spend
// in its currency within `window` exceeds `limit`, refuses that currency for `cooldown`, then lets
// one trial request through (half-open) and closes once it settles. An upstream-failure breaker
// (per provider host) opens after `failures` consecutive failures for `open_for`, then lets
// requests through and closes after `successes` consecutive successes (a failure re-opens it).
// A spend breaker marked `shared` on a shared store is decided by the store instead
// (SharedLedger::BreakerPart): check() and spent() pass it by, and this class only mirrors what
// the store tells of it, for standings, refusals and events.
// Not thread-safe: the enforcer calls it under its one mutex.

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "budget/enforcer.hpp"
#include "budget/store/shared_ledger.hpp"

namespace budget {

class Breakers {
 public:
  // `shared_store`: the store is shared (redis), so breakers marked `shared` are decided there.
  void apply(const rules::Config& config, bool shared_store = false);

  // The shared breakers covering `currency`, as the shared store takes them.
  std::vector<SharedLedger::BreakerPart> shared_parts(const std::string& currency) const;
  // The refusal of shared breaker `name`, open for `wait_ms` more (trial_out: its cooldown is
  // over and another request is its trial); mirrors it as open.
  Admission shared_refusal(const std::string& name, std::int64_t wait_ms, bool trial_out,
                           TimePoint now);
  // The names of the breakers the shared store decides.
  std::vector<std::string> shared_names() const;
  // What the store said of shared breaker `name`: open (or half-open) or not.
  void mirror(const std::string& name, bool open);
  // A change a close of this process made to shared breaker `name`: its event, and the mirror.
  void shared_change(const std::string& name, SharedLedger::BreakerChange change, TimePoint now,
                     std::vector<Event>& events);

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

  // The entries the spend breakers' windows keep (tests: bounded however busy a window is).
  std::size_t kept_charges() const;

 private:
  struct Spend {
    rules::BreakerConfig config;
    bool remote = false;  // decided by the shared store; `open` mirrors it
    std::deque<std::pair<TimePoint, std::int64_t>> charges;  // per bucket: its end, its sum
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
  Spend* find(const std::string& name);
  std::vector<Spend> spend_;
  std::optional<rules::BreakerConfig> upstream_config_;
  std::map<std::string, Upstream> hosts_;
};

}  // namespace budget
