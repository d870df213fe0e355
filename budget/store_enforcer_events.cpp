// The events of a decision: a refusal (sampled per second and per refusing mechanism and name)
// and the would_refuse of shadow budgets an admitted request exceeds.
#include "budget/event_detail.hpp"
#include "budget/refusal_text.hpp"
#include "budget/store_enforcer.hpp"
#include "util/time.hpp"

namespace budget {
namespace {

using util::unix_seconds;

}  // namespace

Admission StoreEnforcer::refuse(Admission refusal, const std::string& provider,
                                const std::string& endpoint, std::int64_t estimate, TimePoint now,
                                std::vector<Event>& events) {
  // Sampled: a refusal storm must not flush every other event out of the list. What was
  // left out is counted in the next refusal event of the same mechanism and name.
  RefusalSample& sample =
      refusal_samples_[std::string(refused_by_name(refusal.refused_by)) + "/" + refusal.name];
  const std::int64_t second = unix_seconds(now);
  if (sample.second != second) {
    sample.second = second;
    sample.emitted = 0;
  }
  if (sample.emitted >= k_refusal_events_per_second) {
    ++sample.suppressed;
    return refusal;
  }
  ++sample.emitted;
  events.push_back({0, now, EventType::refused,
                    refusal.refused_by == RefusedBy::budget ? refusal.name : "", "",
                    refusal.message,
                    EventDetail()
                        .str("refused_by", refused_by_name(refusal.refused_by))
                        .str("name", refusal.name)
                        .str("provider", provider)
                        .str("endpoint", endpoint)
                        .str("estimate", rules::format_micros(estimate))
                        .num("suppressed_before", static_cast<std::int64_t>(sample.suppressed))
                        .done()});
  sample.suppressed = 0;
  return refusal;
}

void StoreEnforcer::note_shadow(const LiveHold& hold, const std::vector<BudgetState*>& shadow_over,
                                const std::string& provider, const std::string& endpoint,
                                std::int64_t estimate, TimePoint now, std::vector<Event>& events,
                                Admission& admission) {
  for (BudgetState* budget : shadow_over) {
    auto part = std::find_if(hold.parts.begin(), hold.parts.end(),
                             [&](const auto& p) { return p.first == budget; });
    if (part == hold.parts.end())
      part = std::find_if(hold.shared.begin(), hold.shared.end(),
                          [&](const auto& p) { return p.first == budget; });
    Admission would = budget_refusal(book_.standing(*budget, *part->second, now), estimate, now);
    events.push_back({0, now, EventType::would_refuse, budget->config.name, part->second->key,
                      would.message,
                      EventDetail()
                          .str("provider", provider)
                          .str("endpoint", endpoint)
                          .str("estimate", rules::format_micros(estimate))
                          .done()});
    admission.shadow_refusals.push_back(budget->config.name);
  }
}

}  // namespace budget
