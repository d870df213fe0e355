#pragma once
// budget::BalanceBook — provider-reported balances (Keepa tokensLeft) per provider and hashed
// credential: the last observation, refilled at refill_per_minute since, minus live holds.
// Not thread-safe: the enforcer calls it under its one mutex.

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "budget/enforcer.hpp"

namespace budget {

class BalanceBook {
 public:
  // Records what a response said; a warning event is appended when the balance falls below
  // warn_below (once per crossing).
  void observe(const BalanceObservation& observation, const rules::BalanceConfig& config,
               TimePoint now, std::vector<Event>& events);

  // observed + refill since + ... - holds; nullopt before the first observation (nothing known).
  std::optional<std::int64_t> available(const std::string& provider, const std::string& credential,
                                        const rules::BalanceConfig& config, TimePoint now) const;

  // The refill rate in effect (observed, else configured), micro-units per minute.
  std::int64_t refill_per_minute(const std::string& provider, const std::string& credential,
                                 const rules::BalanceConfig& config) const;

  void hold(const std::string& provider, const std::string& credential, std::int64_t amount);
  void unhold(const std::string& provider, const std::string& credential, std::int64_t amount);

  // Re-checks warn_below after holds changed the balance.
  void check_warning(const std::string& provider, const std::string& credential,
                     const rules::BalanceConfig& config, TimePoint now, std::vector<Event>& events);

  std::vector<BalanceStanding> standings(TimePoint now, const rules::Config& config) const;

  // Accounts kept (tests).
  std::size_t accounts() const { return accounts_.size(); }

 private:
  struct Account {
    std::optional<std::int64_t> observed, refill;
    TimePoint at{};
    std::int64_t holds = 0;
    bool warned = false;
  };
  using Key = std::pair<std::string, std::string>;
  std::map<Key, Account> accounts_;
};

}  // namespace budget
