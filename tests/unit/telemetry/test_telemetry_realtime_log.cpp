// The log line of one realtime response: valid JSON built by RapidJSON, amounts as decimal
// strings, the path's keys redacted; and the header a browser's realtime key travels in counts
// as a secret.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include "telemetry/access_log.hpp"

TEST_CASE("realtime_json, one realtime response") {
  proxy::RealtimeRecord r;
  r.client = "127.0.0.1:5000";
  r.host = "api.openai.com";
  r.target = "/v1/realtime?model=gpt-realtime&api_key=sk-secret";
  r.session = "rt-0123456789abcdef";
  r.response = "resp_\"1\"";
  r.model = "gpt-realtime";
  r.outcome = "completed";
  r.currency = "usd";
  r.estimate = 1'310'000;
  r.cost = 14'004;
  r.input_tokens = 789;
  r.cached_tokens = 640;
  r.output_tokens = 211;
  r.audio_input_tokens = 476;
  r.audio_output_tokens = 150;
  r.ms = 812.3456;
  rapidjson::Document doc;
  doc.Parse(proxy::realtime_json(r).c_str());
  REQUIRE(doc.IsObject());
  CHECK(std::string(doc["mode"].GetString()) == "realtime");
  CHECK(std::string(doc["path"].GetString()) == "/v1/realtime?model=gpt-realtime&api_key=REDACTED");
  CHECK(std::string(doc["response"].GetString()) == "resp_\"1\"");
  CHECK(std::string(doc["estimate"].GetString()) == "1.31");
  CHECK(std::string(doc["cost"].GetString()) == "0.014004");
  CHECK(doc["cached_tokens"].GetInt64() == 640);
  CHECK(doc["audio_output_tokens"].GetInt64() == 150);
  CHECK(doc["ms"].GetDouble() == doctest::Approx(812.345));
}

TEST_CASE("is_secret_header, the realtime subprotocol carries a key") {
  CHECK(proxy::is_secret_header("Sec-WebSocket-Protocol"));
  CHECK(proxy::is_secret_header("authorization"));
  CHECK_FALSE(proxy::is_secret_header("Sec-WebSocket-Version"));
}
