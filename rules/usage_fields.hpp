#pragma once
// Reading token counts out of one parsed response document (a JSON body, or the usage-bearing
// object of an SSE event): by the endpoint's configured JSON pointers, or by the built-in
// knowledge of the OpenAI, Anthropic and Gemini usage shapes.

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rules/cost.hpp"
#include "rules/pricing_model.hpp"

namespace rules {

// How a provider reports its counts, which decides how they map onto TokenCounts.
enum class UsageConvention {
  exclusive,  // Anthropic: input excludes cache reads and writes; output excludes nothing
  openai,     // input includes cached_input; output includes reasoning
  gemini,     // input includes cached_input; output (candidates) excludes reasoning (thoughts)
};

// Counts as the provider reported them, each possibly absent.
struct UsageFields {
  // cache_write counts every cache write; cache_write_1h those of them kept one hour.
  std::optional<std::int64_t> input, cached_input, cache_write, output, reasoning, cache_write_1h;

  bool any() const { return input || cached_input || cache_write || output || reasoning; }
  // Fields absent here are taken from `base` (Anthropic: message_delta over message_start).
  void fill_from(const UsageFields& base);
  TokenCounts normalize(UsageConvention convention) const;
};

// A count from a JSON value: an integer number, or (parsed with kParseNumbersAsStringsFlag) the
// text of one. Fractions, exponents and negative numbers are refused.
std::optional<std::int64_t> json_count(const rapidjson::Value* v);
// An amount in micro-units from a JSON number (or its text): "5" -> 5000000, "0.0123" -> 12300.
std::optional<std::int64_t> json_micros(const rapidjson::Value* v);
// The value at a JSON pointer ("" = the root), or nullptr.
const rapidjson::Value* json_at(const rapidjson::Value& doc, std::string_view pointer);

bool has_token_pointers(const UsageSpec& spec);
// Reads the configured pointers of `spec` relative to `doc`.
UsageFields pointer_usage(const rapidjson::Value& doc, const UsageSpec& spec);
// Recognises `doc.usage` (OpenAI chat/embeddings/responses/images, Anthropic) or
// `doc.usageMetadata` (Gemini) and sets the convention of the shape found.
std::optional<UsageFields> builtin_usage(const rapidjson::Value& doc, UsageConvention& convention);

// True when `quoted_key` ("\"usage\"") appears followed by ':' and an object: the cheap test that
// an SSE chunk may carry usage before paying for a JSON parse. A key inside a string value is
// escaped (\"usage\") and so never matches.
bool json_key_has_object(std::string_view text, std::string_view quoted_key);

// The convention of a provider's counts when they come from configured pointers: from the
// endpoint's stream format when set, else from the provider's error_style.
UsageConvention convention_for(std::string_view stream_format, std::string_view error_style);

}  // namespace rules
