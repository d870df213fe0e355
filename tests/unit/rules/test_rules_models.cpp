// Model names as providers resolve them: dated snapshots, -latest aliases, Gemini's models/
// prefix and numbered versions, each to the exact catalog entry it is billed as.
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "rules/config_loader.hpp"
#include "rules/estimator.hpp"
#include "rules_catalog_support.hpp"

using rules_test::catalog;
using rules_test::provider;

namespace {

std::optional<std::string> resolve(const char* provider_name, const char* model) {
  return provider(provider_name).resolve_model(model);
}

rules::Priced price(const char* host, const char* path, const std::string& body) {
  static const rules::HeaderList headers;
  rules::RequestView view;
  view.method = "POST";
  view.host = host;
  view.path = path;
  view.headers = &headers;
  view.body = body;
  return rules::price_request(catalog(), view);
}

}  // namespace

TEST_CASE("Provider::resolve_model, dated snapshots") {
  SUBCASE("Anthropic -YYYYMMDD") {
    CHECK(resolve("anthropic", "claude-sonnet-4-5-20250929") == "claude-sonnet-4-5");
    CHECK(resolve("anthropic", "claude-opus-4-6-20260205") == "claude-opus-4-6");
    CHECK(resolve("anthropic", "claude-haiku-4-5-20251001") == "claude-haiku-4-5");
    CHECK(resolve("anthropic", "claude-3-7-sonnet-20250219") == "claude-3-7-sonnet");
  }
  SUBCASE("OpenAI -YYYY-MM-DD") {
    CHECK(resolve("openai", "gpt-4o-2024-08-06") == "gpt-4o");
    CHECK(resolve("openai", "gpt-5.4-2026-03-05") == "gpt-5.4");
    CHECK(resolve("openai", "gpt-5.2-pro-2025-12-11") == "gpt-5.2-pro");
    CHECK(resolve("openai", "o3-2025-04-16") == "o3");
  }
  SUBCASE("OpenAI's month-day form -MMDD") {
    CHECK(resolve("openai", "gpt-3.5-turbo-0125") == "gpt-3.5-turbo");
    CHECK(resolve("openai", "gpt-4-0613") == "gpt-4");
  }
  SUBCASE("a snapshot priced apart from its family is its own entry") {
    CHECK(resolve("openai", "gpt-4o-2024-05-13") == "gpt-4o-2024-05-13");
    CHECK(resolve("openai", "gpt-3.5-turbo-1106") == "gpt-3.5-turbo-1106");
  }
  SUBCASE("a date on an unknown family resolves to nothing") {
    CHECK(resolve("anthropic", "claude-3-5-sonnet-20241022") == std::nullopt);
    CHECK(resolve("openai", "gpt-9-2030-01-01") == std::nullopt);
  }
}

TEST_CASE("Provider::resolve_model, -latest aliases") {
  CHECK(resolve("anthropic", "claude-3-5-haiku-latest") == "claude-3-5-haiku");
  CHECK(resolve("anthropic", "claude-3-7-sonnet-latest") == "claude-3-7-sonnet");
  // Not priced anywhere we can source: refused, not guessed.
  CHECK(resolve("anthropic", "claude-3-5-sonnet-latest") == std::nullopt);
  // Aliases the provider prices on their own are entries of their own.
  CHECK(resolve("openai", "gpt-5.2-chat-latest") == "gpt-5.2-chat-latest");
  CHECK(resolve("openai", "chatgpt-4o-latest") == "chatgpt-4o-latest");
  CHECK(resolve("gemini", "gemini-flash-latest") == "gemini-flash-latest");
  CHECK(resolve("gemini", "gemini-flash-lite-latest") == "gemini-flash-lite-latest");
  CHECK(resolve("gemini", "gemini-pro-latest") == "gemini-pro-latest");
}

TEST_CASE("Provider::resolve_model, Gemini names") {
  CHECK(resolve("gemini", "models/gemini-2.5-flash") == "gemini-2.5-flash");
  CHECK(resolve("gemini", "models/gemini-3.1-pro-preview") == "gemini-3.1-pro-preview");
  CHECK(resolve("gemini", "gemini-2.0-flash-001") == "gemini-2.0-flash");
  CHECK(resolve("gemini", "models/gemini-2.0-flash-lite-001") == "gemini-2.0-flash-lite");
  CHECK(resolve("gemini", "gemini-2.5-flash-preview-09-2025") ==
        "gemini-2.5-flash-preview-09-2025");
  CHECK(resolve("gemini", "models/") == std::nullopt);
  CHECK(resolve("gemini", "") == std::nullopt);
}

TEST_CASE("price_request, resolved names are priced as their entry") {
  SUBCASE("a dated Anthropic snapshot: the family's price, the explanation names both") {
    // messages 32 bytes -> 11 + 4 = 15 tokens at 3; 100 output tokens at 15: 45 + 1500 micros.
    const auto p = price("api.anthropic.com", "/v1/messages",
                         R"({"model":"claude-sonnet-4-5-20250929","max_tokens":100,)"
                         R"("messages":[{"role":"user","content":"hi"}]})");
    REQUIRE_FALSE(p.error);
    CHECK(p.model == "claude-sonnet-4-5-20250929");
    CHECK(p.estimate.micros == 1545);
    CHECK(p.explanation.find("model claude-sonnet-4-5-20250929 from body:/model (priced as "
                             "claude-sonnet-4-5)") != std::string::npos);
  }
  SUBCASE("OpenAI's -0125 form, refused before") {
    // 15 input tokens at 0.50 + 10 output at 1.50: 7.5 + 15 -> 23 micros (rounded up once).
    const auto p = price("api.openai.com", "/v1/chat/completions",
                         R"({"model":"gpt-3.5-turbo-0125","max_tokens":10,)"
                         R"("messages":[{"role":"user","content":"hi"}]})");
    REQUIRE_FALSE(p.error);
    CHECK(p.estimate.micros == 23);
  }
  SUBCASE("a models/ prefix in a Gemini embedding body and path") {
    // content {"parts":[{"text":"hi"}]} = 25 bytes -> 9 tokens at 0.15: 1.35 -> 2 micros.
    const auto p = price("generativelanguage.googleapis.com",
                         "/v1beta/models/gemini-embedding-001:embedContent",
                         R"({"model":"models/gemini-embedding-001",)"
                         R"("content":{"parts":[{"text":"hi"}]}})");
    REQUIRE_FALSE(p.error);
    CHECK(p.model == "gemini-embedding-001");
    CHECK(p.estimate.micros == 2);
  }
  SUBCASE("claude-3-5-sonnet-latest stays unlisted: priced as the dearest (unknown_model)") {
    const auto p = price("api.anthropic.com", "/v1/messages",
                         R"({"model":"claude-3-5-sonnet-latest","max_tokens":10,"messages":[]})");
    REQUIRE_FALSE(p.error);
    CHECK(p.unpriced_model);
    CHECK(p.priced_as == provider("anthropic").dearest_model(p.endpoint).value());
  }
}
