#include "rules/cost.hpp"

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

}  // namespace

EffectivePrices effective_prices(const ModelPrice& price, std::int64_t prompt_tokens) {
  EffectivePrices out;
  out.long_context =
      price.long_context_threshold > 0 && prompt_tokens > price.long_context_threshold;
  if (!out.long_context) {
    out.input = price.input;
    out.cached_input = pick(price.cached_input, price.input);
    out.cache_write = pick(price.cache_write, price.input);
    out.output = price.output;
    return out;
  }
  out.input = pick(price.input_long, price.input);
  // A long tier without its own cached price keeps the short-tier cached price when one is set;
  // with neither, cached tokens cost what uncached ones do in this tier.
  out.cached_input = pick(price.cached_input_long, pick(price.cached_input, out.input));
  out.cache_write = pick(price.cache_write, out.input);
  out.output = pick(price.output_long, price.output);
  return out;
}

std::int64_t token_cost(const ModelPrice& price, const TokenCounts& tokens) {
  const EffectivePrices p = effective_prices(price, tokens.prompt());
  const __int128 pico = term(tokens.input, p.input) + term(tokens.cached_input, p.cached_input) +
                        term(tokens.cache_write, p.cache_write) + term(tokens.output, p.output) +
                        term(tokens.reasoning, p.output);
  const __int128 micros = (pico + k_tokens_per_price_unit - 1) / k_tokens_per_price_unit;
  constexpr auto k_max = std::numeric_limits<std::int64_t>::max();
  return micros > k_max ? k_max : static_cast<std::int64_t>(micros);
}

}  // namespace rules
