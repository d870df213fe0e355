// Acceptance numbers of the estimator on the shipped catalog (embedded defaults).
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>

#include "rules/config_loader.hpp"
#include "rules/estimator.hpp"

namespace {

std::shared_ptr<const rules::Config> defaults() {
  static const auto result = rules::load_embedded_defaults("/tmp");
  REQUIRE(result.errors.empty());
  return result.config;
}

rules::Priced price(std::string_view method, std::string_view host, std::string_view path,
                    std::string_view query, std::string_view body) {
  static const rules::HeaderList headers;
  rules::RequestView view;
  view.method = method;
  view.host = host;
  view.path = path;
  view.query = query;
  view.headers = &headers;
  view.body = body;
  return rules::price_request(*defaults(), view);
}

}  // namespace

TEST_CASE("price_request, acceptance on the shipped catalog") {
  SUBCASE("a Keepa product request for 3 ASINs estimates 3 tokens") {
    const auto p = price("GET", "api.keepa.com", "/product", "key=SECRET&domain=1&asin=A,B,C", "");
    REQUIRE_FALSE(p.error);
    CHECK(p.provider->name == "keepa");
    CHECK(p.endpoint_name == "product");
    CHECK(p.estimate == rules::Money{3'000'000, "keepa_token"});
  }
  SUBCASE("claude-sonnet-4-5 with max_tokens 2000 estimates just over 0.03 USD") {
    const std::string body =
        R"({"model":"claude-sonnet-4-5","max_tokens":2000,)"
        R"("messages":[{"role":"user","content":"Write a haiku about budgets."}]})";
    const auto p = price("POST", "api.anthropic.com", "/v1/messages", "", body);
    REQUIRE_FALSE(p.error);
    CHECK(p.endpoint_name == "messages");
    CHECK(p.model == "claude-sonnet-4-5");
    CHECK(p.estimate.currency == "usd");
    // Output: 2000 tokens x $15/1M = 0.030000. Input: the messages array is 58 bytes of JSON,
    // ceil(58/3) = 20 tokens + 1 message x 4 framing = 24 tokens x $3/1M = 0.000072.
    CHECK(p.estimate.micros == 30'072);
    CHECK(p.estimated_tokens == 2024);
  }
}

TEST_CASE("price_request, an absurd choice count saturates instead of wrapping negative") {
  // n multiplies the output; a huge one must never make the estimate or its token count
  // negative (a negative estimate would be a hold that gives money back).
  const std::string body = R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],)"
                           R"("max_tokens":533,"n":9000000000000000000})";
  const auto p = price("POST", "api.openai.com", "/v1/chat/completions", "", body);
  REQUIRE_FALSE(p.error);
  CHECK(p.estimated_tokens == std::numeric_limits<std::int64_t>::max());
  CHECK(p.estimate.micros > 0);
}
