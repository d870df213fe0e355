// JSON from the network must neither crash tollgate (deep nesting: the recursive parser ran out of
// stack) nor let a request around its price (a key given twice: tollgate read the first, the
// provider reads the last).
#include <doctest/doctest.h>

#include <string>

#include "rules/config_loader.hpp"
#include "rules/estimator.hpp"
#include "rules/json_reader.hpp"
#include "rules/stream_usage.hpp"
#include "rules_catalog_support.hpp"
#include "rules_usage_support.hpp"

using rules_test::catalog;
using rules_test::provider;

namespace {

using Status = rules::JsonReadResult::Status;

std::string nested_arrays(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

std::string open_objects(std::size_t depth) {
  std::string out;
  for (std::size_t i = 0; i < depth; ++i) out += R"({"a":)";
  return out;
}

rules::JsonReadResult read(const std::string& text, rules::JsonReadOptions options = {}) {
  rapidjson::Document doc;
  auto result = rules::read_json(doc, text, options);
  if (!result.ok()) CHECK(doc.IsNull());
  return result;
}

rules::Priced price_chat(const std::string& body) {
  static const rules::HeaderList headers;
  rules::RequestView view;
  view.method = "POST";
  view.host = "api.openai.com";
  view.path = "/v1/chat/completions";
  view.headers = &headers;
  view.body = body;
  return rules::price_request(catalog(), view);
}

const std::string k_messages = R"("messages":[{"role":"user","content":"hi"}])";

}  // namespace

TEST_CASE("read_json, nesting") {
  SUBCASE("nesting at the limit is read") {
    CHECK(read(nested_arrays(rules::k_json_max_depth)).ok());
  }
  SUBCASE("one level past the limit is refused") {
    const auto r = read(nested_arrays(rules::k_json_max_depth + 1));
    CHECK(r.status == Status::too_deep);
    CHECK(r.hostile());
    CHECK(r.message == "JSON nested deeper than 128 levels");
  }
  SUBCASE("150,000 unclosed '[' are refused, not a stack overflow") {
    const auto r = read(std::string(150'000, '['));
    CHECK(r.status == Status::too_deep);
    CHECK(r.message == "JSON nested deeper than 128 levels");
  }
  SUBCASE("deep objects, numbers as strings, stop when done") {
    CHECK(
        read(open_objects(100'000), {.numbers_as_strings = true, .stop_when_done = true}).status ==
        Status::too_deep);
  }
  SUBCASE("text that is not JSON is a syntax error with RapidJSON's words and offset") {
    const auto r = read(R"({"model": })");
    CHECK(r.status == Status::syntax);
    CHECK_FALSE(r.hostile());
    CHECK(r.offset == 10);
    CHECK(r.message == "Invalid value.");
  }
  SUBCASE("stop_when_done reads the value at the start and ignores the rest") {
    rapidjson::Document doc;
    CHECK(rules::read_json(doc, R"({"total_tokens":7}, "more")", {.stop_when_done = true}).ok());
    CHECK(doc["total_tokens"].GetInt() == 7);
  }
}

TEST_CASE("read_json, duplicate keys") {
  const rules::JsonReadOptions reject{.reject_duplicate_keys = true};
  SUBCASE("a key twice at the top") {
    const auto r = read(R"({"model":"gpt-4o-mini","n":1,"model":"gpt-4o"})", reject);
    CHECK(r.status == Status::duplicate_key);
    CHECK(r.hostile());
    CHECK(r.message == R"(duplicate key "model")");
  }
  SUBCASE("keys are compared after unescaping") {
    CHECK(read(R"({"model":"gpt-4o-mini","mod\u0065l":"gpt-4o"})", reject).message ==
          R"(duplicate key "model")");
  }
  SUBCASE("a key twice in a nested object") {
    CHECK(read(R"({"messages":[{"role":"user","content":"a","content":"b"}]})", reject).message ==
          R"(duplicate key "content")");
  }
  SUBCASE("a large object is checked too") {
    std::string body = "{";
    for (int i = 0; i < 1000; ++i)
      body += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
    CHECK(read(body + R"("k500":0})", reject).message == R"(duplicate key "k500")");
    CHECK(read(body + R"("k1000":0})", reject).ok());
  }
  SUBCASE("the key is shown escaped and cut short") {
    CHECK(read(R"({"a\"\n":1,"a\"\n":2})", reject).message == R"(duplicate key "a\"\u000a")");
    const std::string long_key(100, 'x');
    CHECK(read("{\"" + long_key + "\":1,\"" + long_key + "\":2}", reject).message ==
          "duplicate key \"" + std::string(64, 'x') + "...\"");
  }
  SUBCASE("the same key in different objects is no duplicate") {
    CHECK(read(R"({"a":{"model":1},"b":{"model":2},"c":[{"model":3},{"model":4}]})", reject).ok());
  }
  SUBCASE("allowed unless asked") {
    CHECK(read(R"({"usage":1,"usage":2})").ok());
  }
}

TEST_CASE("price_request, hostile JSON bodies are refused") {
  SUBCASE("nested deeper than the limit") {
    const auto priced = price_chat(std::string(150'000, '['));
    REQUIRE(priced.error);
    CHECK(*priced.error == "JSON nested deeper than 128 levels in the request body");
    CHECK(priced.explanation.find("refused: JSON nested deeper") != std::string::npos);
  }
  SUBCASE("a second model, a cheaper one first") {
    const auto priced =
        price_chat(R"({"model":"gpt-4o-mini",)" + k_messages + R"(,"model":"gpt-4o"})");
    REQUIRE(priced.error);
    CHECK(*priced.error == R"(duplicate key "model" in the request body)");
  }
  SUBCASE("a second max_tokens") {
    const auto priced =
        price_chat(R"({"model":"gpt-4o","max_tokens":1,)" + k_messages + R"(,"max_tokens":16000})");
    REQUIRE(priced.error);
    CHECK(*priced.error == R"(duplicate key "max_tokens" in the request body)");
  }
  SUBCASE("a second n") {
    const auto priced = price_chat(R"({"model":"gpt-4o","n":1,)" + k_messages + R"(,"n":8})");
    REQUIRE(priced.error);
    CHECK(*priced.error == R"(duplicate key "n" in the request body)");
  }
  SUBCASE("the model again under an escaped name") {
    const auto priced =
        price_chat(R"({"model":"gpt-4o-mini",)" + k_messages + R"(,"mod\u0065l":"gpt-4o"})");
    REQUIRE(priced.error);
    CHECK(*priced.error == R"(duplicate key "model" in the request body)");
  }
  SUBCASE("a key twice inside a message") {
    const auto priced = price_chat(
        R"({"model":"gpt-4o","messages":[{"role":"user","content":"a","content":"b"}]})");
    REQUIRE(priced.error);
    CHECK(*priced.error == R"(duplicate key "content" in the request body)");
  }
  SUBCASE("an ordinary body is priced as before") {
    const auto priced = price_chat(R"({"model":"gpt-4o-mini","max_tokens":10,)" + k_messages + "}");
    CHECK_FALSE(priced.error);
    CHECK(priced.model == "gpt-4o-mini");
    CHECK(priced.estimate.micros > 0);
  }
  SUBCASE("a body that is not JSON keeps its old refusal") {
    const auto priced = price_chat("model=gpt-4o");
    REQUIRE(priced.error);
    CHECK(priced.error->find("names no model") != std::string::npos);
  }
}

TEST_CASE("UsageReader, answers nested too deep read as no usage") {
  // Well-formed, with usage in place: only the nesting limit keeps it from being read.
  using namespace usage_test;
  const rules::Provider p = openai();
  const std::string usage = R"("usage":{"prompt_tokens":5,"completion_tokens":5})";
  SUBCASE("JSON body") {
    const std::string body = "{" + usage + R"(,"x":)" + nested_arrays(200'000) + "}";
    const auto r = read(p, &p.endpoints[0], "gpt-4o-mini", false, "application/json", body);
    CHECK_FALSE(r.usage_seen);
    CHECK_FALSE(r.actual_micros);
  }
  SUBCASE("SSE event") {
    const std::string sse = R"(data: {"choices":[],)" + usage + R"(,"x":)" +
                            nested_arrays(200'000) + "}\n\ndata: [DONE]\n\n";
    const auto r = read(p, &p.endpoints[0], "gpt-4o-mini", true, "text/event-stream", sse);
    CHECK_FALSE(r.usage_seen);
    CHECK_FALSE(r.actual_micros);
  }
  SUBCASE("the same answers, shallow, are read") {
    const std::string body = "{" + usage + R"(,"x":)" + nested_arrays(100) + "}";
    CHECK(read(p, &p.endpoints[0], "gpt-4o-mini", false, "application/json", body).usage_seen);
  }
}

TEST_CASE("inject_include_usage, a body nested too deep is left alone") {
  rules::Endpoint chat;
  chat.stream.inject_include_usage = true;
  CHECK_FALSE(
      rules::inject_include_usage(chat, R"({"stream":true,"x":)" + nested_arrays(150'000) + "}"));
  CHECK_FALSE(
      rules::inject_include_usage(chat, R"({"stream":true,"x":)" + std::string(150'000, '[')));
  CHECK(rules::inject_include_usage(chat, R"({"stream":true,"x":)" + nested_arrays(100) + "}"));
}
