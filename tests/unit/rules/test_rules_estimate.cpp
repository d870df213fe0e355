// Table-driven estimates per provider and endpoint of the shipped catalog. Each expected amount
// is worked out by hand in its comment: input tokens = ceil(bytes / 3) + 4 per message (the
// bytes are the JSON text at the input pointers, or the raw text of a string), output = the
// request's maximum (else the model's max_output) x n, cost rounded up once to the micro-unit.
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "rules/config_loader.hpp"
#include "rules/estimator.hpp"
#include "rules_catalog_support.hpp"

using rules_test::catalog;
using rules_test::provider;

namespace {

struct Row {
  const char* what;
  const char* method;
  const char* host;
  const char* path;
  const char* query;
  std::string body;
  const char* provider;  // "" = no provider
  const char* endpoint;
  const char* model;
  std::int64_t micros;
  std::int64_t tokens;
  bool streaming;
};

rules::Priced price(const rules::Config& config, const char* method, const char* host,
                    const char* path, const char* query, const std::string& body) {
  static const rules::HeaderList headers;
  rules::RequestView view;
  view.method = method;
  view.host = host;
  view.path = path;
  view.query = query;
  view.headers = &headers;
  view.body = body;
  return rules::price_request(config, view);
}

const std::string k_hi = R"([{"role":"user","content":"hi"}])";    // 32 bytes: 11 + 4 = 15 tokens
const std::string k_gemini_hi = R"([{"parts":[{"text":"hi"}]}])";  // 27 bytes: 9 + 4 = 13 tokens

std::string long_gemini_prompt() {
  // contents JSON = 25 bytes of framing + 599975 letters = 600000 bytes: 200000 + 4 tokens,
  // above gemini-2.5-pro's 200000-token tier.
  return R"({"contents":[{"parts":[{"text":")" + std::string(599'975, 'a') +
         R"("}]}],"generationConfig":{"maxOutputTokens":10}})";
}

}  // namespace

TEST_CASE("price_request, shipped catalog per provider and endpoint") {
  const Row rows[] = {
      // 15 x 0.15 + (100 x 2) x 0.60 = 2.25 + 120 = 122.25 -> 123
      {"openai chat, max_completion_tokens and n", "POST", "api.openai.com", "/v1/chat/completions",
       "",
       R"({"model":"gpt-4o-mini","messages":)" + k_hi + R"(,"max_completion_tokens":100,"n":2})",
       "openai", "chat", "gpt-4o-mini", 123, 215, false},
      // 15 x 2 + 50 x 8 = 430
      {"openai chat, max_tokens, streaming", "POST", "api.openai.com", "/v1/chat/completions", "",
       R"({"model":"gpt-4.1","messages":)" + k_hi + R"(,"max_tokens":50,"stream":true})", "openai",
       "chat", "gpt-4.1", 430, 65, true},
      // dated snapshot at gpt-4o's price: 15 x 2.5 + 10 x 10 = 137.5 -> 138
      {"openai chat, dated model", "POST", "api.openai.com", "/v1/chat/completions", "",
       R"({"model":"gpt-4o-2024-08-06","messages":)" + k_hi + R"(,"max_completion_tokens":10})",
       "openai", "chat", "gpt-4o-2024-08-06", 138, 25, false},
      // no maximum in the request: gpt-5-nano max_output 128000 x 0.40 + 15 x 0.05 = 51200.75
      {"openai chat, model max_output", "POST", "api.openai.com", "/v1/chat/completions", "",
       R"({"model":"gpt-5-nano","messages":)" + k_hi + "}", "openai", "chat", "gpt-5-nano", 51201,
       128015, false},
      // "Say hi" is 6 bytes of text: 2 tokens x 1.10 + 1000 x 4.40 = 4402.2 -> 4403
      {"openai responses", "POST", "api.openai.com", "/v1/responses", "",
       R"({"model":"o4-mini","input":"Say hi","max_output_tokens":1000})", "openai", "responses",
       "o4-mini", 4403, 1002, false},
      // ["a","bb"] is 10 bytes: 4 + 2 x 4 = 12 tokens x 0.02 = 0.24 -> 1
      {"openai embeddings", "POST", "api.openai.com", "/v1/embeddings", "",
       R"({"model":"text-embedding-3-small","input":["a","bb"]})", "openai", "embeddings",
       "text-embedding-3-small", 1, 12, false},
      // 0.042 per 1024x1024 medium image x 2
      {"openai images, size and quality", "POST", "api.openai.com", "/v1/images/generations", "",
       R"({"model":"gpt-image-1","prompt":"a cat","size":"1024x1024","quality":"medium","n":2})",
       "openai", "images", "gpt-image-1", 84'000, 0, false},
      // quality absent: the dearest 1024x1024 dall-e-3 image (hd, 0.08)
      {"openai images, quality absent", "POST", "api.openai.com", "/v1/images/generations", "",
       R"({"model":"dall-e-3","prompt":"a cat","size":"1024x1024"})", "openai", "images",
       "dall-e-3", 80'000, 0, false},
      // 12 characters x 0.000015 (tts-1)
      {"openai speech", "POST", "api.openai.com", "/v1/audio/speech", "",
       R"({"model":"tts-1","input":"Hello, world","voice":"alloy"})", "openai", "speech", "tts-1",
       180, 0, false},
      // "héllo" is 5 characters (6 bytes) x 0.00003 (tts-1-hd)
      {"openai speech, characters not bytes", "POST", "api.openai.com", "/v1/audio/speech", "",
       R"({"model":"tts-1-hd","input":"h\u00e9llo"})", "openai", "speech", "tts-1-hd", 150, 0,
       false},
      {"openai transcriptions, flat", "POST", "api.openai.com", "/v1/audio/transcriptions", "",
       "--multipart--", "openai", "transcriptions", "", 150'000, 0, false},
      {"openai unmatched path: default_cost 0", "GET", "api.openai.com", "/v1/models", "", "",
       "openai", "default", "", 0, 0, false},
      // "Be brief." 9 bytes + messages 32 bytes = 41: 14 + 4 = 18 tokens x 1 + 100 x 5 = 518
      {"anthropic messages, dated model", "POST", "api.anthropic.com", "/v1/messages", "",
       R"({"model":"claude-haiku-4-5-20251001","max_tokens":100,"system":"Be brief.","messages":)" +
           k_hi + "}",
       "anthropic", "messages", "claude-haiku-4-5-20251001", 518, 118, false},
      {"anthropic count_tokens is free", "POST", "api.anthropic.com", "/v1/messages/count_tokens",
       "", R"({"model":"claude-opus-4-1","messages":)" + k_hi + "}", "anthropic", "count_tokens",
       "", 0, 0, false},
      // 13 x 0.10 + (100 x 2) x 0.40 = 81.3 -> 82
      {"gemini generateContent, model in the path", "POST", "generativelanguage.googleapis.com",
       "/v1beta/models/gemini-2.0-flash:generateContent", "",
       R"({"contents":)" + k_gemini_hi +
           R"(,"generationConfig":{"maxOutputTokens":100,"candidateCount":2}})",
       "gemini", "generate", "gemini-2.0-flash", 82, 213, false},
      // 13 x 0.30 + 65536 x 2.50 = 163843.9 -> 163844
      {"gemini streamGenerateContent, model max_output", "POST",
       "generativelanguage.googleapis.com", "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
       "alt=sse", R"({"contents":)" + k_gemini_hi + "}", "gemini", "stream_generate",
       "gemini-2.5-flash", 163'844, 65'549, true},
      // same price as above; alt=sse alone asks for a stream
      {"gemini generateContent with alt=sse", "POST", "generativelanguage.googleapis.com",
       "/v1beta/models/gemini-2.0-flash:generateContent", "alt=sse",
       R"({"contents":)" + k_gemini_hi +
           R"(,"generationConfig":{"maxOutputTokens":100,"candidateCount":2}})",
       "gemini", "generate", "gemini-2.0-flash", 82, 213, true},
      // above 200K prompt tokens: 200004 x 2.50 + 10 x 15 = 500160
      {"gemini long-context tier", "POST", "generativelanguage.googleapis.com",
       "/v1beta/models/gemini-2.5-pro:generateContent", "", long_gemini_prompt(), "gemini",
       "generate", "gemini-2.5-pro", 500'160, 200'014, false},
      {"gemini countTokens is free", "POST", "generativelanguage.googleapis.com",
       "/v1beta/models/gemini-2.5-pro:countTokens", "", R"({"contents":)" + k_gemini_hi + "}",
       "gemini", "count_tokens", "", 0, 0, false},
      // {"parts":[{"text":"hi"}]} 25 bytes: 9 tokens x 0.15 = 1.35 -> 2
      {"gemini embedContent", "POST", "generativelanguage.googleapis.com",
       "/v1beta/models/gemini-embedding-001:embedContent", "",
       R"({"content":{"parts":[{"text":"hi"}]}})", "gemini", "embed", "gemini-embedding-001", 2, 9,
       false},
      // no parameters: 8 seconds with audio x 0.15
      {"veo on the gemini host, defaults", "POST", "generativelanguage.googleapis.com",
       "/v1beta/models/veo-3.0-fast-generate-001:predictLongRunning", "",
       R"({"instances":[{"prompt":"a cat"}]})", "gemini", "veo", "veo-3.0-fast-generate-001",
       1'200'000, 0, false},
      // 4 images x 0.04
      {"imagen, sampleCount", "POST", "generativelanguage.googleapis.com",
       "/v1beta/models/imagen-4.0-generate-001:predict", "",
       R"({"instances":[{"prompt":"a cat"}],"parameters":{"sampleCount":4}})", "gemini", "imagen",
       "imagen-4.0-generate-001", 160'000, 0, false},
      // 6 seconds without audio x 0.20 x 2 samples
      {"veo on vertex, without audio", "POST", "us-central1-aiplatform.googleapis.com",
       "/v1/projects/p1/locations/us-central1/publishers/google/models/"
       "veo-3.0-generate-001:predictLongRunning",
       "",
       R"({"instances":[{"prompt":"x"}],"parameters":{"durationSeconds":6,"sampleCount":2,"generateAudio":false}})",
       "veo", "predict_long_running", "veo-3.0-generate-001", 2'400'000, 0, false},
      // veo 2 has no audio price: 5 x 0.35 x 2
      {"veo on vertex, model without audio", "POST", "aiplatform.googleapis.com",
       "/v1/projects/p1/locations/global/publishers/google/models/"
       "veo-2.0-generate-001:predictLongRunning",
       "", R"({"parameters":{"durationSeconds":5,"sampleCount":2}})", "veo", "predict_long_running",
       "veo-2.0-generate-001", 3'500'000, 0, false},
      {"keepa product, 3 ASINs", "GET", "api.keepa.com", "/product", "key=K&domain=1&asin=A,B,C",
       "", "keepa", "product", "", 3'000'000, 0, false},
      {"keepa product, percent-encoded commas", "GET", "api.keepa.com", "/product",
       "key=K&asin=A%2CB%2CC%2CD", "", "keepa", "product", "", 4'000'000, 0, false},
      {"keepa seller, 2 sellers", "GET", "api.keepa.com", "/seller", "key=K&seller=S1,S2", "",
       "keepa", "seller", "", 2'000'000, 0, false},
      {"keepa bestsellers", "GET", "api.keepa.com", "/bestsellers", "key=K&category=1", "", "keepa",
       "bestsellers", "", 50'000'000, 0, false},
      {"keepa token status is free", "GET", "api.keepa.com", "/token", "key=K", "", "keepa",
       "token", "", 0, 0, false},
      {"keepa unmatched path: default_cost 1", "GET", "api.keepa.com", "/graphimage", "key=K", "",
       "keepa", "default", "", 1'000'000, 0, false},
      {"a host of no provider", "GET", "example.com", "/", "", "", "", "default", "", 0, 0, false},
  };
  for (const auto& row : rows) {
    SUBCASE(row.what) {
      const auto p = price(catalog(), row.method, row.host, row.path, row.query, row.body);
      CAPTURE(p.explanation);
      CHECK_FALSE(p.error);
      CHECK((p.provider ? p.provider->name : std::string()) == row.provider);
      CHECK(p.endpoint_name == row.endpoint);
      CHECK((p.endpoint == nullptr) == (std::string(row.endpoint) == "default"));
      CHECK(p.model == row.model);
      CHECK(p.estimate.micros == row.micros);
      CHECK(p.estimated_tokens == row.tokens);
      CHECK(p.streaming == row.streaming);
    }
  }
}

TEST_CASE("price_request, refusals") {
  SUBCASE("unknown model on a priced endpoint (unknown_model: refuse) names the model") {
    const auto loaded = rules::load_config_text(
        "include: [catalog:openai]\nproviders:\n  openai:\n    unknown_model: refuse\n", "t.yaml",
        "/tmp");
    REQUIRE(loaded.errors.empty());
    const auto p = price(*loaded.config, "POST", "api.openai.com", "/v1/chat/completions", "",
                         R"({"model":"gpt-9","messages":[]})");
    CHECK(p.unpriced_model);
    REQUIRE(p.error);
    CHECK(*p.error ==
          "unknown model 'gpt-9' on endpoint 'chat' of provider 'openai': no price is configured "
          "(add it under providers.openai.models, or set unknown_model)");
    CHECK(p.model == "gpt-9");
  }
  SUBCASE("no model in the request") {
    const auto p = price(catalog(), "POST", "api.anthropic.com", "/v1/messages", "",
                         R"({"max_tokens":10,"messages":[]})");
    REQUIRE(p.error);
    CHECK(*p.error ==
          "request to endpoint 'messages' of provider 'anthropic' names no model (expected at "
          "body:/model)");
  }
  SUBCASE("a body that is not JSON has no model either") {
    const auto p = price(catalog(), "POST", "api.openai.com", "/v1/chat/completions", "", "{oops");
    REQUIRE(p.error);
    CHECK(*p.error ==
          "request to endpoint 'chat' of provider 'openai' names no model (expected at "
          "body:/model)");
  }
}

TEST_CASE("price_request, provider settings") {
  const auto loaded = rules::load_config_text(R"(providers:
  lab:
    hosts: [lab.test]
    currency: credits
    bytes_per_token: 4
    message_overhead: 0
    unknown_model: { input: 1, output: 1, max_output: 10 }
    endpoints:
      - { name: gen, method: POST, path: /gen, pricing: tokens, model: body:/model, input: { estimate: body:/prompt } }
      - { name: raw, method: POST, path: /raw, pricing: tokens, model: body:/model }
      - { name: fixed, method: POST, path: /fixed, pricing: tokens, model: lab-1, output_max: [body:/max] }
    models:
      lab-1: { input: 1000000, output: 2000000, max_output: 5 }
)",
                                              "t.yaml", "/tmp");
  REQUIRE(loaded.errors.empty());
  const auto& config = *loaded.config;
  SUBCASE("unknown model at the unknown_model price, bytes_per_token 4, no framing") {
    // "abcdefgh" = 8 bytes / 4 = 2 tokens + 10 output = 12 tokens x 1 per 1M = 0.000012
    const auto p =
        price(config, "POST", "lab.test", "/gen", "", R"({"model":"x","prompt":"abcdefgh"})");
    REQUIRE_FALSE(p.error);
    CHECK(p.estimate == rules::Money{12, "credits"});
    CHECK(p.explanation.find("model x from body:/model (not listed: unknown_model price)\n") !=
          std::string::npos);
  }
  SUBCASE("no input pointer: the whole body counts") {
    // {"model":"lab-1"} = 17 bytes / 4 -> 5 tokens x 1 credit + 5 output x 2 credits = 15
    const auto p = price(config, "POST", "lab.test", "/raw", "", R"({"model":"lab-1"})");
    CHECK(p.estimate.micros == 15'000'000);
  }
  SUBCASE("a model named by the endpoint; a wrong-typed maximum is ignored") {
    // whole body {"max":"lots"} = 14 bytes / 4 -> 4 tokens + 5 (model max_output) x 2 = 14
    const auto p = price(config, "POST", "lab.test", "/fixed", "", R"({"max":"lots"})");
    CHECK(p.model == "lab-1");
    CHECK(p.estimate.micros == 14'000'000);
  }
  SUBCASE("the method is part of the match") {
    const auto p = price(config, "GET", "lab.test", "/gen", "", "");
    CHECK(p.endpoint_name == "default");
    CHECK(p.estimate.micros == 0);
    CHECK(p.explanation.find("provider has no default_cost, so 0") != std::string::npos);
  }
}
