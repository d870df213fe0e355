#pragma once
// Providers, prices and fixture loading shared by the usage tests. Prices are written here in
// micro-units per 1M tokens so that every expected cost can be checked by hand.

#include <doctest/doctest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "rules/config.hpp"
#include "rules/usage_reader.hpp"

namespace usage_test {

inline std::string fixture(const std::string& name) {
  std::ifstream in(std::string(TOLLGATE_TEST_DATA) + "/usage/" + name, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing fixture " << name);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline rules::ModelPrice price(std::int64_t input, std::int64_t cached, std::int64_t output) {
  rules::ModelPrice p;
  p.input = input;
  p.cached_input = cached;
  p.output = output;
  return p;
}

inline rules::Endpoint endpoint(std::string name, std::string pricing, std::string format = {}) {
  rules::Endpoint e;
  e.name = std::move(name);
  e.pricing = *rules::parse_pricing(pricing);
  e.stream.format = std::move(format);
  return e;
}

inline rules::Provider openai() {
  rules::Provider p;
  p.name = "openai";
  p.currency = "usd";
  p.error_style = "openai";
  p.rate_limit_headers = {"x-ratelimit-remaining-tokens", "x-ratelimit-remaining-requests",
                          "x-ratelimit-reset-tokens", ""};
  p.models["gpt-4o-mini"] = price(150'000, 75'000, 600'000);
  p.models["o4-mini"] = price(1'100'000, 275'000, 4'400'000);
  p.models["text-embedding-3-small"] = price(20'000, -1, 0);
  rules::ModelPrice dalle;
  dalle.per_image = {{"1024x1024/standard", 40'000}, {"1024x1024/hd", 80'000}};
  p.models["dall-e-3"] = dalle;
  p.endpoints = {endpoint("chat", "tokens", "openai-sse"),
                 endpoint("responses", "tokens", "openai-responses-sse"),
                 endpoint("embeddings", "tokens"), endpoint("images", "per_image")};
  return p;
}

inline rules::Provider anthropic() {
  rules::Provider p;
  p.name = "anthropic";
  p.currency = "usd";
  p.error_style = "anthropic";
  rules::ModelPrice sonnet = price(3'000'000, 300'000, 15'000'000);
  sonnet.cache_write = 3'750'000;
  p.models["claude-sonnet-4-5"] = sonnet;
  p.endpoints = {endpoint("messages", "tokens", "anthropic-sse")};
  return p;
}

inline rules::Provider gemini() {
  rules::Provider p;
  p.name = "gemini";
  p.currency = "usd";
  p.error_style = "gemini";
  rules::ModelPrice pro = price(1'250'000, 310'000, 10'000'000);
  pro.long_context_threshold = 200'000;
  pro.input_long = 2'500'000;
  pro.cached_input_long = 625'000;
  pro.output_long = 15'000'000;
  p.models["gemini-2.5-pro"] = pro;
  p.models["gemini-2.5-flash"] = price(300'000, 75'000, 2'500'000);
  p.endpoints = {endpoint("generate", "tokens", "gemini-sse")};
  return p;
}

inline rules::Provider keepa() {
  rules::Provider p;
  p.name = "keepa";
  p.currency = "keepa_token";
  p.error_style = "keepa";
  rules::BalanceConfig b;
  b.body_pointer = "/tokensLeft";
  b.header = "tokens-left";
  b.refill_body_pointer = "/refillRate";
  b.min = 10'000'000;
  p.balance = b;
  p.usage.cost =
      rules::ValueRef{rules::ValueRef::Source::body, "/tokensConsumed", "body:/tokensConsumed"};
  p.endpoints = {endpoint("product", "per_item")};
  return p;
}

// Feeds `body` to a fresh reader in pieces of random size (seeded) or one byte at a time
// (seed 0), after headers with the given content type.
inline rules::UsageResult read(const rules::Provider& provider, const rules::Endpoint* endpoint,
                               const std::string& model, bool streaming,
                               const std::string& content_type, const std::string& body,
                               unsigned seed = 12345) {
  rules::UsageReader reader(provider, endpoint, model, streaming);
  const rules::HeaderList headers{{"Content-Type", content_type}};
  reader.on_headers(rules::ResponseHeadView{200, &headers});
  std::mt19937 rng(seed);
  for (std::size_t i = 0; i < body.size();) {
    const std::size_t n = seed == 0 ? 1 : std::min<std::size_t>(body.size() - i, 1 + rng() % 61);
    reader.on_body(std::string_view(body).substr(i, n));
    i += n;
  }
  return reader.finish();
}

}  // namespace usage_test
