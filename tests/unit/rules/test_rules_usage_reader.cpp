#include <doctest/doctest.h>
#include <zlib.h>

#include "rules/body_decoder.hpp"
#include "rules_usage_support.hpp"

using namespace usage_test;
using rules::TokenCounts;

TEST_CASE("UsageReader::finish, OpenAI JSON bodies") {
  const rules::Provider p = openai();
  SUBCASE("chat completion with cached prompt") {
    const auto r = read(p, &p.endpoints[0], "gpt-4o-mini", false, "application/json",
                        fixture("openai_chat.json"));
    CHECK(r.usage_seen);
    // prompt 1200 includes 1024 cached: 176 uncached
    CHECK(r.tokens == TokenCounts{.input = 176, .cached_input = 1024, .output = 300});
    // 176*0.15 + 1024*0.075 + 300*0.60 = 26.4 + 76.8 + 180 = 283.2 micro-USD -> 284 (rounded up)
    CHECK(r.actual_micros == 284);
    CHECK(r.model == "gpt-4o-mini-2024-07-18");
  }
  SUBCASE("responses with reasoning inside output_tokens") {
    const auto r = read(p, &p.endpoints[1], "o4-mini", false, "application/json",
                        fixture("openai_responses.json"));
    CHECK(r.usage_seen);
    // output 1500 includes 1200 reasoning: 300 + 1200, billed once each
    CHECK(r.tokens ==
          TokenCounts{.input = 1500, .cached_input = 500, .output = 300, .reasoning = 1200});
    // 1500*1.10 + 500*0.275 + 1500*4.40 = 1650 + 137.5 + 6600 = 8387.5 -> 8388
    CHECK(r.actual_micros == 8388);
  }
  SUBCASE("embeddings") {
    const auto r = read(p, &p.endpoints[2], "text-embedding-3-small", false, "application/json",
                        fixture("openai_embeddings.json"));
    CHECK(r.tokens == TokenCounts{.input = 8});
    CHECK(r.actual_micros == 1);  // 8*0.02 = 0.16 -> 1
  }
  SUBCASE("images without usage: count of data[] at the image price") {
    rules::UsageReader reader(p, &p.endpoints[3], "dall-e-3", false);
    reader.set_image_price(40'000);
    reader.on_body(fixture("openai_images.json"));
    const auto r = reader.finish();
    CHECK(r.usage_seen);
    CHECK(r.actual_micros == 80'000);  // 2 images * 0.04
  }
  SUBCASE("images without a known size: the dearest price") {
    const auto r = read(p, &p.endpoints[3], "dall-e-3", false, "application/json",
                        fixture("openai_images.json"));
    CHECK(r.actual_micros == 160'000);  // 2 images * 0.08 (hd)
  }
  SUBCASE("unknown reported and requested model: tokens but no price") {
    const auto r = read(p, &p.endpoints[0], "gpt-9", false, "application/json",
                        R"({"model":"gpt-9","usage":{"prompt_tokens":5,"completion_tokens":1}})");
    CHECK(r.usage_seen);
    CHECK(r.tokens == TokenCounts{.input = 5, .output = 1});
    CHECK_FALSE(r.actual_micros);
  }
  SUBCASE("error body without usage") {
    rules::UsageReader reader(p, &p.endpoints[0], "gpt-4o-mini", false);
    const rules::HeaderList headers{{"content-type", "application/json"}};
    reader.on_headers(rules::ResponseHeadView{500, &headers});
    reader.on_body(R"({"error":{"message":"boom","type":"server_error"}})");
    const auto r = reader.finish();
    CHECK(r.status == 500);
    CHECK_FALSE(r.usage_seen);
    CHECK_FALSE(r.actual_micros);
  }
  SUBCASE("not JSON at all") {
    const auto r = read(p, &p.endpoints[0], "gpt-4o-mini", false, "application/json", "{oops");
    CHECK_FALSE(r.usage_seen);
  }
}

TEST_CASE("UsageReader::finish, configured usage pointers") {
  rules::Provider p = openai();
  rules::Endpoint& chat = p.endpoints[0];
  chat.usage.input = "/usage/prompt_tokens";
  chat.usage.cached_input = "/usage/prompt_tokens_details/cached_tokens";
  chat.usage.output = "/usage/completion_tokens";
  SUBCASE("pointers read the same counts under the openai convention") {
    const auto r =
        read(p, &chat, "gpt-4o-mini", false, "application/json", fixture("openai_chat.json"));
    CHECK(r.tokens == TokenCounts{.input = 176, .cached_input = 1024, .output = 300});
    CHECK(r.actual_micros == 284);
  }
  SUBCASE("a pointer to a missing field counts nothing") {
    chat.usage.output = "/usage/nope";
    const auto r =
        read(p, &chat, "gpt-4o-mini", false, "application/json", fixture("openai_chat.json"));
    CHECK(r.tokens == TokenCounts{.input = 176, .cached_input = 1024});
  }
  SUBCASE("anthropic-style pointers are exclusive") {
    rules::Provider a = anthropic();
    a.endpoints[0].usage.input = "/usage/input_tokens";
    a.endpoints[0].usage.cached_input = "/usage/cache_read_input_tokens";
    a.endpoints[0].usage.output = "/usage/output_tokens";
    const auto r = read(a, &a.endpoints[0], "claude-sonnet-4-5", false, "application/json",
                        fixture("anthropic_messages.json"));
    CHECK(r.tokens == TokenCounts{.input = 100, .cached_input = 10000, .output = 300});
  }
}

TEST_CASE("UsageReader::finish, Anthropic and Gemini JSON bodies") {
  SUBCASE("anthropic cache write and read") {
    const rules::Provider p = anthropic();
    const auto r = read(p, &p.endpoints[0], "claude-sonnet-4-5", false, "application/json",
                        fixture("anthropic_messages.json"));
    CHECK(r.usage_seen);
    CHECK(r.tokens ==
          TokenCounts{.input = 100, .cached_input = 10000, .cache_write = 2000, .output = 300});
    // 100*3 + 10000*0.30 + 2000*3.75 + 300*15 = 300 + 3000 + 7500 + 4500
    CHECK(r.actual_micros == 15'300);
    CHECK(r.model == "claude-sonnet-4-5-20250929");
  }
  SUBCASE("gemini long context with thoughts") {
    const rules::Provider p = gemini();
    const auto r = read(p, &p.endpoints[0], "gemini-2.5-pro", false, "application/json",
                        fixture("gemini_generate.json"));
    CHECK(r.tokens ==
          TokenCounts{.input = 200'000, .cached_input = 50'000, .output = 1000, .reasoning = 2000});
    // prompt 250000 > 200000: long tier. 200000*2.5 + 50000*0.625 + 3000*15 = 500000 + 31250 +
    // 45000
    CHECK(r.actual_micros == 576'250);
    CHECK(r.model == "gemini-2.5-pro");
  }
  SUBCASE("gemini JSON-array stream: the last running total") {
    const rules::Provider p = gemini();
    for (unsigned seed : {0u, 3u, 99u}) {
      const auto r = read(p, &p.endpoints[0], "gemini-2.5-flash", true, "application/json",
                          fixture("gemini_stream_array.json"), seed);
      CHECK(r.usage_seen);
      CHECK(r.tokens == TokenCounts{.input = 10, .output = 20, .reasoning = 30});
      CHECK(r.actual_micros == 128);  // 10*0.30 + 50*2.50 = 3 + 125
    }
  }
}

TEST_CASE("UsageReader::finish, Keepa gzip body and balance") {
  const rules::Provider p = keepa();
  const std::string json = fixture("keepa_product.json");
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string gz(deflateBound(&zs, json.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(json.data()));
  zs.avail_in = static_cast<uInt>(json.size());
  zs.next_out = reinterpret_cast<Bytef*>(gz.data());
  zs.avail_out = static_cast<uInt>(gz.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  gz.resize(zs.total_out);
  deflateEnd(&zs);

  rules::UsageReader reader(p, &p.endpoints[0], "", false);
  const rules::HeaderList headers{{"Content-Type", "application/json;charset=UTF-8"},
                                  {"Content-Encoding", "gzip"},
                                  {"tokens-left", "1194"}};
  rules::ResponseHeadView head{200, &headers};
  reader.on_headers(head);
  rules::BodyDecoder decoder(head.header("content-encoding"));
  std::string decoded;
  for (std::size_t i = 0; i < gz.size(); i += 7) {
    decoded.clear();
    REQUIRE(decoder.feed(std::string_view(gz).substr(i, 7), decoded));
    reader.on_body(decoded);
  }
  const auto r = reader.finish();
  CHECK(r.usage_seen);
  CHECK(r.actual_micros == 5'000'000);  // tokensConsumed 5
  CHECK(r.balance == 1'195'000'000);    // body wins over the earlier header (1194)
  CHECK(r.refill_per_minute == 20'000'000);
  CHECK(r.refill_in_ms == 3000);
}

TEST_CASE("UsageReader::on_headers, balance and rate limits") {
  SUBCASE("keepa balance header alone") {
    const rules::Provider p = keepa();
    rules::UsageReader reader(p, nullptr, "", false);
    const rules::HeaderList headers{{"Tokens-Left", "-3"}};
    reader.on_headers(rules::ResponseHeadView{429, &headers});
    const auto r = reader.finish();
    CHECK(r.balance == -3'000'000);
    CHECK_FALSE(r.usage_seen);
  }
  SUBCASE("openai configured names") {
    const rules::Provider p = openai();
    rules::UsageReader reader(p, &p.endpoints[0], "gpt-4o-mini", false);
    const rules::HeaderList headers{{"x-ratelimit-remaining-tokens", "149984"},
                                    {"X-RateLimit-Remaining-Requests", "59"},
                                    {"x-ratelimit-reset-tokens", "6ms"}};
    reader.on_headers(rules::ResponseHeadView{200, &headers});
    const auto r = reader.finish();
    CHECK(r.rate_limits.at("remaining_tokens") == "149984");
    CHECK(r.rate_limits.at("remaining_requests") == "59");
    CHECK(r.rate_limits.at("reset_tokens") == "6ms");
    CHECK(r.rate_limits.at("x-ratelimit-remaining-requests") == "59");
    CHECK(r.rate_limits.count("reset_requests") == 0);
  }
  SUBCASE("anthropic-ratelimit-* headers") {
    const rules::Provider p = anthropic();
    rules::UsageReader reader(p, &p.endpoints[0], "claude-sonnet-4-5", false);
    const rules::HeaderList headers{{"anthropic-ratelimit-tokens-remaining", "39000"},
                                    {"anthropic-ratelimit-requests-reset", "2025-01-01T00:00:30Z"}};
    reader.on_headers(rules::ResponseHeadView{200, &headers});
    const auto r = reader.finish();
    CHECK(r.rate_limits.at("remaining_tokens") == "39000");
    CHECK(r.rate_limits.at("reset_requests") == "2025-01-01T00:00:30Z");
    CHECK(r.rate_limits.at("anthropic-ratelimit-tokens-remaining") == "39000");
  }
}

TEST_CASE("UsageReader::finish, body past the JSON bound") {
  const rules::Provider p = openai();
  rules::UsageReader reader(p, &p.endpoints[0], "gpt-4o-mini", false);
  reader.on_body(R"({"id":"x","choices":[{"message":{"content":")");
  const std::string filler(64 * 1024, 'a');
  for (std::size_t sent = 0; sent <= rules::UsageReader::k_max_json_bytes; sent += filler.size())
    reader.on_body(filler);
  reader.on_body(R"("}}],"usage":{"prompt_tokens":1200,"completion_tokens":300,)"
                 R"("prompt_tokens_details":{"cached_tokens":1024}}})");
  const auto r = reader.finish();
  CHECK(r.usage_seen);
  CHECK(r.tokens == TokenCounts{.input = 176, .cached_input = 1024, .output = 300});
  CHECK(r.actual_micros == 284);
}
