#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include "pipeline/refusal.hpp"

namespace {

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

proxy::Refusal sample() {
  proxy::Refusal r;
  r.kind = budget::RefusedBy::budget;
  r.name = "daily";
  r.message = "budget \"daily\" would be exceeded";
  r.retry_after_s = 3600;
  return r;
}

}  // namespace

TEST_CASE("render_refusal, provider shapes") {
  SUBCASE("openai") {
    auto reply = proxy::render_refusal("openai", sample());
    CHECK(reply.status == 429);
    auto doc = parse(reply.body);
    CHECK(std::string(doc["error"]["message"].GetString()) == "budget \"daily\" would be exceeded");
    CHECK(std::string(doc["error"]["type"].GetString()) == "budget_exceeded");
    CHECK(std::string(doc["error"]["code"].GetString()) == "budget_exceeded");
    CHECK(doc["error"]["param"].IsNull());
  }
  SUBCASE("anthropic") {
    auto doc = parse(proxy::render_refusal("anthropic", sample()).body);
    CHECK(std::string(doc["type"].GetString()) == "error");
    CHECK(std::string(doc["error"]["type"].GetString()) == "rate_limit_error");
  }
  SUBCASE("gemini") {
    auto doc = parse(proxy::render_refusal("gemini", sample()).body);
    CHECK(doc["error"]["code"].GetInt() == 429);
    CHECK(std::string(doc["error"]["status"].GetString()) == "RESOURCE_EXHAUSTED");
  }
  SUBCASE("keepa reports the balance in tokens") {
    auto r = sample();
    r.kind = budget::RefusedBy::balance;
    r.balance_left = 45'000'000;
    auto doc = parse(proxy::render_refusal("keepa", r).body);
    CHECK(doc["tokensLeft"].GetInt64() == 45);
    CHECK(doc["refillIn"].GetInt64() == 3'600'000);
    CHECK(std::string(doc["error"]["message"].GetString()).find("daily") != std::string::npos);
  }
}

TEST_CASE("render_refusal, a request at fault gets the invalid-request shape") {
  auto r = sample();
  r.kind = budget::RefusedBy::price;
  r.name.clear();
  r.status = 400;
  r.retry_after_s.reset();
  r.invalid_request = true;
  SUBCASE("openai") {
    auto doc = parse(proxy::render_refusal("openai", r).body);
    CHECK(std::string(doc["error"]["type"].GetString()) == "invalid_request_error");
    CHECK(doc["error"]["code"].IsNull());
  }
  SUBCASE("anthropic") {
    auto doc = parse(proxy::render_refusal("anthropic", r).body);
    CHECK(std::string(doc["error"]["type"].GetString()) == "invalid_request_error");
  }
  SUBCASE("gemini") {
    auto doc = parse(proxy::render_refusal("gemini", r).body);
    CHECK(doc["error"]["code"].GetInt() == 400);
    CHECK(std::string(doc["error"]["status"].GetString()) == "INVALID_ARGUMENT");
  }
  SUBCASE("plain") {
    auto doc = parse(proxy::render_refusal("plain", r).body);
    CHECK(std::string(doc["error"]["type"].GetString()) == "invalid_request");
  }
}

TEST_CASE("render_refusal, headers") {
  auto reply = proxy::render_refusal("openai", sample());
  CHECK(rules::find_header(reply.headers, "x-tollgate-refused") == "budget");
  CHECK(rules::find_header(reply.headers, "x-tollgate-budget") == "daily");
  CHECK(rules::find_header(reply.headers, "retry-after") == "3600");
  CHECK(rules::find_header(reply.headers, "x-should-retry") == "false");
  CHECK(rules::find_header(reply.headers, "content-type") == "application/json");
}
