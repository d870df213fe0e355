#include <doctest/doctest.h>

#include <limits>

#include "rules/cost.hpp"

using rules::ModelPrice;
using rules::token_cost;
using rules::TokenCounts;

namespace {

// gpt-4o-mini: USD 0.15 / 0.075 cached / 0.60 per 1M tokens.
ModelPrice mini() {
  ModelPrice p;
  p.input = 150'000;
  p.cached_input = 75'000;
  p.output = 600'000;
  return p;
}

}  // namespace

TEST_CASE("token_cost, plain input and output") {
  SUBCASE("exact micro-units") {
    // 1000*0.15 + 500*0.60 = 150000000 + 300000000 pico = 450 micro-USD
    CHECK(token_cost(mini(), TokenCounts{.input = 1000, .output = 500}) == 450);
  }
  SUBCASE("rounds up once, not per term") {
    // 1*150000 + 1*600000 = 750000 pico -> 0.75 micro -> 1 (per-term rounding would give 2)
    CHECK(token_cost(mini(), TokenCounts{.input = 1, .output = 1}) == 1);
  }
  SUBCASE("zero tokens cost nothing") {
    CHECK(token_cost(mini(), TokenCounts{}) == 0);
  }
  SUBCASE("negative counts count as zero") {
    CHECK(token_cost(mini(), TokenCounts{.input = -5, .output = 10}) == 6);  // 6000000 pico = 6
  }
}

TEST_CASE("token_cost, cached and cache-write prices") {
  SUBCASE("cached tokens at the cached price") {
    // 2000*150000 + 8000*75000 = 300e6 + 600e6 = 900e6 pico = 900 micro
    CHECK(token_cost(mini(), TokenCounts{.input = 2000, .cached_input = 8000}) == 900);
  }
  SUBCASE("cached price -1 falls back to input") {
    ModelPrice p = mini();
    p.cached_input = -1;
    CHECK(token_cost(p, TokenCounts{.cached_input = 1000}) == 150);
  }
  SUBCASE("anthropic cache write and read") {
    // claude-sonnet-4-5: 3 / 15 output / 3.75 write / 0.30 read per 1M
    ModelPrice p;
    p.input = 3'000'000;
    p.output = 15'000'000;
    p.cache_write = 3'750'000;
    p.cached_input = 300'000;
    // 100*3 + 2000*3.75 + 10000*0.30 + 300*15 = 300 + 7500 + 3000 + 4500 = 15300 micro-USD
    CHECK(token_cost(p, TokenCounts{.input = 100,
                                    .cached_input = 10000,
                                    .cache_write = 2000,
                                    .output = 300}) == 15'300);
  }
  SUBCASE("cache write -1 falls back to input") {
    ModelPrice p = mini();
    CHECK(token_cost(p, TokenCounts{.cache_write = 1000}) == 150);
  }
}

TEST_CASE("token_cost, reasoning billed as output") {
  // 100 output + 900 reasoning at 0.60 = 600 micro
  CHECK(token_cost(mini(), TokenCounts{.output = 100, .reasoning = 900}) == 600);
}

TEST_CASE("token_cost, long-context tier") {
  // gemini-2.5-pro: 1.25 / 10 up to 200k prompt tokens, 2.50 / 15 above; cached 0.31 / 0.625
  ModelPrice p;
  p.input = 1'250'000;
  p.output = 10'000'000;
  p.cached_input = 310'000;
  p.long_context_threshold = 200'000;
  p.input_long = 2'500'000;
  p.output_long = 15'000'000;
  p.cached_input_long = 625'000;
  SUBCASE("at the threshold: short tier") {
    // 200000*1.25 + 1000*10 = 250000 + 10000 micro
    CHECK(token_cost(p, TokenCounts{.input = 200'000, .output = 1000}) == 260'000);
  }
  SUBCASE("cached tokens push the prompt over: long tier") {
    // 200000*2.5 + 1*0.625 + 1000*15 = 500000 + 0.625 + 15000 -> 515000.625 -> 515001
    CHECK(token_cost(p, TokenCounts{.input = 200'000, .cached_input = 1, .output = 1000}) ==
          515'001);
  }
  SUBCASE("long cached price missing: short cached price") {
    p.cached_input_long = -1;
    CHECK(rules::effective_prices(p, 300'000).cached_input == 310'000);
  }
  SUBCASE("no cached price at all: long input price") {
    p.cached_input_long = -1;
    p.cached_input = -1;
    CHECK(rules::effective_prices(p, 300'000).cached_input == 2'500'000);
  }
  SUBCASE("long output missing: short output") {
    p.output_long = -1;
    const auto e = rules::effective_prices(p, 300'000);
    CHECK(e.long_context);
    CHECK(e.output == 10'000'000);
    CHECK(e.input == 2'500'000);
  }
  SUBCASE("threshold 0: no tier") {
    p.long_context_threshold = 0;
    CHECK_FALSE(rules::effective_prices(p, 5'000'000).long_context);
  }
}

TEST_CASE("token_cost, saturates instead of overflowing") {
  ModelPrice p;
  p.output = std::numeric_limits<std::int64_t>::max();
  CHECK(token_cost(p, TokenCounts{.output = std::numeric_limits<std::int64_t>::max()}) ==
        std::numeric_limits<std::int64_t>::max());
}

TEST_CASE("tier_price, a service tier's prices and the ones scaled from them") {
  // gpt-5.4: 2.50 / 0.25 cached / 15, above 272K 5 / 0.50 / 22.50; priority 5 / 0.50 / 30.
  ModelPrice p;
  p.input = 2'500'000;
  p.cached_input = 250'000;
  p.output = 15'000'000;
  p.max_output = 128'000;
  p.long_context_threshold = 272'000;
  p.input_long = 5'000'000;
  p.cached_input_long = 500'000;
  p.output_long = 22'500'000;
  SUBCASE("the tier's own prices, and the long ones scaled as their kind") {
    const ModelPrice t = rules::tier_price(p, 5'000'000, 500'000, 30'000'000);
    CHECK(t.input == 5'000'000);
    CHECK(t.cached_input == 500'000);
    CHECK(t.output == 30'000'000);
    CHECK(t.input_long == 10'000'000);
    CHECK(t.cached_input_long == 1'000'000);
    CHECK(t.output_long == 45'000'000);
    CHECK(t.max_output == 128'000);
    CHECK(t.long_context_threshold == 272'000);
    // 300000 prompt tokens at the scaled long prices: 300000*10 + 1000*45 micro.
    CHECK(token_cost(t, TokenCounts{.input = 300'000, .output = 1000}) == 3'045'000);
  }
  SUBCASE("no cached price given: the base's, scaled as input is, rounded up") {
    // flex 1.25 / 7.5: cached 0.25 * 1.25 / 2.5 = 0.125; a ratio that does not divide rounds up.
    CHECK(rules::tier_price(p, 1'250'000, -1, 7'500'000).cached_input == 125'000);
    CHECK(rules::tier_price(p, 1'000'001, -1, 7'500'000).cached_input == 100'001);
  }
  SUBCASE("at_tier: the tier's price, else the model's own") {
    p.tiers["flex"] =
        std::make_shared<const ModelPrice>(rules::tier_price(p, 1'250'000, 130'000, 7'500'000));
    CHECK(p.at_tier("flex").input == 1'250'000);
    CHECK(&p.at_tier("default") == &p);
    CHECK(&p.at_tier("auto") == &p);
    CHECK(&p.at_tier("") == &p);
    CHECK(p.at_tier("flex").tiers.empty());
  }
}
