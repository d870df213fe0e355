#include "budget/balance_book.hpp"

#include <algorithm>

#include "budget/event_detail.hpp"

namespace budget {
namespace {

std::int64_t refill_since(std::int64_t per_minute, TimePoint at, TimePoint now) {
  if (per_minute <= 0 || now <= at) return 0;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - at).count();
  // Whole micro-units only: round down so a refill is never credited early.
  return static_cast<std::int64_t>(static_cast<__int128>(per_minute) * ms / 60'000);
}

}  // namespace

void BalanceBook::observe(const BalanceObservation& observation, const rules::BalanceConfig& config,
                          TimePoint now, std::vector<Event>& events) {
  Account& account = accounts_[{observation.provider, observation.credential_hash}];
  if (observation.refill_per_minute) account.refill = observation.refill_per_minute;
  if (observation.balance) {
    account.observed = observation.balance;
    account.at = now;
  }
  check_warning(observation.provider, observation.credential_hash, config, now, events);
}

std::int64_t BalanceBook::refill_per_minute(const std::string& provider,
                                            const std::string& credential,
                                            const rules::BalanceConfig& config) const {
  auto it = accounts_.find({provider, credential});
  if (it != accounts_.end() && it->second.refill) return *it->second.refill;
  return config.refill_per_minute.value_or(0);
}

std::optional<std::int64_t> BalanceBook::available(const std::string& provider,
                                                   const std::string& credential,
                                                   const rules::BalanceConfig& config,
                                                   TimePoint now) const {
  auto it = accounts_.find({provider, credential});
  if (it == accounts_.end() || !it->second.observed) return std::nullopt;
  const Account& a = it->second;
  return *a.observed + refill_since(refill_per_minute(provider, credential, config), a.at, now) -
         a.holds;
}

void BalanceBook::hold(const std::string& provider, const std::string& credential,
                       std::int64_t amount) {
  accounts_[{provider, credential}].holds += amount;
}

void BalanceBook::unhold(const std::string& provider, const std::string& credential,
                         std::int64_t amount) {
  auto it = accounts_.find({provider, credential});
  if (it == accounts_.end()) return;
  it->second.holds -= amount;
  // An account the provider never reported on is only its holds: gone with the last of them, so
  // that credentials seen once (a client cycling keys) do not stay for the life of the process.
  if (it->second.holds == 0 && !it->second.observed) accounts_.erase(it);
}

void BalanceBook::check_warning(const std::string& provider, const std::string& credential,
                                const rules::BalanceConfig& config, TimePoint now,
                                std::vector<Event>& events) {
  if (!config.warn_below) return;
  const auto left = available(provider, credential, config, now);
  if (!left) return;
  Account& account = accounts_[{provider, credential}];
  if (*left >= *config.warn_below) {
    account.warned = false;
    return;
  }
  if (account.warned) return;
  account.warned = true;
  events.push_back({0, now, budget::EventType::balance_warning, "", credential,
                    provider + " balance low: " + rules::format_micros(*left) + " left, below " +
                        rules::format_micros(*config.warn_below),
                    EventDetail()
                        .str("provider", provider)
                        .str("account", credential)
                        .str("balance", rules::format_micros(*left))
                        .str("warn_below", rules::format_micros(*config.warn_below))
                        .done()});
}

std::vector<BalanceStanding> BalanceBook::standings(TimePoint now,
                                                    const rules::Config& config) const {
  std::vector<BalanceStanding> out;
  for (const auto& [key, account] : accounts_) {
    if (!account.observed) continue;
    const auto provider =
        std::find_if(config.providers.begin(), config.providers.end(),
                     [&](const rules::Provider& p) { return p.name == key.first; });
    const rules::BalanceConfig none;
    const rules::BalanceConfig& balance =
        provider != config.providers.end() && provider->balance ? *provider->balance : none;
    BalanceStanding s;
    s.provider = key.first;
    s.account = key.second;
    s.observed = *account.observed;
    s.refill_per_minute = refill_per_minute(key.first, key.second, balance);
    s.holds = account.holds;
    s.estimated_now = *available(key.first, key.second, balance, now);
    s.at = account.at;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace budget
