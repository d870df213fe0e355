#include "budget/breakers.hpp"

#include <algorithm>

#include "budget/event_detail.hpp"
#include "budget/period_window.hpp"

namespace budget {
namespace {

using std::chrono::seconds;

std::int64_t seconds_until(TimePoint until, TimePoint now) {
  const auto left = std::chrono::ceil<seconds>(until - now).count();
  return std::max<std::int64_t>(1, left);
}

Admission breaker_refusal(const std::string& name, std::string message, std::int64_t retry_s,
                          bool retry) {
  Admission a;
  a.admitted = false;
  a.refused_by = RefusedBy::breaker;
  a.name = name;
  a.message = std::move(message);
  a.retry_after_s = retry_s;
  a.should_retry = retry;
  return a;
}

Event breaker_event(TimePoint now, const std::string& name, const std::string& state,
                    std::string message) {
  return {0,
          now,
          budget::EventType::breaker,
          "",
          "",
          std::move(message),
          EventDetail().str("breaker", name).str("state", state).done()};
}

Event opened_event(const rules::BreakerConfig& c, std::int64_t sum, TimePoint now) {
  return breaker_event(now, c.name, "open",
                       "breaker \"" + c.name + "\" opened: " + rules::format_micros(sum) + " " +
                           c.currency + " spent within " +
                           format_span(std::chrono::duration_cast<seconds>(c.window)) + " (limit " +
                           rules::format_micros(c.limit) + ")");
}

std::string open_message(const rules::BreakerConfig& c, const std::string& closes) {
  return "breaker \"" + c.name + "\" is open: spend over " + rules::format_micros(c.limit) + " " +
         c.currency + " within " + format_span(std::chrono::duration_cast<seconds>(c.window)) +
         "; closes " + closes;
}

}  // namespace

void Breakers::apply(const rules::Config& config, bool shared_store) {
  std::vector<Spend> next;
  upstream_config_.reset();
  for (const auto& b : config.breakers) {
    if (b.kind == rules::BreakerConfig::Kind::upstream_failures) {
      upstream_config_ = b;
      continue;
    }
    // A breaker that survives a reload keeps its window and state.
    auto old = std::find_if(spend_.begin(), spend_.end(),
                            [&](const Spend& s) { return s.config.name == b.name; });
    Spend s = old != spend_.end() ? std::move(*old) : Spend{};
    s.config = b;
    s.remote = b.shared && shared_store;
    next.push_back(std::move(s));
  }
  spend_ = std::move(next);
}

std::optional<Admission> Breakers::check(const std::string& currency, const std::string& host,
                                         TimePoint now, std::vector<std::string>& trials) {
  trials.clear();
  std::vector<Event> none;
  // A refusal by one breaker must not leave another's trial taken by this request.
  auto refuse = [&](Admission refusal) {
    trial_done(trials, false, now, none);
    trials.clear();
    return refusal;
  };
  for (auto& s : spend_) {
    if (s.config.currency != currency || !s.open || s.remote) continue;
    const std::string closes =
        s.open_until > now ? format_utc(s.open_until) + " (in " +
                                 format_span(seconds(seconds_until(s.open_until, now))) + ")"
                           : "after a trial request";
    std::string message = open_message(s.config, closes);
    if (now < s.open_until)
      return refuse(
          breaker_refusal(s.config.name, message, seconds_until(s.open_until, now), false));
    if (s.trial_out) return refuse(breaker_refusal(s.config.name, message, 1, true));
    s.trial_out = true;  // half-open: this request is the one let through
    trials.push_back(s.config.name);
  }
  if (upstream_config_) {
    auto it = hosts_.find(host);
    if (it != hosts_.end() && it->second.open && now < it->second.open_until) {
      const auto& c = *upstream_config_;
      return refuse(breaker_refusal(
          c.name,
          "breaker \"" + c.name + "\" is open for " + host + " after " +
              std::to_string(c.failures) + " consecutive upstream failures; retry in " +
              format_span(seconds(seconds_until(it->second.open_until, now))),
          seconds_until(it->second.open_until, now), true));
    }
  }
  return std::nullopt;
}

void Breakers::trial_done(const std::vector<std::string>& trials, bool settled, TimePoint now,
                          std::vector<Event>& events) {
  for (auto& s : spend_) {
    if (!s.trial_out || std::find(trials.begin(), trials.end(), s.config.name) == trials.end())
      continue;
    s.trial_out = false;
    if (!settled || !s.open) continue;  // released: the next request becomes the trial
    s.open = false;
    events.push_back(
        breaker_event(now, s.config.name, "closed", "breaker \"" + s.config.name + "\" closed"));
  }
}

void Breakers::spent(const std::string& currency, std::int64_t amount, TimePoint now,
                     std::vector<Event>& events) {
  for (auto& s : spend_) {
    if (s.config.currency != currency || s.remote) continue;
    // Amounts are kept per bucket of a 600th of the window (1 ms at least), each counted until a
    // whole window has passed since its bucket's end: a busy window keeps ~600 entries, however
    // many settlements it holds, and an amount counts at most a bucket longer than the window.
    const auto bucket = std::max<rules::Duration>(rules::Duration(1),
                                                  (s.config.window + rules::Duration(599)) / 600);
    while (!s.charges.empty() && s.charges.front().first + s.config.window <= now) {
      s.sum -= s.charges.front().second;
      s.charges.pop_front();
    }
    const auto since_epoch = std::chrono::duration_cast<rules::Duration>(now.time_since_epoch());
    const TimePoint end{(since_epoch / bucket + 1) * bucket};
    if (!s.charges.empty() && s.charges.back().first == end)
      s.charges.back().second += amount;
    else
      s.charges.emplace_back(end, amount);
    s.sum += amount;
    if (s.open || s.sum <= s.config.limit) continue;
    s.open = true;
    s.open_until = now + s.config.cooldown;
    events.push_back(opened_event(s.config, s.sum, now));
    // The spike that tripped it is accounted for: after the cooldown the window starts afresh.
    s.charges.clear();
    s.sum = 0;
  }
}

void Breakers::upstream_result(const std::string& host, bool ok, TimePoint now,
                               std::vector<Event>& events) {
  if (!upstream_config_) return;
  const auto& c = *upstream_config_;
  Upstream& u = hosts_[host];
  if (ok) {
    u.failures = 0;
    if (u.open && ++u.successes >= c.successes) {
      u.open = false;
      u.successes = 0;
      events.push_back(breaker_event(now, c.name + ":" + host, "closed",
                                     "breaker \"" + c.name + "\" closed for " + host));
    }
    return;
  }
  u.successes = 0;
  ++u.failures;
  // Half-open (open, cooldown over): one failure re-opens it.
  const bool half_open = u.open && now >= u.open_until;
  if ((!u.open && u.failures >= c.failures) || half_open) {
    const bool was_open = u.open;
    u.open = true;
    u.open_until = now + c.open_for;
    if (!was_open)
      events.push_back(breaker_event(now, c.name + ":" + host, "open",
                                     "breaker \"" + c.name + "\" opened for " + host + " after " +
                                         std::to_string(u.failures) + " consecutive failures"));
  }
}

Breakers::Spend* Breakers::find(const std::string& name) {
  for (auto& s : spend_)
    if (s.config.name == name) return &s;
  return nullptr;
}

std::vector<SharedLedger::BreakerPart> Breakers::shared_parts(const std::string& currency) const {
  std::vector<SharedLedger::BreakerPart> out;
  for (const auto& s : spend_) {
    if (!s.remote || s.config.currency != currency) continue;
    const std::int64_t window =
        std::max<std::int64_t>(1, std::chrono::duration_cast<seconds>(s.config.window).count());
    out.push_back(
        {s.config.name, s.config.limit, window, SharedLedger::rolling_bucket(window),
         std::max<std::int64_t>(
             1, std::chrono::duration_cast<std::chrono::milliseconds>(s.config.cooldown).count())});
  }
  return out;
}

Admission Breakers::shared_refusal(const std::string& name, std::int64_t wait_ms, bool trial_out,
                                   TimePoint now) {
  Spend* s = find(name);
  const std::int64_t wait_s = std::max<std::int64_t>(1, (wait_ms + 999) / 1000);
  if (!s) return breaker_refusal(name, "breaker \"" + name + "\" is open", wait_s, trial_out);
  s->open = true;
  const auto until = now + std::chrono::milliseconds(wait_ms);
  return breaker_refusal(
      name,
      open_message(s->config,
                   trial_out ? std::string("after a trial request")
                             : format_utc(until) + " (in " + format_span(seconds(wait_s)) + ")"),
      wait_s, trial_out);
}

std::size_t Breakers::kept_charges() const {
  std::size_t n = 0;
  for (const auto& s : spend_) n += s.charges.size();
  return n;
}

std::vector<std::string> Breakers::shared_names() const {
  std::vector<std::string> out;
  for (const auto& s : spend_)
    if (s.remote) out.push_back(s.config.name);
  return out;
}

void Breakers::mirror(const std::string& name, bool open) {
  if (Spend* s = find(name)) s->open = open;
}

void Breakers::shared_change(const std::string& name, SharedLedger::BreakerChange change,
                             TimePoint now, std::vector<Event>& events) {
  using Kind = SharedLedger::BreakerChange::Kind;
  Spend* s = find(name);
  if (!s || change.kind == Kind::none) return;
  s->open = change.kind == Kind::opened;
  if (change.kind == Kind::opened)
    events.push_back(opened_event(s->config, change.spent, now));
  else
    events.push_back(breaker_event(now, name, "closed", "breaker \"" + name + "\" closed"));
}

std::vector<BreakerStanding> Breakers::standings(TimePoint now) const {
  std::vector<BreakerStanding> out;
  for (const auto& s : spend_) out.push_back({s.config.name, s.open});
  if (upstream_config_)
    for (const auto& [host, u] : hosts_)
      out.push_back({upstream_config_->name + ":" + host, u.open && now < u.open_until});
  return out;
}

}  // namespace budget
