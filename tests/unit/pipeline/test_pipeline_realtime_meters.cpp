// The realtime meters over the real memory ledger and the shipped catalog, driven through
// RealtimeRelay with the frames a client and the provider send (DESIGN §12): every response is
// reserved at its worst case before it starts and settled from its usage; a response.create past
// the budget never reaches the provider and the client gets an error event and Close 1008; a
// response the server starts past the budget is cancelled, settled, then the session closed;
// no hold outlives the session. Gemini Live turns likewise, counted once however often their
// usage is repeated.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <future>

#include "budget/enforcer.hpp"
#include "pipeline/realtime_meters.hpp"
#include "pipeline/realtime_relay.hpp"
#include "rules/config_loader.hpp"

namespace {

using proxy::RealtimeRelay;
using proxy::Side;
namespace ws = proxy::ws;

struct Out {
  std::vector<std::string> texts;  // data messages
  std::optional<std::uint16_t> close;
  std::string close_reason;
};

struct Decoder : ws::FrameSink {
  Out out;
  std::string payload;
  void on_head(const ws::FrameHead&, std::string_view) override { payload.clear(); }
  void on_payload(const ws::FrameHead&, std::string_view, std::string_view plain) override {
    payload.append(plain);
  }
  bool on_end(const ws::FrameHead& h) override {
    if (h.opcode == ws::Opcode::close) {
      out.close = ws::close_code(payload);
      out.close_reason = payload.substr(2);
    } else if (!h.control()) {
      out.texts.push_back(payload);
    }
    return true;
  }
};

struct Live {
  std::shared_ptr<const rules::Config> config;
  std::unique_ptr<budget::Enforcer> enforcer;
  std::unique_ptr<RealtimeRelay> relay;

  Live(const std::string& budgets, const char* provider = "openai",
       const char* endpoint = "realtime", const char* model = "gpt-realtime-mini") {
    const auto loaded = rules::load_config_text(
        "include: [catalog:openai, catalog:gemini]\nstore: { type: memory }\nbudgets:\n" + budgets,
        "t.yaml", "/tmp");
    REQUIRE(loaded.errors.empty());
    config = loaded.config;
    enforcer = budget::make_enforcer(config);
    proxy::RealtimeSession s;
    s.enforcer = enforcer.get();
    s.config = config;
    for (const auto& p : config->providers)
      if (p.name == provider) s.provider = &p;
    REQUIRE(s.provider);
    for (const auto& e : s.provider->endpoints)
      if (e.name == endpoint) s.endpoint = &e;
    REQUIRE(s.endpoint);
    s.id = "rt-test";
    s.request.provider = provider;
    s.request.endpoint = endpoint;
    s.request.model = model;
    s.request.host = s.provider->hosts.front();
    s.request.session = s.id;
    s.instances = {{"s", "rt-test"}};
    relay = std::make_unique<RealtimeRelay>(proxy::make_realtime_meter(std::move(s)), *enforcer,
                                            RealtimeRelay::Limits{});
  }

  void feed(Side side, const std::string& frame) {
    std::string_view rest = frame;
    while (!rest.empty()) {
      rest.remove_prefix(relay->feed(side, rest));
      while (relay->waiting(side)) {
        std::promise<budget::Admission> p;
        relay->admit(side, [&p](budget::Admission a) { p.set_value(std::move(a)); });
        relay->admitted(side, p.get_future().get());
      }
    }
  }
  void client(const std::string& json) {
    feed(Side::client, ws::encode_frame(ws::Opcode::text, json, ws::MaskKey{9, 8, 7, 6}));
  }
  void server(const std::string& json, ws::Opcode op = ws::Opcode::text) {
    feed(Side::upstream, ws::encode_frame(op, json));
  }
  Out to(Side side) {
    ws::FrameReader reader(side == Side::upstream, 1 << 24);
    Decoder d;
    REQUIRE(reader.feed(relay->take(side), d).error == 0);
    return d.out;
  }
  budget::BudgetStanding s() const {
    for (const auto& b : enforcer->budgets())
      if (b.name == "s" && b.key == "rt-test") return b;
    FAIL("no instance");
    return {};
  }
};

// 100 text in, 10 text out, 50 audio out: gpt-realtime-mini (0.60 / 2.40 / 20 per 1M) bills
// 60 + 24 + 1000 = 1084 micro-USD.
const std::string k_done =
    R"({"type":"response.done","response":{"id":"%ID%","status":"%STATUS%","usage":{
    "total_tokens":160,"input_tokens":100,"output_tokens":60,
    "input_token_details":{"text_tokens":100,"audio_tokens":0,"image_tokens":0,"cached_tokens":0,
      "cached_tokens_details":{"text_tokens":0,"audio_tokens":0,"image_tokens":0}},
    "output_token_details":{"text_tokens":10,"audio_tokens":50}}}})";

std::string done(const std::string& id, const std::string& status = "completed") {
  std::string s = k_done;
  s.replace(s.find("%ID%"), 4, id);
  s.replace(s.find("%STATUS%"), 8, status);
  return s;
}

std::string created(const std::string& id) {
  return R"({"type":"response.created","response":{"id":")" + id +
         R"(","status":"in_progress","output_modalities":["audio"],"max_output_tokens":"inf"}})";
}

const char* k_session_created =
    R"({"type":"session.created","session":{"type":"realtime","model":"gpt-realtime-mini"}})";
const char* k_max_100 =
    R"({"type":"session.update","session":{"type":"realtime","max_output_tokens":100}})";

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  REQUIRE(doc.IsObject());
  return doc;
}

}  // namespace

TEST_CASE("OpenAI realtime meter, a response is reserved, forwarded and settled from its usage") {
  Live live("  - { name: s, currency: usd, limit: 1, per: session, period: total }\n");
  live.server(k_session_created);
  live.client(k_max_100);
  live.client(R"({"type":"response.create","event_id":"ev-1"})");
  // The worst case: no conversation yet, 100 output tokens at the audio price (20 per 1M).
  CHECK(live.s().reserved == 2000);
  const auto up = live.to(Side::upstream);
  REQUIRE(up.texts.size() == 2);
  CHECK(up.texts[1] == R"({"type":"response.create","event_id":"ev-1"})");
  live.server(created("resp_1"));
  live.server(R"({"type":"response.output_audio.delta","response_id":"resp_1","delta":"AAAA"})");
  live.server(done("resp_1"));
  CHECK(live.s().spent == 1084);
  CHECK(live.s().reserved == 0);
  CHECK(live.to(Side::client).texts.size() == 4);  // everything the provider sent, as it sent it

  SUBCASE("the next reads the conversation so far, and what was appended since") {
    // 48000 bytes of base64 are 36000 bytes of 24 kHz PCM: 8 tokens at 4800 bytes a token.
    live.client(R"({"type":"input_audio_buffer.append","audio":")" + std::string(48000, 'A') +
                R"("})");
    live.client(R"({"type":"response.create"})");
    // context: 110 text (100 in + 10 out) at 0.60, 50 + 8 audio at 10; output 100 at 20
    // = 66 + 580 + 2000
    CHECK(live.s().reserved == 2646);
  }
  SUBCASE("an error about the response.create releases its hold") {
    live.client(R"({"type":"response.create","event_id":"ev-2"})");
    CHECK(live.s().reserved > 0);
    live.server(
        R"({"type":"error","error":{"type":"invalid_request_error","code":"x","message":"no","event_id":"ev-2"}})");
    CHECK(live.s().reserved == 0);
    CHECK(live.s().spent == 1084);
  }
  SUBCASE("a response.create refused while another response runs releases its hold") {
    live.client(R"({"type":"response.create"})");
    live.server(created("resp_2"));
    const auto running = live.s().reserved;
    live.client(R"({"type":"response.create"})");  // no event_id, as the SDKs send it
    CHECK(live.s().reserved > running);
    live.server(
        R"({"type":"error","error":{"type":"invalid_request_error","code":"conversation_already_has_active_response","message":"busy"}})");
    CHECK(live.s().reserved == running);
    live.server(done("resp_2"));
    CHECK(live.s().reserved == 0);
    CHECK(live.s().spent == 2 * 1084);
  }
  SUBCASE("the provider vanishes mid-response: the estimate is charged") {
    live.client(R"({"type":"response.create"})");
    live.server(created("resp_2"));
    const auto held = live.s().reserved;
    live.relay->gone(Side::upstream);
    CHECK(live.s().reserved == 0);
    CHECK(live.s().spent == 1084 + held);
  }
}

TEST_CASE("OpenAI realtime meter, a response.create past the budget never reaches the provider") {
  // 0.003 USD: the first response holds 2000 and costs 1084; the second would hold 2566
  // (66 + 500 + 2000): 1084 + 2566 > 3000.
  Live live("  - { name: s, currency: usd, limit: 0.003, per: session, period: total }\n");
  live.server(k_session_created);
  live.client(k_max_100);
  live.client(R"({"type":"response.create"})");
  live.server(created("resp_1"));
  live.server(done("resp_1"));
  live.to(Side::upstream);
  live.to(Side::client);
  live.client(R"({"type":"response.create","event_id":"ev-2"})");
  const auto up = live.to(Side::upstream);
  CHECK(up.texts.empty());  // not forwarded
  REQUIRE(up.close);        // nothing in flight: the provider is closed at once
  CHECK(*up.close == 1008);
  const auto down = live.to(Side::client);
  REQUIRE(down.texts.size() == 1);
  const auto error = parse(down.texts[0]);
  CHECK(std::string(error["type"].GetString()) == "error");
  CHECK(std::string(error["error"]["type"].GetString()) == "invalid_request_error");
  CHECK(std::string(error["error"]["code"].GetString()) == "budget_exceeded");
  CHECK(std::string(error["error"]["event_id"].GetString()) == "ev-2");
  CHECK(std::string(error["error"]["message"].GetString())
            .starts_with("tollgate: budget \"s\" (key \"rt-test\") would be exceeded"));
  REQUIRE(down.close);
  CHECK(*down.close == 1008);
  CHECK(down.close_reason == "tollgate: budget 's' exhausted");
  CHECK(live.s().spent == 1084);
  CHECK(live.s().reserved == 0);
}

TEST_CASE("OpenAI realtime meter, a server-started response past the budget is cancelled") {
  Live live("  - { name: s, currency: usd, limit: 0.001, per: session, period: total }\n");
  live.server(k_session_created);
  live.client(k_max_100);
  live.to(Side::upstream);
  live.server(created("resp_vad"));  // server VAD: no response.create; its worst case is 2000
  // Reserved anyway (it runs), and cancelled.
  CHECK(live.s().reserved == 2000);
  const auto up = live.to(Side::upstream);
  REQUIRE(up.texts.size() == 1);
  CHECK(up.texts[0] == R"({"type":"response.cancel","response_id":"resp_vad"})");
  CHECK_FALSE(up.close);
  CHECK_FALSE(live.to(Side::client).close);  // not before its response.done
  live.server(done("resp_vad", "cancelled"));
  CHECK(live.s().spent == 1084);
  CHECK(live.s().reserved == 0);
  const auto down = live.to(Side::client);
  REQUIRE(down.texts.size() == 2);  // response.done, then tollgate's error
  CHECK(parse(down.texts[0])["type"] == "response.done");
  CHECK(parse(down.texts[1])["error"]["code"] == "budget_exceeded");
  REQUIRE(down.close);
  CHECK(*down.close == 1008);
  const auto closed = live.to(Side::upstream);
  REQUIRE(closed.close);
  CHECK(*closed.close == 1008);
}

TEST_CASE("OpenAI realtime meter, warn_client budgets warn the client at their alerts") {
  Live live(
      "  - { name: s, currency: usd, limit: 0.002, per: session, period: total, alerts: [50%], "
      "warn_client: true }\n");
  live.server(k_session_created);
  live.client(k_max_100);
  live.client(R"({"type":"response.create"})");
  live.server(created("resp_1"));
  live.server(done("resp_1"));  // 1084 of 2000: past 50%
  live.to(Side::client);
  const auto events = live.enforcer->events_since(0);
  const auto threshold = std::find_if(events.begin(), events.end(), [](const auto& e) {
    return e.type == budget::EventType::threshold;
  });
  REQUIRE(threshold != events.end());
  live.relay->budget_event(*threshold);
  const auto down = live.to(Side::client);
  REQUIRE(down.texts.size() == 1);
  const auto warning = parse(down.texts[0]);
  CHECK(std::string(warning["type"].GetString()) == "tollgate.budget_warning");
  CHECK(std::string(warning["budget"].GetString()) == "s");
  CHECK(std::string(warning["spent"].GetString()) == "0.001084");
  CHECK(std::string(warning["limit"].GetString()) == "0.002");
  CHECK(warning["percent"].GetInt() == 50);
}

TEST_CASE("OpenAI realtime meter, transcription is billed at the transcription model's price") {
  Live live("  - { name: s, currency: usd, limit: 1, per: session, period: total }\n");
  live.client(
      R"({"type":"session.update","session":{"type":"realtime","audio":{"input":{"transcription":{"model":"gpt-4o-transcribe"}}}}})");
  live.server(
      R"({"type":"conversation.item.input_audio_transcription.completed","item_id":"i1","usage":{"type":"tokens","input_tokens":50,"output_tokens":12,"input_token_details":{"audio_tokens":45,"text_tokens":5}}})");
  CHECK(live.s().spent == 403);  // 5 * 2.5 + 45 * 6 + 12 * 10, rounded up
  CHECK(live.s().reserved == 0);
  SUBCASE("a model billed by the second (whisper-1, 0.0001 USD), its seconds rounded up") {
    live.client(
        R"({"type":"session.update","session":{"type":"realtime","audio":{"input":{"transcription":{"model":"whisper-1"}}}}})");
    live.server(
        R"({"type":"conversation.item.input_audio_transcription.completed","item_id":"i2","usage":{"type":"duration","seconds":2.2}})");
    CHECK(live.s().spent == 403 + 300);
  }
}

TEST_CASE("Gemini Live meter, a turn is reserved before it starts and billed once") {
  Live live("  - { name: s, currency: usd, limit: 1, per: session, period: total }\n", "gemini",
            "live", "");
  live.client(
      R"({"setup":{"model":"models/gemini-2.5-flash-native-audio-preview-09-2025","generationConfig":{"maxOutputTokens":1000}}})");
  live.server(R"({"setupComplete":{}})", ws::Opcode::binary);
  live.client(
      R"({"clientContent":{"turns":[{"role":"user","parts":[{"text":"hi"}]}],"turnComplete":true}})");
  CHECK(live.s().reserved > 12000);  // 1000 output tokens at the audio price, 12 per 1M
  live.server(R"({"serverContent":{"modelTurn":{"parts":[{"inlineData":{"data":"AAAA"}}]}}})",
              ws::Opcode::binary);
  const std::string usage =
      R"("usageMetadata":{"promptTokenCount":100,"responseTokenCount":50,"totalTokenCount":150,
      "promptTokensDetails":[{"modality":"TEXT","tokenCount":100}],
      "responseTokensDetails":[{"modality":"AUDIO","tokenCount":50}]})";
  live.server(R"({"serverContent":{"generationComplete":true},)" + usage + "}", ws::Opcode::binary);
  live.server(R"({"serverContent":{"turnComplete":true},)" + usage + "}", ws::Opcode::binary);
  // 100 text at 0.50 + 50 audio out at 12 = 50 + 600, once although reported twice.
  CHECK(live.s().spent == 650);
  CHECK(live.s().reserved == 0);
  CHECK(live.to(Side::client).texts.size() == 4);  // binary frames pass as they came
}

TEST_CASE("Gemini Live meter, a turn past the budget is refused with Close 1008") {
  Live live("  - { name: s, currency: usd, limit: 0.001, per: session, period: total }\n", "gemini",
            "live", "");
  live.client(
      R"({"setup":{"model":"models/gemini-2.5-flash-native-audio-preview-09-2025","generationConfig":{"maxOutputTokens":1000}}})");
  live.to(Side::upstream);
  live.client(R"({"clientContent":{"turns":[],"turnComplete":true}})");
  const auto up = live.to(Side::upstream);
  CHECK(up.texts.empty());
  REQUIRE(up.close);
  const auto down = live.to(Side::client);
  CHECK(down.texts.empty());  // Live has no error message: the Close says it
  REQUIRE(down.close);
  CHECK(*down.close == 1008);
  CHECK(live.s().reserved == 0);
}
