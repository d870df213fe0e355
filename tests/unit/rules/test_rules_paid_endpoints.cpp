// Paid endpoints and prices beyond tokens, as the shipped catalog prices them (issue 14): built-in
// tools (OpenAI Responses, Anthropic web search, Gemini grounding), batches, Sora videos, 1-hour
// cache writes and the long-context tier. Each amount is worked out in its comment: input tokens
// = ceil(bytes / 3) + 4 per message, the output maximum at the output price, rounded up once.
#include <doctest/doctest.h>

#include <string>

#include "rules/config_loader.hpp"
#include "rules/estimator.hpp"
#include "rules/usage_reader.hpp"
#include "rules_catalog_support.hpp"

using rules_test::catalog;
using rules_test::provider;

namespace {

rules::Priced price(const std::string& host, const std::string& path, const std::string& body,
                    const rules::HeaderList& headers = {}) {
  rules::RequestView view;
  view.method = "POST";
  view.host = host;
  view.path = path;
  view.headers = &headers;
  view.body = body;
  return rules::price_request(catalog(), view);
}

// The answer `body` to the request `priced` describes, read as the hooks read it.
rules::UsageResult settle(const rules::Priced& priced, const std::string& body,
                          const std::string& type = "application/json") {
  rules::UsageReader reader(*priced.provider, priced.endpoint, priced.model, priced.streaming);
  for (const auto& tool : priced.tools) reader.charge_tool(*tool.tool, tool.each);
  const rules::HeaderList headers{{"Content-Type", type}};
  reader.on_headers({200, &headers});
  reader.on_body(body);
  return reader.finish();
}

bool explains(const rules::Priced& priced, const std::string& line) {
  return priced.explanation.find(line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("OpenAI Responses built-in tools, held from the request, settled from the answer") {
  SUBCASE("web_search: one call held, the calls of the answer charged") {
    // input "hi" (2 bytes) + tools (23 bytes, 1 element): ceil(25/3) + 4 = 13 tokens;
    // 13 x 0.25 + 100 x 2 = 203.25 -> 204, plus one call at 0.01
    const auto p = price("api.openai.com", "/v1/responses",
                         R"({"model":"gpt-5-mini","input":"hi","tools":[{"type":"web_search"}],)"
                         R"("max_output_tokens":100})");
    REQUIRE_FALSE(p.error);
    CHECK(p.estimate.micros == 204 + 10'000);
    REQUIRE(p.tools.size() == 1);
    CHECK(p.tools[0].tool->name == "web_search");
    CHECK(explains(p, "tool web_search: 1 call held at 0.01 each"));
    // 1000 x 0.25 + 200 x 2 = 650, plus two calls
    const auto r = settle(p, R"({"id":"resp_1","model":"gpt-5-mini-2025-08-07","output":[)"
                             R"({"type":"web_search_call","id":"ws_1","status":"completed"},)"
                             R"({"type":"web_search_call","id":"ws_2","status":"completed"},)"
                             R"({"type":"message","content":[]}],)"
                             R"("usage":{"input_tokens":1000,"output_tokens":200}})");
    CHECK(r.actual_micros == 650 + 20'000);
    CHECK(r.tool_calls.at("web_search") == 2);
    CHECK(r.tool_micros == 20'000);
  }
  SUBCASE("web_search_preview costs 0.025 a call for gpt-4o (the model's per_call)") {
    const auto p = price("api.openai.com", "/v1/responses",
                         R"({"model":"gpt-4o","input":"hi","max_output_tokens":10,)"
                         R"("tools":[{"type":"web_search_preview_2025_03_11"}]})");
    REQUIRE(p.tools.size() == 1);
    CHECK(p.tools[0].each == 25'000);
  }
  SUBCASE("code_interpreter: a container by its memory_limit, the distinct containers charged") {
    const auto p = price(
        "api.openai.com", "/v1/responses",
        R"({"model":"gpt-5-mini","input":"hi","max_output_tokens":10,"tools":[{"type":)"
        R"("code_interpreter","container":{"type":"auto","memory_limit":"4g"}},{"type":"file_search",)"
        R"("vector_store_ids":["vs_1"]}],"max_tool_calls":1})");
    // In the endpoint's order: file_search takes the one call max_tool_calls allows.
    REQUIRE(p.tools.size() == 2);
    CHECK(p.tools[0].tool->name == "file_search");
    CHECK(p.tools[0].calls == 1);
    CHECK(p.tools[1].tool->name == "code_interpreter");
    CHECK(p.tools[1].each == 120'000);
    CHECK(p.tools[1].calls == 0);
    const auto r = settle(p, R"({"output":[{"type":"code_interpreter_call","container_id":"c1"},)"
                             R"({"type":"code_interpreter_call","container_id":"c1"},)"
                             R"({"type":"code_interpreter_call","container_id":"c2"},)"
                             R"({"type":"file_search_call","id":"fs_1"}],)"
                             R"("usage":{"input_tokens":10,"output_tokens":10}})");
    // 10 x 0.25 + 10 x 2 = 22.5 -> 23; two containers at 0.12; one search at 0.0025
    CHECK(r.actual_micros == 23 + 240'000 + 2'500);
  }
  SUBCASE("a stream: the calls of response.completed") {
    const auto p = price("api.openai.com", "/v1/responses",
                         R"({"model":"gpt-5-mini","input":"hi","stream":true,)"
                         R"("tools":[{"type":"web_search"}],"max_output_tokens":100})");
    const auto r =
        settle(p,
               "event: response.output_item.done\n"
               R"(data: {"type":"response.output_item.done","item":{"type":"web_search_call"}})"
               "\n\nevent: response.completed\n"
               R"(data: {"type":"response.completed","response":{"model":"gpt-5-mini","output":[)"
               R"({"type":"web_search_call"},{"type":"message"}],"usage":{"input_tokens":1000,)"
               R"("output_tokens":200}}})"
               "\n\n",
               "text/event-stream");
    CHECK(r.actual_micros == 650 + 10'000);
  }
}

TEST_CASE("Anthropic server tools and 1-hour cache writes") {
  SUBCASE("web search: max_uses held, usage.server_tool_use settles") {
    // messages (32 bytes, 1 message) + tools (65 bytes, 1 element): ceil(97/3) + 8 = 41 tokens;
    // 41 x 3 + 100 x 15 = 1623, plus 3 searches at 0.01
    const auto p =
        price("api.anthropic.com", "/v1/messages",
              R"({"model":"claude-sonnet-4-5","max_tokens":100,)"
              R"("messages":[{"role":"user","content":"hi"}],)"
              R"("tools":[{"type":"web_search_20250305","name":"web_search","max_uses":3}]})");
    REQUIRE_FALSE(p.error);
    REQUIRE(p.tools.size() == 1);
    CHECK(p.tools[0].calls == 3);
    CHECK(p.estimate.micros == 1623 + 30'000);
    const auto r =
        settle(p, R"({"id":"msg_1","model":"claude-sonnet-4-5-20250929","usage":)"
                  R"({"input_tokens":100,"output_tokens":50,"cache_read_input_tokens":0,)"
                  R"("cache_creation_input_tokens":0,)"
                  R"("server_tool_use":{"web_search_requests":2}}})");
    // 100 x 3 + 50 x 15 = 1050, plus 2 searches
    CHECK(r.actual_micros == 1050 + 20'000);
  }
  SUBCASE("a web search tool without max_uses holds 10") {
    const auto p = price("api.anthropic.com", "/v1/messages",
                         R"({"model":"claude-haiku-4-5","max_tokens":10,"messages":[],)"
                         R"("tools":[{"type":"web_search_20250305","name":"web_search"}]})");
    REQUIRE(p.tools.size() == 1);
    CHECK(p.tools[0].calls == 10);
  }
  SUBCASE("1-hour writes at 2x input, 5-minute ones at 1.25x") {
    const auto p = price("api.anthropic.com", "/v1/messages",
                         R"({"model":"claude-sonnet-4-5","max_tokens":100,"messages":[]})");
    const auto r = settle(
        p, R"({"usage":{"input_tokens":10,"cache_creation_input_tokens":3000,)"
           R"("cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":1000,)"
           R"("ephemeral_1h_input_tokens":2000},"output_tokens":100}})");
    CHECK(r.tokens.cache_write == 1000);
    CHECK(r.tokens.cache_write_1h == 2000);
    // 10 x 3 + 1000 x 3.75 + 2000 x 6 + 100 x 15 = 30 + 3750 + 12000 + 1500
    CHECK(r.actual_micros == 17'280);
  }
  SUBCASE("streamed: message_start's cache_creation, message_delta's searches") {
    const auto p = price("api.anthropic.com", "/v1/messages",
                         R"({"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,)"
                         R"("messages":[],"tools":[{"type":"web_search_20250305","name":"w"}]})");
    const auto r = settle(
        p,
        "event: message_start\n"
        R"(data: {"type":"message_start","message":{"model":"claude-sonnet-4-5","usage":)"
        R"({"input_tokens":10,"cache_creation_input_tokens":2000,"cache_read_input_tokens":0,)"
        R"("cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":2000},)"
        R"("output_tokens":1}}})"
        "\n\nevent: message_delta\n"
        R"(data: {"type":"message_delta","delta":{},"usage":{"output_tokens":100,)"
        R"("server_tool_use":{"web_search_requests":1}}})"
        "\n\n",
        "text/event-stream");
    // 10 x 3 + 2000 x 6 + 100 x 15 = 13530, plus one search
    CHECK(r.actual_micros == 13'530 + 10'000);
  }
  SUBCASE("above 200K prompt tokens: the long tier, 1-hour writes scaled like input") {
    const auto& sonnet =
        catalog().provider_for_host("api.anthropic.com")->models.at("claude-sonnet-4-5");
    const auto tier = rules::effective_prices(sonnet, 300'000);
    CHECK(tier.long_context);
    CHECK(tier.cache_write == 7'500'000);
    CHECK(tier.cache_write_1h == 12'000'000);
  }
}

TEST_CASE("Gemini grounding with Google Search") {
  const std::string grounded =
      R"({"candidates":[{"content":{"parts":[{"text":"hi"}]},"finishReason":"STOP",)"
      R"("groundingMetadata":{"webSearchQueries":["a","b"]}}],)"
      R"("usageMetadata":{"promptTokenCount":100,"candidatesTokenCount":50}})";
  SUBCASE("Gemini 2.5: one grounded prompt") {
    const auto p = price("generativelanguage.googleapis.com",
                         "/v1beta/models/gemini-2.5-flash:generateContent",
                         R"({"contents":[],"tools":[{"google_search":{}}],)"
                         R"("generationConfig":{"maxOutputTokens":10}})");
    REQUIRE_FALSE(p.error);
    REQUIRE(p.tools.size() == 1);  // the per-query charge has no price for 2.5
    CHECK(p.tools[0].each == 35'000);
    // 100 x 0.30 + 50 x 2.50 = 155, plus one grounded prompt
    CHECK(settle(p, grounded).actual_micros == 155 + 35'000);
  }
  SUBCASE("Gemini 3: per search query, 5 held") {
    const auto p = price("generativelanguage.googleapis.com",
                         "/v1beta/models/gemini-3-flash-preview:generateContent",
                         R"({"contents":[],"tools":[{"googleSearch":{}}],)"
                         R"("generationConfig":{"maxOutputTokens":10}})");
    REQUIRE(p.tools.size() == 2);
    CHECK(p.tools[0].each == 0);
    CHECK(p.tools[1].calls == 5);
    CHECK(p.tools[1].each == 14'000);
    // 100 x 0.50 + 50 x 3 = 200, plus two queries
    CHECK(settle(p, grounded).actual_micros == 200 + 28'000);
  }
  SUBCASE("an answer that did not search costs its tokens only") {
    const auto p = price("generativelanguage.googleapis.com",
                         "/v1beta/models/gemini-2.5-flash:generateContent",
                         R"({"contents":[],"tools":[{"google_search":{}}]})");
    CHECK(settle(p, R"({"candidates":[{"finishReason":"STOP"}],)"
                    R"("usageMetadata":{"promptTokenCount":100,"candidatesTokenCount":50}})")
              .actual_micros == 155);
  }
}

TEST_CASE("batches at half price") {
  SUBCASE("Anthropic message batches: each request priced as messages") {
    // each: 32 bytes of messages -> 15 tokens; 15 x 1 + 100 x 5 = 515 and 15 + 200 x 5 = 1015
    const std::string hi = R"("messages":[{"role":"user","content":"hi"}])";
    const auto p = price("api.anthropic.com", "/v1/messages/batches",
                         R"({"requests":[{"custom_id":"a","params":{"model":"claude-haiku-4-5",)"
                         R"("max_tokens":100,)" +
                             hi +
                             R"(}},{"custom_id":"b","params":{"model":)"
                             R"("claude-haiku-4-5","max_tokens":200,)" +
                             hi + "}}]}");
    REQUIRE_FALSE(p.error);
    CHECK(p.endpoint_name == "message_batches");
    CHECK(p.model == "claude-haiku-4-5");
    CHECK(p.estimate.micros == 765);  // (515 + 1015) x 50 %
    CHECK(explains(p, "2 requests priced as endpoint messages: 0.00153, at 50 %"));
  }
  SUBCASE("a batch request that cannot be priced refuses the batch") {
    const auto p =
        price("api.anthropic.com", "/v1/messages/batches", R"({"requests":[{"custom_id":"a"}]})");
    REQUIRE(p.error);
    CHECK(*p.error == "request 0 of the batch has no object at /params");
  }
  SUBCASE("OpenAI: a batch input file priced line by line") {
    const std::string line =
        R"({"custom_id":"1","method":"POST","url":"/v1/chat/completions","body":{"model":)"
        R"("gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":100}})";
    const auto& openai = *catalog().provider_for_host("api.openai.com");
    // 15 x 0.15 + 100 x 0.60 = 62.25 -> 63 per line
    const auto file = rules::price_batch_file(catalog(), openai, line + "\n" + line + "\r\n\n");
    CHECK_FALSE(file.error);
    CHECK(file.requests == 2);
    CHECK(file.micros == 126);
    CHECK(rules::percent_of(file.micros, 50) == 63);
    const auto bad = rules::price_batch_file(catalog(), openai, line + "\n{\"url\":1}\n");
    REQUIRE(bad.error);
    CHECK(*bad.error == "line 2 of the batch input file: needs a \"url\" and a \"body\" object");
  }
  SUBCASE("OpenAI: a batch of a file tollgate did not see needs batch_estimate") {
    const auto p = price("api.openai.com", "/v1/batches",
                         R"({"input_file_id":"file-abc","endpoint":"/v1/chat/completions",)"
                         R"("completion_window":"24h"})");
    CHECK(p.batch_file == "file-abc");
    CHECK(p.batch_percent == 50);
    REQUIRE(p.error);
    CHECK(*p.error ==
          "the requests of batch input file 'file-abc' are unknown: tollgate did not see its "
          "upload, and provider 'openai' sets no batch_estimate");
  }
}

TEST_CASE("Sora videos: per second by model and size") {
  SUBCASE("the SDK's multipart form: model, seconds and size from its fields") {
    const std::string body =
        "--b0\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na cat\r\n"
        "--b0\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nsora-2-pro\r\n"
        "--b0\r\nContent-Disposition: form-data; name=\"seconds\"\r\n\r\n8\r\n"
        "--b0\r\nContent-Disposition: form-data; name=\"size\"\r\n\r\n1792x1024\r\n--b0--\r\n";
    const auto p = price("api.openai.com", "/v1/videos", body,
                         {{"Content-Type", "multipart/form-data; boundary=b0"}});
    REQUIRE_FALSE(p.error);
    CHECK(p.model == "sora-2-pro");
    CHECK(p.estimate.micros == 4'000'000);  // 8 s x 0.50
    // The job the answer describes settles it: 12 s at 1280x720, 0.30
    const auto r = settle(p, R"({"id":"video_1","object":"video","model":"sora-2-pro",)"
                             R"("status":"queued","seconds":"12","size":"1280x720"})");
    CHECK(r.actual_micros == 3'600'000);
    CHECK(r.id == "video_1");
  }
  SUBCASE("JSON without model, seconds or size: sora-2 for the API's default 4 s") {
    const auto p = price("api.openai.com", "/v1/videos", R"({"prompt":"a cat"})");
    REQUIRE_FALSE(p.error);
    CHECK(p.model == "sora-2");
    CHECK(p.estimate.micros == 400'000);
  }
  SUBCASE("no size for sora-2-pro: the dearest size is held") {
    const auto p = price("api.openai.com", "/v1/videos",
                         R"({"prompt":"a cat","model":"sora-2-pro","seconds":"4"})");
    CHECK(p.estimate.micros == 2'000'000);
  }
}

TEST_CASE("the explanation names the tier it applied") {
  // 1,000,000 letters of input: far above gpt-5.4's 272K-token tier.
  const auto p = price("api.openai.com", "/v1/responses",
                       R"({"model":"gpt-5.4","input":")" + std::string(1'000'000, 'a') +
                           R"(","max_output_tokens":10})");
  REQUIRE_FALSE(p.error);
  CHECK(explains(p,
                 "price per 1M tokens: input 5, output 22.5 (long-context tier: above 272000 "
                 "prompt tokens)"));
  const auto small = price("api.openai.com", "/v1/responses",
                           R"({"model":"gpt-5.4","input":"hi","max_output_tokens":10})");
  CHECK(explains(small, "price per 1M tokens: input 2.5, output 15"));
}
