#include "budget/store/cost_record.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <random>

#include "budget/store/record_query.hpp"
#include "util/time.hpp"

namespace budget {
namespace {

constexpr std::array<std::string_view, 5> k_outcomes = {"complete", "upstream_error", "client_gone",
                                                        "expired", "refused"};
constexpr std::array<std::string_view, 8> k_spend_keys = {
    "model", "client", "credential", "provider", "endpoint", "budget", "day", "hour"};

bool ends_with(std::string_view text, std::string_view tail) {
  return text.size() >= tail.size() && text.substr(text.size() - tail.size()) == tail;
}

}  // namespace

std::string_view outcome_name(RecordOutcome outcome) {
  return k_outcomes[static_cast<std::size_t>(outcome)];
}

std::optional<RecordOutcome> parse_outcome(std::string_view name) {
  for (std::size_t i = 0; i < k_outcomes.size(); ++i)
    if (k_outcomes[i] == name) return static_cast<RecordOutcome>(i);
  return std::nullopt;
}

std::int64_t CostRecord::input_tokens() const {
  std::int64_t n = 0;
  for (const auto& [name, count] : usage)
    if (ends_with(name, "input") || name == "cache_write") n += count;
  return n;
}

std::int64_t CostRecord::output_tokens() const {
  std::int64_t n = 0;
  for (const auto& [name, count] : usage)
    if (ends_with(name, "output") || name == "reasoning") n += count;
  return n;
}

std::string new_record_id() {
  static constexpr char k_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  thread_local std::mt19937_64 random{std::random_device{}()};
  const auto ms = static_cast<std::uint64_t>(util::unix_millis(std::chrono::system_clock::now()));
  const std::uint64_t high = random(), low = random();
  // 48 bits of time in 10 characters, then 80 random bits in 16.
  std::string id(26, '0');
  for (int i = 9; i >= 0; --i) id[9 - i] = k_alphabet[(ms >> (5 * i)) & 31];
  for (int i = 0; i < 16; ++i) {
    const std::uint64_t bits = i < 8 ? high >> (5 * i) : low >> (5 * (i - 8));
    id[10 + i] = k_alphabet[bits & 31];
  }
  return id;
}

std::string_view spend_key_name(SpendKey key) {
  return k_spend_keys[static_cast<std::size_t>(key)];
}

std::optional<SpendKey> parse_spend_key(std::string_view name) {
  for (std::size_t i = 0; i < k_spend_keys.size(); ++i)
    if (k_spend_keys[i] == name) return static_cast<SpendKey>(i);
  return std::nullopt;
}

std::string time_key(SpendKey key, std::int64_t hour) {
  const auto at = std::chrono::system_clock::time_point{std::chrono::seconds(hour)};
  const std::string text = util::format_rfc3339(at);
  return key == SpendKey::day ? text.substr(0, 10) : text;
}

void SpendGroup::add(const CostRecord& record) {
  ++requests;
  const bool was_refused = record.outcome == RecordOutcome::refused;
  refused += was_refused ? 1 : 0;
  spent += record.actual;
  estimated += was_refused ? 0 : record.estimate;
  input_tokens += record.input_tokens();
  output_tokens += record.output_tokens();
}

void SpendTally::add(const CostRecord& record) {
  const bool by_budget = std::find(query_.group_by.begin(), query_.group_by.end(),
                                   SpendKey::budget) != query_.group_by.end();
  if (!by_budget) return add(record, nullptr);
  static const std::string k_none;
  if (record.budgets.empty()) return add(record, &k_none);
  for (const auto& budget : record.budgets) add(record, &budget);
}

void SpendTally::add(const CostRecord& record, const std::string* budget) {
  std::vector<std::string> keys;
  keys.reserve(query_.group_by.size() + 1);
  const std::int64_t hour = record.at / 1000 / 3600 * 3600;
  for (SpendKey key : query_.group_by) {
    switch (key) {
      case SpendKey::model:
        keys.push_back(record.model);
        break;
      case SpendKey::client:
        keys.push_back(record.client);
        break;
      case SpendKey::credential:
        keys.push_back(record.credential);
        break;
      case SpendKey::provider:
        keys.push_back(record.provider);
        break;
      case SpendKey::endpoint:
        keys.push_back(record.endpoint);
        break;
      case SpendKey::budget:
        keys.push_back(*budget);
        break;
      case SpendKey::day:
      case SpendKey::hour:
        keys.push_back(time_key(key, hour));
        break;
    }
  }
  keys.push_back(record.currency);
  auto [it, fresh] = groups_.try_emplace(keys);
  if (fresh) {
    it->second.currency = keys.back();
    it->second.keys.assign(keys.begin(), keys.end() - 1);
  }
  it->second.add(record);
}

std::vector<SpendGroup> SpendTally::groups() && {
  std::vector<SpendGroup> out;
  out.reserve(groups_.size());
  for (auto& [keys, group] : groups_) out.push_back(std::move(group));
  sort_groups(out);
  return out;
}

void sort_groups(std::vector<SpendGroup>& groups) {
  std::sort(groups.begin(), groups.end(), [](const SpendGroup& a, const SpendGroup& b) {
    if (a.spent != b.spent) return a.spent > b.spent;
    if (a.keys != b.keys) return a.keys < b.keys;
    return a.currency < b.currency;
  });
}

}  // namespace budget
