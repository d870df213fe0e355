#pragma once
// Exact token arithmetic shared by the estimator (before the request) and the usage reader (after
// it): both must price the same token counts to the same micro-unit.

#include <cstdint>
#include <optional>
#include <string>

#include "rules/pricing_model.hpp"

namespace rules {

// Token counts of one exchange, split by the price each part is billed at.
// `input` = uncached input tokens (excluding cached_input and cache writes). `cache_write` holds
// the tokens written to a 5-minute cache, `cache_write_1h` those written for one hour (Anthropic
// bills them apart). `output` holds every token billed at the output price except `reasoning`,
// which is billed at the output price too but kept apart so that reports can show it.
struct TokenCounts {
  std::int64_t input = 0, cached_input = 0, cache_write = 0, output = 0, reasoning = 0;
  std::int64_t cache_write_1h = 0;

  // Prompt size as the long-context tier sees it.
  std::int64_t prompt() const { return input + cached_input + cache_write + cache_write_1h; }
  friend bool operator==(const TokenCounts&, const TokenCounts&) = default;
};

// The per-1M-token prices that apply to one exchange after tier and fallback resolution.
struct EffectivePrices {
  std::int64_t input = 0, cached_input = 0, cache_write = 0, cache_write_1h = 0, output = 0;
  bool long_context = false;
};

// Resolves the tier (the *_long prices when prompt tokens exceed long_context_threshold > 0) and
// the -1 fallbacks (cached_input and cache_write default to the input price of the tier,
// cache_write_1h to cache_write). Above the threshold a 1-hour write costs cache_write_1h scaled
// as the input price is (Anthropic doubles every input price there).
EffectivePrices effective_prices(const ModelPrice& price, std::int64_t prompt_tokens);

// The whole price of `base` as a service tier bills it (ModelPrice::tiers): `input`, `output` and
// `cached_input` (-1: base's scaled as input is) replace the base's; every other token price is
// scaled by the same ratio as its kind (the *_long prices, cache writes), rounded up.
ModelPrice tier_price(const ModelPrice& base, std::int64_t input, std::int64_t cached_input,
                      std::int64_t output);

// Cost in micro-units of the provider currency; prices are micro-units per 1M tokens. The exact
// sum of tokens*price is taken in 1e-12 units and rounded UP once to the micro-unit, so a bill is
// never under-counted. Negative counts count as zero; a result past int64 saturates.
std::int64_t token_cost(const ModelPrice& price, const TokenCounts& tokens);

// The price of one second of video, micro-units: at `size` when the model prices that size (a
// size not named costs the dearest the model lists; one named but not listed, per_second), with
// audio unless `audio` is false and the model has a price without (a model with one rate charges
// it either way). -1 when the model has no per-second price.
std::int64_t second_price(const ModelPrice& price, const std::optional<std::string>& size,
                          std::optional<bool> audio);

}  // namespace rules
