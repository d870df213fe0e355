#include "rules/output_cap.hpp"

#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

#include "rules/cost.hpp"
#include "rules/json_reader.hpp"

namespace rules {
namespace {

// The most output tokens (per choice) whose cost, with the input, stays within `remaining`:
// searched over the exact token_cost, so that the hold of the capped request fits to the
// micro-unit whatever the tier and rounding.
std::int64_t affordable_output(const Priced& priced, std::int64_t remaining, std::int64_t upper) {
  auto cost = [&](std::int64_t output) {
    TokenCounts counts;
    counts.input = priced.input_tokens;
    counts.output = output > INT64_MAX / priced.multiplier ? INT64_MAX : output * priced.multiplier;
    return token_cost(*priced.price, counts);
  };
  if (cost(0) > remaining) return -1;
  std::int64_t low = 0, high = upper;  // cost(low) fits; find the largest that does
  while (low < high) {
    const std::int64_t mid = low + (high - low + 1) / 2;
    if (cost(mid) <= remaining)
      low = mid;
    else
      high = mid - 1;
  }
  return low;
}

}  // namespace

std::optional<std::int64_t> output_cap(const Priced& priced, std::optional<std::int64_t> remaining,
                                       bool budget_asks) {
  if (!priced.endpoint || !(priced.endpoint->inject_output_cap || budget_asks) || !priced.price ||
      priced.error)
    return std::nullopt;
  std::int64_t cap = INT64_MAX;
  if (priced.price->max_output > 0) cap = priced.price->max_output;
  if (priced.endpoint->default_output_max > 0)
    cap = std::min(cap, priced.endpoint->default_output_max);
  if (remaining) cap = affordable_output(priced, *remaining, cap);
  if (cap == INT64_MAX || cap < k_min_output_cap) return std::nullopt;
  if (priced.output_named_at && priced.output_tokens <= cap) return std::nullopt;
  return cap;
}

std::optional<std::string> write_output_max(const Endpoint& endpoint, const ValueRef* named_at,
                                            std::string_view body, std::int64_t tokens) {
  const ValueRef* at = named_at && named_at->source == ValueRef::Source::body ? named_at : nullptr;
  for (const auto& ref : endpoint.output_max)
    if (!at && ref.source == ValueRef::Source::body) at = &ref;
  if (!at) return std::nullopt;
  const rapidjson::Pointer pointer(at->key.c_str());
  if (!pointer.IsValid() || pointer.GetTokenCount() == 0) return std::nullopt;
  rapidjson::Document doc;
  if (!read_json(doc, body).ok() || !doc.IsObject()) return std::nullopt;
  // Every parent present must be an object: Pointer::Set would replace anything else by one.
  const rapidjson::Value* parent = &doc;
  for (std::size_t i = 0; i + 1 < pointer.GetTokenCount(); ++i) {
    const auto& token = pointer.GetTokens()[i];
    const auto member = parent->FindMember(rapidjson::StringRef(token.name, token.length));
    if (member == parent->MemberEnd()) break;
    if (!member->value.IsObject()) return std::nullopt;
    parent = &member->value;
  }
  pointer.Set(doc, static_cast<std::int64_t>(tokens));
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  doc.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace rules
