// unknown_model (refuse | dearest | price_as:MODEL | a price) and output_cap: inject, priced
// without sockets from inline configs whose numbers are worked out by hand.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <string>

#include "rules/config_loader.hpp"
#include "rules/estimator.hpp"
#include "rules/output_cap.hpp"

namespace {

// Three token models (dearest by input + output: big, 10 + 40 = 50 per 1M), one embedding model,
// two image models.
std::string lab(const std::string& unknown, const std::string& endpoint_extra = "") {
  return R"(providers:
  lab:
    hosts: [lab.test]
    currency: usd
    bytes_per_token: 1
    message_overhead: 0
    unknown_model: )" +
         unknown + R"(
    endpoints:
      - { name: chat, method: POST, path: /chat, pricing: tokens, model: body:/model, input: { estimate: body:/prompt }, output_max: [body:/max_completion_tokens, body:/max_tokens])" +
         endpoint_extra + R"( }
      - { name: embed, method: POST, path: /embed, pricing: tokens, model: body:/model, input: { estimate: body:/input } }
      - { name: image, method: POST, path: /image, pricing: per_image, model: body:/model }
      - { name: gen, method: POST, path: "/gen/{model}", pricing: tokens, model: path:model, output_max: [body:/generationConfig/maxOutputTokens], output_cap: inject }
    models:
      small: { input: 1, output: 2, max_output: 1000 }
      big: { input: 10, output: 40, max_output: 100 }
      long: { input: 5, output: 30, max_output: 100000 }
      embed-1: { input: 0.1, max_output: 0 }
      embed-2: { input: 0.2, max_output: 0 }
      pic-1: { per_image: { 1024x1024: 0.04 } }
      pic-2: { per_image: { 1024x1024: 0.08, 512x512: 0.02 } }
)";
}

std::shared_ptr<const rules::Config> load(const std::string& text) {
  const auto loaded = rules::load_config_text(text, "t.yaml", "/tmp");
  for (const auto& e : loaded.errors) MESSAGE(e.str());
  REQUIRE(loaded.errors.empty());
  return loaded.config;
}

rules::Priced price(const rules::Config& config, const char* path, const std::string& body) {
  static const rules::HeaderList headers;
  rules::RequestView view;
  view.method = "POST";
  view.host = "lab.test";
  view.path = path;
  view.headers = &headers;
  view.body = body;
  return rules::price_request(config, view);
}

std::vector<std::string> errors_of(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& e : rules::load_config_text(text, "t.yaml", "/tmp").errors)
    out.push_back(e.str());
  return out;
}

}  // namespace

TEST_CASE("unknown_model: dearest prices as the endpoint's dearest model") {
  const auto config = load(lab("dearest"));
  const auto& p = config->providers.front();
  SUBCASE("chat: the highest input + output price, not the largest max_output") {
    // prompt "abcd" = 4 tokens x 10 + 100 (big's max_output) x 40 = 40 + 4000 = 4040 micro-USD
    const auto priced = price(*config, "/chat", R"({"model":"new-model","prompt":"abcd"})");
    REQUIRE_FALSE(priced.error);
    CHECK(priced.unpriced_model);
    CHECK(priced.priced_as == "big");
    CHECK(priced.model == "new-model");
    CHECK(priced.estimate.micros == 4040);
    CHECK(priced.explanation.find("model new-model from body:/model (not listed: priced as big, "
                                  "the dearest of this endpoint)\n") != std::string::npos);
  }
  SUBCASE("an endpoint that reads no output compares only models without an output price") {
    CHECK(p.dearest_model(&p.endpoints[1]) == "embed-2");
    // "abcdefghij" = 10 tokens x 0.2 = 2 micro-USD
    const auto priced = price(*config, "/embed", R"({"model":"embed-9","input":"abcdefghij"})");
    CHECK(priced.priced_as == "embed-2");
    CHECK(priced.estimate.micros == 2);
  }
  SUBCASE("per_image: the model with the dearest image") {
    CHECK(p.dearest_model(&p.endpoints[2]) == "pic-2");
    CHECK(price(*config, "/image", R"({"model":"pic-9"})").estimate.micros == 80000);
  }
  SUBCASE("a listed model is untouched") {
    const auto priced = price(*config, "/chat", R"({"model":"small","prompt":"abcd"})");
    CHECK_FALSE(priced.unpriced_model);
    CHECK(priced.priced_as == "");
  }
}

TEST_CASE("unknown_model: price_as, refuse and the price form") {
  SUBCASE("price_as:MODEL") {
    const auto config = load(lab("price_as:small"));
    // 4 x 1 + 1000 x 2 = 2004 micro-USD
    const auto priced = price(*config, "/chat", R"({"model":"x","prompt":"abcd"})");
    CHECK(priced.unpriced_model);
    CHECK(priced.priced_as == "small");
    CHECK(priced.estimate.micros == 2004);
    CHECK(priced.explanation.find("(not listed: priced as small, unknown_model: price_as)") !=
          std::string::npos);
  }
  SUBCASE("refuse") {
    const auto config = load(lab("refuse"));
    const auto priced = price(*config, "/chat", R"({"model":"x","prompt":"abcd"})");
    REQUIRE(priced.error);
    CHECK(priced.unpriced_model);
    CHECK(*priced.error ==
          "unknown model 'x' on endpoint 'chat' of provider 'lab': no price is configured (add "
          "it under providers.lab.models, or set unknown_model)");
  }
  SUBCASE("a price mapping, the first form, still reads") {
    const auto config = load(lab("{ input: 1, output: 1, max_output: 10 }"));
    const auto priced = price(*config, "/chat", R"({"model":"x","prompt":"abcd"})");
    CHECK(priced.unpriced_model);
    CHECK(priced.priced_as == "");
    CHECK(priced.estimate.micros == 14);
  }
  SUBCASE("config errors") {
    CHECK(errors_of(lab("price_as:nothing")) ==
          std::vector<std::string>{
              "t.yaml:3:5: provider 'lab' prices unknown models as 'nothing', which is not in its "
              "models"});
    CHECK(errors_of(lab("\"price_as:\"")) ==
          std::vector<std::string>{
              "t.yaml:7:20: 'unknown_model': price_as: needs a model, e.g. price_as:gpt-4o"});
  }
}

TEST_CASE("unknown_model: the shipped catalog prices unknown models as the dearest") {
  const auto loaded = rules::load_embedded_defaults("/tmp");
  REQUIRE(loaded.errors.empty());
  for (const char* name : {"openai", "anthropic", "gemini", "veo"}) {
    CAPTURE(name);
    const auto* p = [&]() -> const rules::Provider* {
      for (const auto& provider : loaded.config->providers)
        if (provider.name == name) return &provider;
      return nullptr;
    }();
    REQUIRE(p);
    CHECK(p->unknown_model.policy == rules::UnknownModel::Policy::dearest);
  }
}

TEST_CASE("output_cap: the cap and where it is written") {
  const auto config = load(lab("refuse", ", output_cap: inject, default_output_max: 500"));
  SUBCASE("no maximum named: the smallest of max_output, default_output_max, the budget") {
    // Prices per 1M tokens in USD are micro-USD per token. small: 4 input tokens x 1 = 4
    // micro-USD, output 2 micro-USD a token.
    const auto priced = price(*config, "/chat", R"({"model":"small","prompt":"abcd"})");
    CHECK(rules::output_cap(priced, std::nullopt) == 500);  // default_output_max < 1000
    CHECK(rules::output_cap(priced, 10'000) == 500);        // (10000 - 4) / 2 = 4998
    CHECK(rules::output_cap(priced, 100) == 48);            // (100 - 4) / 2
    CHECK(rules::output_cap(priced, 5) == std::nullopt);    // (5 - 4) / 2 = 0: refused as before
    // big: 4 x 10 = 40 input; 40 a token of output, max_output 100
    const auto big = price(*config, "/chat", R"({"model":"big","prompt":"abcd"})");
    CHECK(rules::output_cap(big, 4040) == 100);
    CHECK(rules::output_cap(big, 1040) == 25);
    CHECK(rules::output_cap(big, 1079) == 25);
    CHECK(rules::output_cap(big, 80) == 1);
    CHECK(rules::output_cap(big, 79) == std::nullopt);
  }
  SUBCASE("a maximum named within the cap is left; above it, lowered") {
    const auto within =
        price(*config, "/chat", R"({"model":"big","prompt":"abcd","max_tokens":20})");
    CHECK(rules::output_cap(within, 1040) == std::nullopt);
    const auto above =
        price(*config, "/chat", R"({"model":"big","prompt":"abcd","max_tokens":90})");
    CHECK(rules::output_cap(above, 1040) == 25);
    const auto body =
        rules::write_output_max(*above.endpoint, above.output_named_at,
                                R"({"model":"big","prompt":"abcd","max_tokens":90})", 25);
    CHECK(body == R"({"model":"big","prompt":"abcd","max_tokens":25})");
  }
  SUBCASE("none named: written at the first output_max pointer") {
    const auto priced = price(*config, "/chat", R"({"model":"big","prompt":"abcd","x":1.5})");
    const auto body = rules::write_output_max(*priced.endpoint, priced.output_named_at,
                                              R"({"model":"big","prompt":"abcd","x":1.5})", 7);
    CHECK(body == R"({"model":"big","prompt":"abcd","x":1.5,"max_completion_tokens":7})");
  }
  SUBCASE("a nested pointer creates its object; a parent of another type is left alone") {
    const auto priced = price(*config, "/gen/small", R"({"contents":[]})");
    CHECK(rules::write_output_max(*priced.endpoint, nullptr, R"({"contents":[]})", 9) ==
          R"({"contents":[],"generationConfig":{"maxOutputTokens":9}})");
    CHECK(rules::write_output_max(*priced.endpoint, nullptr,
                                  R"({"generationConfig":{"temperature":0}})", 9) ==
          R"({"generationConfig":{"temperature":0,"maxOutputTokens":9}})");
    CHECK(rules::write_output_max(*priced.endpoint, nullptr, R"({"generationConfig":3})", 9) ==
          std::nullopt);
    CHECK(rules::write_output_max(*priced.endpoint, nullptr, "[1]", 9) == std::nullopt);
  }
  SUBCASE("off by default") {
    const auto plain = load(lab("refuse"));
    const auto priced = price(*plain, "/chat", R"({"model":"big","prompt":"abcd"})");
    CHECK(rules::output_cap(priced, 1040) == std::nullopt);
  }
}

TEST_CASE("output_cap: enabled on a catalog endpoint by name, the rest of it kept") {
  const auto config = load(R"(include: [catalog:anthropic]
providers:
  anthropic:
    endpoints:
      - { name: messages, output_cap: inject, default_output_max: 4096 }
)");
  const auto& p = *config->provider_for_host("api.anthropic.com");
  const auto& messages = p.endpoints.front();
  CHECK(messages.name == "messages");
  CHECK(messages.path == "/v1/messages");
  CHECK(messages.pricing == rules::Pricing::tokens);
  CHECK(messages.inject_output_cap);
  CHECK(messages.default_output_max == 4096);
}
