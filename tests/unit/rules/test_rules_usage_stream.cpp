#include <doctest/doctest.h>

#include "rules_usage_support.hpp"

using namespace usage_test;
using rules::TokenCounts;

namespace {

// One byte at a time (seed 0), then random splits: every split must give the same result.
std::vector<rules::UsageResult> all_splits(const rules::Provider& p, const rules::Endpoint* e,
                                           const std::string& model, const std::string& body) {
  std::vector<rules::UsageResult> out;
  for (unsigned seed : {0u, 1u, 2u, 42u, 4242u})
    out.push_back(read(p, e, model, true, "text/event-stream; charset=utf-8", body, seed));
  return out;
}

}  // namespace

TEST_CASE("UsageReader::finish, OpenAI chat stream with the usage chunk") {
  const rules::Provider p = openai();
  for (const auto& r :
       all_splits(p, &p.endpoints[0], "gpt-4o-mini", fixture("openai_chat_stream.sse"))) {
    CHECK(r.usage_seen);
    CHECK(r.tokens == TokenCounts{.input = 19, .output = 10});
    CHECK(r.actual_micros == 9);  // 19*0.15 + 10*0.60 = 2.85 + 6 = 8.85 -> 9
    CHECK(r.model == "gpt-4o-mini-2024-07-18");
  }
}

TEST_CASE("UsageReader::finish, OpenAI chat stream without usage") {
  const rules::Provider p = openai();
  std::string body = fixture("openai_chat_stream.sse");
  const std::size_t usage_chunk = body.find(
      "data: "
      "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,"
      "\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":["
      "]");
  REQUIRE(usage_chunk != std::string::npos);
  body.erase(usage_chunk, body.find("\n\n", usage_chunk) + 2 - usage_chunk);
  const auto r = read(p, &p.endpoints[0], "gpt-4o-mini", true, "text/event-stream", body);
  CHECK_FALSE(r.usage_seen);
  CHECK_FALSE(r.actual_micros);
}

TEST_CASE("UsageReader::finish, OpenAI responses stream") {
  const rules::Provider p = openai();
  for (const auto& r :
       all_splits(p, &p.endpoints[1], "o4-mini", fixture("openai_responses_stream.sse"))) {
    CHECK(r.usage_seen);
    CHECK(r.tokens == TokenCounts{.input = 37, .output = 44, .reasoning = 256});
    CHECK(r.actual_micros == 1361);  // 37*1.10 + 300*4.40 = 40.7 + 1320 = 1360.7 -> 1361
    CHECK(r.model == "o4-mini-2025-04-16");
  }
}

TEST_CASE("UsageReader::finish, OpenAI service tiers: the answer's, else the one asked") {
  rules::Provider p = openai();
  rules::ModelPrice& o4 = p.models["o4-mini"];
  o4.tiers["flex"] =
      std::make_shared<const rules::ModelPrice>(rules::tier_price(o4, 550'000, 137'500, 2'200'000));
  o4.tiers["priority"] = std::make_shared<const rules::ModelPrice>(
      rules::tier_price(o4, 2'000'000, 500'000, 8'000'000));
  rules::Endpoint& responses = p.endpoints[1];
  responses.usage.service_tier = "/service_tier";
  const std::string stream = fixture("openai_responses_stream.sse");
  auto answered = [&](std::string_view tier) {
    std::string body = stream;
    const std::string at = "\"response\":{\"id\":\"resp_1\"";
    const auto completed = body.rfind(at);
    REQUIRE(completed != std::string::npos);
    body.insert(completed + 12, "\"service_tier\":\"" + std::string(tier) + "\",");
    return body;
  };
  SUBCASE("the answer names flex: half the standard price") {
    for (const auto& r : all_splits(p, &responses, "o4-mini", answered("flex"))) {
      CHECK(r.service_tier == "flex");
      CHECK(r.actual_micros == 681);  // 37*0.55 + 300*2.20 = 20.35 + 660 = 680.35 -> 681
    }
  }
  auto read_asked = [&](const std::string& body, std::string asked) {
    const rules::HeaderList headers{{"content-type", "text/event-stream"}};
    rules::UsageReader reader(p, &responses, "o4-mini", true);
    reader.set_service_tier(std::move(asked));
    reader.on_headers(rules::ResponseHeadView{200, &headers});
    reader.on_body(body);
    return reader.finish();
  };
  SUBCASE("the answer names default although flex was asked: the standard price") {
    const auto r = read_asked(answered("default"), "flex");
    CHECK(r.service_tier == "default");
    CHECK(r.actual_micros == 1361);
  }
  SUBCASE("the answer names none: the tier asked") {
    const auto r = read_asked(stream, "priority");
    CHECK(r.service_tier.empty());
    CHECK(r.actual_micros == 2474);  // 37*2 + 300*8 = 74 + 2400
  }
  SUBCASE("a tier the model does not price: the standard price") {
    CHECK(read_asked(answered("scale"), "scale").actual_micros == 1361);
  }
}

TEST_CASE("UsageReader::finish, Anthropic stream") {
  const rules::Provider p = anthropic();
  const std::string body = fixture("anthropic_stream.sse");
  SUBCASE("message_start counts under the last cumulative message_delta") {
    for (const auto& r : all_splits(p, &p.endpoints[0], "claude-sonnet-4-5", body)) {
      CHECK(r.usage_seen);
      // output 15 is the last cumulative value, not 1 + 10 + 15
      CHECK(r.tokens == TokenCounts{.input = 25, .cached_input = 1000, .output = 15});
      CHECK(r.actual_micros == 600);  // 25*3 + 1000*0.30 + 15*15 = 75 + 300 + 225
      CHECK(r.model == "claude-sonnet-4-5-20250929");
    }
  }
  SUBCASE("cut after message_start: partial counts, not final") {
    const auto r = read(p, &p.endpoints[0], "claude-sonnet-4-5", true, "text/event-stream",
                        body.substr(0, body.find("event: message_delta")));
    CHECK_FALSE(r.usage_seen);
    CHECK_FALSE(r.actual_micros);
    CHECK(r.tokens == TokenCounts{.input = 25, .cached_input = 1000, .output = 1});
  }
}

TEST_CASE("UsageReader::finish, Gemini SSE running totals") {
  const rules::Provider p = gemini();
  const std::string body = fixture("gemini_stream.sse");
  SUBCASE("the last event, never a sum") {
    for (const auto& r : all_splits(p, &p.endpoints[0], "gemini-2.5-flash", body)) {
      CHECK(r.usage_seen);
      CHECK(r.tokens == TokenCounts{.input = 10, .output = 20, .reasoning = 30});
      CHECK(r.actual_micros == 128);  // 10*0.30 + (20+30)*2.50 = 3 + 125
      CHECK(r.model == "gemini-2.5-flash");
    }
  }
  SUBCASE("cut before the finishReason: partial") {
    const auto r = read(p, &p.endpoints[0], "gemini-2.5-flash", true, "text/event-stream",
                        body.substr(0, body.rfind("data: ")));
    CHECK_FALSE(r.usage_seen);
    CHECK(r.tokens == TokenCounts{.input = 10, .output = 12});
  }
}

TEST_CASE("UsageReader::on_body, SSE recognised without a content type") {
  const rules::Provider p = anthropic();
  rules::UsageReader reader(p, &p.endpoints[0], "claude-sonnet-4-5", true);
  reader.on_body(fixture("anthropic_stream.sse"));
  const auto r = reader.finish();
  CHECK(r.actual_micros == 600);
}

TEST_CASE("UsageReader::finish, stream format unknown: every shape is recognised") {
  SUBCASE("openai chat chunks") {
    const rules::Provider p = openai();
    for (const auto& r : all_splits(p, nullptr, "gpt-4o-mini", fixture("openai_chat_stream.sse"))) {
      CHECK(r.tokens == TokenCounts{.input = 19, .output = 10});
      CHECK(r.actual_micros == 9);
    }
  }
  SUBCASE("gemini running totals") {
    const rules::Provider p = gemini();
    for (const auto& r : all_splits(p, nullptr, "gemini-2.5-flash", fixture("gemini_stream.sse")))
      CHECK(r.actual_micros == 128);
  }
  SUBCASE("openai responses events") {
    const rules::Provider p = openai();
    for (const auto& r : all_splits(p, nullptr, "o4-mini", fixture("openai_responses_stream.sse")))
      CHECK(r.actual_micros == 1361);
  }
}
