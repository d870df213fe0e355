// Realtime sessions on the rules side (DESIGN §12): per-modality prices and the exact cost of a
// response.done usage (cached tokens a subset of input, never billed twice), Gemini Live's
// usageMetadata, the worst case of a response, the type of a message read from its first bytes,
// and the config keys: websocket endpoints, max_duration, per: session, warn_client, the
// subprotocol credential and the catalog's realtime models.
#include <doctest/doctest.h>

#include "rules/config_loader.hpp"
#include "rules/credential.hpp"
#include "rules/estimator.hpp"
#include "rules/json_prefix.hpp"
#include "rules/json_reader.hpp"
#include "rules/realtime_cost.hpp"
#include "rules_catalog_support.hpp"

using rules_test::catalog;
using rules_test::provider;

namespace {

const rules::ModelPrice& model(const char* provider_name, const char* name) {
  const auto* price = provider(provider_name).price_for_model(name);
  REQUIRE(price);
  return *price;
}

rapidjson::Document json(std::string_view text) {
  rapidjson::Document doc;
  REQUIRE(rules::read_json(doc, text).ok());
  return doc;
}

std::vector<std::string> errors_of(const std::string& yaml) {
  const auto result = rules::load_config_text(yaml, "t.yaml", "/tmp");
  std::vector<std::string> out;
  for (const auto& e : result.errors) out.push_back(e.str());
  return out;
}

}  // namespace

TEST_CASE("openai_realtime_usage and realtime_cost, a response.done usage") {
  // The shape of a real response.done (community thread "help me understand the realtime usage
  // block"): 789 input = 313 text + 476 audio, of which 640 cached = 256 text + 384 audio.
  const auto doc = json(R"({"total_tokens":1000,"input_tokens":789,"output_tokens":211,
      "input_token_details":{"text_tokens":313,"audio_tokens":476,"image_tokens":0,
        "cached_tokens":640,"cached_tokens_details":{"text_tokens":256,"audio_tokens":384}},
      "output_token_details":{"text_tokens":61,"audio_tokens":150}})");
  const auto usage = rules::openai_realtime_usage(doc);
  REQUIRE(usage);
  CHECK(usage->input == rules::Modalities{313, 476, 0});
  CHECK(usage->cached == rules::Modalities{256, 384, 0});
  CHECK(usage->output == rules::Modalities{61, 150, 0});
  CHECK(usage->input_unsplit == 0);
  CHECK(usage->output_unsplit == 0);
  // gpt-realtime: text 4 / cached 0.40 / out 16, audio 32 / cached 0.40 / out 64 per 1M:
  // (313-256)*4 + 256*0.4 + (476-384)*32 + 384*0.4 + 61*16 + 150*64
  // = 228 + 102.4 + 2944 + 153.6 + 976 + 9600 = 14004 micro-USD (cached tokens billed once).
  CHECK(rules::realtime_cost(model("openai", "gpt-realtime"), *usage) == 14004);

  SUBCASE("reasoning tokens are inside text_tokens, not added") {
    const auto reasoning = json(R"({"input_tokens":158,"output_tokens":31,
        "input_token_details":{"audio_tokens":32,"cached_tokens":0,"text_tokens":126},
        "output_token_details":{"audio_tokens":0,"text_tokens":31,"reasoning_tokens":26}})");
    const auto u = rules::openai_realtime_usage(reasoning);
    REQUIRE(u);
    CHECK(u->output == rules::Modalities{31, 0, 0});
    // gpt-realtime-2: 126*4 + 32*32 + 31*24 = 504 + 1024 + 744 = 2272
    CHECK(rules::realtime_cost(model("openai", "gpt-realtime-2"), *u) == 2272);
  }
  SUBCASE("counts not split by modality are billed at the dearest of their kind") {
    const auto bare = json(R"({"input_tokens":100,"output_tokens":10})");
    const auto u = rules::openai_realtime_usage(bare);
    REQUIRE(u);
    CHECK(u->input_unsplit == 100);
    CHECK(u->output_unsplit == 10);
    // gpt-realtime-mini: 100 at audio input 10 + 10 at audio output 20 = 1000 + 200
    CHECK(rules::realtime_cost(model("openai", "gpt-realtime-mini"), *u) == 1200);
  }
  SUBCASE("image input at its own price, cached images at theirs") {
    const auto image = json(R"({"input_tokens":1000,"output_tokens":0,
        "input_token_details":{"text_tokens":0,"audio_tokens":0,"image_tokens":1000,
        "cached_tokens":500,"cached_tokens_details":{"image_tokens":500}}})");
    const auto u = rules::openai_realtime_usage(image);
    REQUIRE(u);
    // gpt-realtime: 500 * 5 + 500 * 0.5 = 2750
    CHECK(rules::realtime_cost(model("openai", "gpt-realtime"), *u) == 2750);
  }
  SUBCASE("no usage at all") {
    CHECK_FALSE(rules::openai_realtime_usage(json("{}")));
    CHECK_FALSE(rules::openai_realtime_usage(json("null")));
  }
}

TEST_CASE("realtime_cost, rounds up once and falls back to the text prices") {
  rules::ModelPrice price;
  price.input = 1'000'000;  // 1 USD per 1M tokens: one token is one micro-USD
  price.output = 3'000'000;
  rules::RealtimeUsage u;
  u.input.audio = 1;  // no audio price: the text one
  u.output.audio = 1;
  CHECK(rules::realtime_cost(price, u) == 4);
  price.input = 1;  // 1e-6 micro-USD a token: a fraction, rounded up
  price.output = 0;
  CHECK(rules::realtime_cost(price, u) == 1);
  const auto p = rules::realtime_prices(model("openai", "gpt-realtime-mini"));
  CHECK(p.dearest_input() == 10'000'000);
  CHECK(p.dearest_output() == 20'000'000);
  CHECK(p.image_cached_input == 80'000);
}

TEST_CASE("realtime_worst_case") {
  const auto& mini = model("openai", "gpt-realtime-mini");
  rules::RealtimeWorstCase worst;
  worst.context = {110, 50, 0};
  worst.output_max = 100;
  // 110*0.6 + 50*10 + 100*20 (audio output, the dearest) = 66 + 500 + 2000
  CHECK(rules::realtime_worst_case(mini, worst) == 2566);
  worst.text_output_only = true;  // output_modalities ["text"]: 100 * 2.4
  CHECK(rules::realtime_worst_case(mini, worst) == 66 + 500 + 240);
}

TEST_CASE("gemini_live_usage") {
  const auto doc = json(R"({"promptTokenCount":300,"cachedContentTokenCount":100,
      "responseTokenCount":250,"thoughtsTokenCount":20,"toolUsePromptTokenCount":10,
      "totalTokenCount":580,
      "promptTokensDetails":[{"modality":"TEXT","tokenCount":100},{"modality":"AUDIO","tokenCount":200}],
      "cacheTokensDetails":[{"modality":"AUDIO","tokenCount":100}],
      "responseTokensDetails":[{"modality":"AUDIO","tokenCount":250}]})");
  const auto u = rules::gemini_live_usage(doc);
  REQUIRE(u);
  CHECK(u->input == rules::Modalities{100, 200, 0});
  CHECK(u->input_unsplit == 10);  // tool-use prompt tokens with no split
  CHECK(u->cached == rules::Modalities{0, 100, 0});
  CHECK(u->output == rules::Modalities{20, 250, 0});  // thoughts billed as text output
  CHECK(u->output_unsplit == 0);
  SUBCASE("candidatesTokenCount is read when responseTokenCount is absent") {
    const auto old = rules::gemini_live_usage(json(R"({"candidatesTokenCount":7})"));
    REQUIRE(old);
    CHECK(old->output_unsplit == 7);
  }
}

TEST_CASE("transcription usage") {
  const auto tokens = rules::openai_transcription_usage(json(
      R"({"type":"tokens","input_tokens":50,"output_tokens":12,"total_tokens":62,
          "input_token_details":{"audio_tokens":45,"text_tokens":5}})"));
  REQUIRE(tokens);
  CHECK(tokens->input == rules::Modalities{5, 45, 0});
  CHECK(tokens->output.text == 12);
  // gpt-4o-transcribe: 5*2.5 + 45*6 + 12*10 = 12.5 + 270 + 120 = 402.5 -> 403
  CHECK(rules::realtime_cost(model("openai", "gpt-4o-transcribe"), *tokens) == 403);
  const auto duration = json(R"({"type":"duration","seconds":2.2})");
  CHECK_FALSE(rules::openai_transcription_usage(duration));
  CHECK(rules::transcription_seconds(duration) == 3);
}

TEST_CASE("scan_top_level_string and scan_first_key, from a message's first bytes") {
  using Status = rules::PrefixScan::Status;
  const auto type = [](std::string_view text) {
    return rules::scan_top_level_string(text, "type");
  };
  CHECK(type(R"({"type":"response.create","response":{)").value == "response.create");
  CHECK(type(R"({"type":"response.cr)").status == Status::more);
  CHECK(type(R"({"event_id":"e1","type":"session.update"})").value == "session.update");
  SUBCASE("a nested type is not the message's") {
    const auto scan = type(
        R"({"item":{"type":"message","content":[{"type":"input_text"}]},"type":"conversation.item.create"})");
    CHECK(scan.status == Status::found);
    CHECK(scan.value == "conversation.item.create");
    CHECK(type(R"({"item":{"type":"message"}})").status == Status::absent);
  }
  SUBCASE("cut inside anything is more") {
    const std::string whole = R"({"a":[1,{"b":"x\"y"}],"n":12, "type" : "t"})";
    for (std::size_t n = 0; n < whole.size(); ++n) {
      const auto scan = type(std::string_view(whole).substr(0, n));
      if (scan.status == Status::found) {
        CHECK(scan.value == "t");
      } else {
        CHECK(scan.status == Status::more);
      }
    }
    CHECK(type(whole).value == "t");
  }
  SUBCASE("not an object, or a type that is not a string") {
    CHECK(type("[1,2]").status == Status::absent);
    CHECK(type(R"({"type":5})").status == Status::absent);
    CHECK(type("").status == Status::more);
  }
  CHECK(rules::scan_first_key(R"({"serverContent":{"modelTurn")").value == "serverContent");
  CHECK(rules::scan_first_key(R"( {"setu)").status == Status::more);
}

TEST_CASE("config, websocket endpoints and realtime budgets") {
  SUBCASE("the catalog's realtime endpoint and models") {
    const auto& openai = provider("openai");
    const auto& mini = model("openai", "gpt-realtime-mini-2025-12-15");  // a dated snapshot
    CHECK(mini.audio_output == 20'000'000);
    CHECK(mini.has_audio_prices());
    const rules::Endpoint* realtime = nullptr;
    for (const auto& e : openai.endpoints)
      if (e.name == "realtime") realtime = &e;
    REQUIRE(realtime);
    CHECK(realtime->websocket.format == "openai-realtime");
    CHECK(realtime->pricing == rules::Pricing::tokens);
    CHECK(realtime->model.text == "query:model");
    CHECK(realtime->max_duration == std::chrono::minutes(60));
    // A model the catalog does not list is priced as the dearest realtime model, never as a text
    // model (and a text endpoint's dearest is never a realtime model).
    CHECK(openai.dearest_model(realtime) == "gpt-4o-realtime-preview");
    CHECK(openai.price_model("gpt-9-realtime", realtime).entry == "gpt-4o-realtime-preview");
    CHECK_FALSE(model("openai", "gpt-5.5-pro").has_audio_prices());
  }
  SUBCASE("the handshake reserves one micro-unit and names the model") {
    static const rules::HeaderList headers;
    rules::RequestView view;
    view.method = "GET";
    view.host = "api.openai.com";
    view.path = "/v1/realtime";
    view.query = "model=gpt-realtime";
    view.headers = &headers;
    const auto priced = rules::price_request(catalog(), view);
    CHECK_FALSE(priced.error);
    CHECK(priced.endpoint_name == "realtime");
    CHECK(priced.model == "gpt-realtime");
    CHECK(priced.estimate.micros == 1);
  }
  SUBCASE("the key in Sec-WebSocket-Protocol is the same credential as in Authorization") {
    const rules::HeaderList as_protocol{
        {"Sec-WebSocket-Protocol", "realtime, openai-insecure-api-key.sk-rt-1"}};
    const rules::HeaderList as_header{{"Authorization", "Bearer sk-rt-1"}};
    rules::RequestView view;
    view.host = "api.openai.com";
    view.headers = &as_protocol;
    const auto id = rules::credential_id(provider("openai"), view);
    CHECK(id == rules::key_id("sk-rt-1"));
    view.headers = &as_header;
    CHECK(rules::credential_id(provider("openai"), view) == id);
  }
  SUBCASE("max_message and max_duration on an endpoint of one's own") {
    const auto loaded = rules::load_config_text(
        "providers:\n  p:\n    hosts: [p.test]\n    currency: usd\n    models: { m: { input: 1, "
        "output: 1, audio_output: 2 } }\n    endpoints:\n      - { name: rt, path: /rt, "
        "websocket: { format: openai-realtime, max_message: 2048 }, max_duration: 90s }\n",
        "t.yaml", "/tmp");
    REQUIRE(loaded.errors.empty());
    const auto& e = loaded.config->providers.front().endpoints.front();
    CHECK(e.websocket.max_message == 2048);
    CHECK(e.max_duration == std::chrono::seconds(90));
    CHECK(e.model.text == "query:model");  // OpenAI Realtime's default
  }
  SUBCASE("per: session, warn_client, and idle_expiry's default for sessions") {
    const auto loaded = rules::load_config_text(
        "include: [catalog:openai]\nbudgets:\n"
        "  - { name: s, currency: usd, limit: 5, per: session, period: total, warn_client: true "
        "}\n",
        "t.yaml", "/tmp");
    REQUIRE(loaded.errors.empty());
    const auto& b = loaded.config->budgets.front();
    CHECK(b.per == "session");
    CHECK(b.warn_client);
    CHECK(b.idle_expiry == std::chrono::hours(1));
  }
  SUBCASE("errors") {
    const std::string head =
        "providers:\n  p:\n    hosts: [p.test]\n    currency: usd\n    models: { m: { input: 1, "
        "output: 1 } }\n    endpoints:\n";
    CHECK(errors_of(head + "      - { name: rt, path: /rt, websocket: { format: sse } }\n") ==
          std::vector<std::string>{
              "t.yaml:7:53: 'format' must be openai-realtime or gemini-live, got 'sse'"});
    CHECK(errors_of(head + "      - { name: rt, path: /rt, cost: 1, websocket: { format: "
                           "openai-realtime } }\n") ==
          std::vector<std::string>{
              "t.yaml:7:9: endpoint 'rt' is a websocket endpoint: each response is priced from "
              "its model's token prices, so it takes no 'cost' and no other 'pricing'"});
    CHECK(errors_of(head + "      - { name: rt, path: /rt, websocket: {} }\n") ==
          std::vector<std::string>{
              "t.yaml:7:43: 'websocket' needs a 'format' (openai-realtime or gemini-live)"});
    CHECK(errors_of(head + "      - { name: rt, path: /rt, websocket: { format: gemini-live }, "
                           "max_duration: soon }\n")
              .size() == 1);
  }
}
