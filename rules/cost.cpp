#include "rules/cost.hpp"

#include <algorithm>
#include <limits>

namespace rules {
namespace {

constexpr std::int64_t k_tokens_per_price_unit = 1'000'000;  // prices are per 1M tokens

std::int64_t pick(std::int64_t preferred, std::int64_t fallback) {
  return preferred >= 0 ? preferred : fallback;
}

__int128 term(std::int64_t tokens, std::int64_t price) {
  if (tokens <= 0 || price <= 0) return 0;
  return static_cast<__int128>(tokens) * price;
}

// `price` * num / den, rounded up; -1 (unset) stays unset; den 0 leaves the price as it is.
std::int64_t scaled(std::int64_t price, std::int64_t num, std::int64_t den) {
  if (price < 0 || den <= 0) return price;
  const __int128 v = static_cast<__int128>(price) * num;
  return static_cast<std::int64_t>((v + den - 1) / den);
}

}  // namespace

ModelPrice tier_price(const ModelPrice& base, std::int64_t input, std::int64_t cached_input,
                      std::int64_t output) {
  ModelPrice p = base;
  p.tiers.clear();
  const auto by_input = [&](std::int64_t v) { return scaled(v, input, base.input); };
  p.input = input;
  p.output = output;
  p.cached_input = cached_input >= 0 ? cached_input : by_input(base.cached_input);
  p.cache_write = by_input(base.cache_write);
  p.cache_write_1h = by_input(base.cache_write_1h);
  p.cache_write_long = by_input(base.cache_write_long);
  p.input_long = by_input(base.input_long);
  p.output_long = scaled(base.output_long, output, base.output);
  p.cached_input_long = base.cached_input > 0
                            ? scaled(base.cached_input_long, p.cached_input, base.cached_input)
                            : by_input(base.cached_input_long);
  return p;
}

EffectivePrices effective_prices(const ModelPrice& price, std::int64_t prompt_tokens) {
  EffectivePrices out;
  out.long_context =
      price.long_context_threshold > 0 && prompt_tokens > price.long_context_threshold;
  if (!out.long_context) {
    out.input = price.input;
    out.cached_input = pick(price.cached_input, price.input);
    out.cache_write = pick(price.cache_write, price.input);
    out.cache_write_1h = pick(price.cache_write_1h, out.cache_write);
    out.output = price.output;
    return out;
  }
  out.input = pick(price.input_long, price.input);
  // A long tier without its own cached price keeps the short-tier cached price when one is set;
  // with neither, cached tokens cost what uncached ones do in this tier.
  out.cached_input = pick(price.cached_input_long, pick(price.cached_input, out.input));
  out.cache_write = pick(price.cache_write_long, pick(price.cache_write, out.input));
  out.cache_write_1h = out.cache_write;
  if (price.cache_write_1h >= 0 && price.input > 0) {
    // Rounded up: a price is never under-counted.
    const __int128 scaled = static_cast<__int128>(price.cache_write_1h) * out.input;
    out.cache_write_1h = static_cast<std::int64_t>((scaled + price.input - 1) / price.input);
  } else if (price.cache_write_1h >= 0) {
    out.cache_write_1h = price.cache_write_1h;
  }
  out.output = pick(price.output_long, price.output);
  return out;
}

std::int64_t token_cost(const ModelPrice& price, const TokenCounts& tokens) {
  const EffectivePrices p = effective_prices(price, tokens.prompt());
  const __int128 pico = term(tokens.input, p.input) + term(tokens.cached_input, p.cached_input) +
                        term(tokens.cache_write, p.cache_write) +
                        term(tokens.cache_write_1h, p.cache_write_1h) +
                        term(tokens.output, p.output) + term(tokens.reasoning, p.output);
  const __int128 micros = (pico + k_tokens_per_price_unit - 1) / k_tokens_per_price_unit;
  constexpr auto k_max = std::numeric_limits<std::int64_t>::max();
  return micros > k_max ? k_max : static_cast<std::int64_t>(micros);
}

std::int64_t second_price(const ModelPrice& price, const std::optional<std::string>& size,
                          std::optional<bool> audio) {
  std::int64_t rate = price.per_second_audio;
  if ((audio == false && price.per_second >= 0) || rate < 0) rate = price.per_second;
  if (price.per_second_size.empty()) return rate;
  if (size) {
    const auto sized = price.per_second_size.find(*size);
    return sized != price.per_second_size.end() ? sized->second : rate;
  }
  for (const auto& [name, sized] : price.per_second_size) rate = std::max(rate, sized);
  return rate;
}

}  // namespace rules
