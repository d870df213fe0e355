// unknown_model and output_cap through EnforcementHooks, over the real memory ledger: an unknown
// model priced as the dearest (event, metric), refused with unknown_model: refuse (400, the
// invalid-request shape, an event), and an output maximum written into a request a small budget
// could not hold at its worst case. No sockets.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <future>

#include "budget/enforcer.hpp"
#include "pipeline/enforcement_hooks.hpp"
#include "rules/config_loader.hpp"
#include "telemetry/metrics.hpp"

namespace {

struct Hooked {
  std::shared_ptr<const rules::Config> config;
  std::unique_ptr<budget::Enforcer> enforcer;
  proxy::EnforcementHookFactory factory;
  proxy::Exchange ex;
  std::unique_ptr<proxy::ExchangeHooks> hooks;

  static std::shared_ptr<const rules::Config> load(const std::string& extra,
                                                   const std::string& limit) {
    const auto loaded = rules::load_config_text(
        "include: [catalog:openai]\nstore: { type: memory }\n" + extra +
            "budgets:\n  - { name: daily, currency: usd, limit: " + limit + " }\n",
        "t.yaml", "/tmp");
    REQUIRE(loaded.errors.empty());
    return loaded.config;
  }

  Hooked(const std::string& extra, const std::string& limit, const std::string& body)
      : config(load(extra, limit)), enforcer(budget::make_enforcer(config)), factory(*enforcer) {
    ex.config = config;
    ex.provider = config->provider_for_host("api.openai.com");
    REQUIRE(ex.provider);
    ex.mode = proxy::ExchangeMode::intercept;
    ex.method = "POST";
    ex.host = "api.openai.com";
    ex.target = "/v1/chat/completions";
    ex.request_headers = {{"Authorization", "Bearer sk-a"}, {"Content-Type", "application/json"}};
    ex.request_body = body;
    hooks = factory.create(ex);
  }

  std::optional<proxy::LocalReply> request() {
    std::promise<std::optional<proxy::LocalReply>> p;
    hooks->on_request(ex, [&p](std::optional<proxy::LocalReply> r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  std::int64_t reserved() const {
    for (const auto& b : enforcer->budgets())
      if (b.name == "daily") return b.reserved;
    return -1;
  }
  std::vector<budget::Event> events(const std::string& type) const {
    std::vector<budget::Event> out;
    for (auto& e : enforcer->events_since(0))
      if (budget::event_type_name(e.type) == type) out.push_back(e);
    return out;
  }
};

bool metrics_have(const std::string& line) {
  return proxy::Metrics::instance().serialize().find(line) != std::string::npos;
}

const std::string k_hi = R"("messages":[{"role":"user","content":"hi"}])";

}  // namespace

TEST_CASE("EnforcementHooks, an unknown model is priced as the dearest and forwarded") {
  Hooked run("", "500", R"({"model":"gpt-unlisted-1",)" + k_hi + "}");
  REQUIRE_FALSE(run.request().has_value());
  const auto dearest = run.ex.provider->dearest_model(&run.ex.provider->endpoints.front());
  REQUIRE(dearest);
  CHECK(run.reserved() > 0);
  const auto events = run.events("unpriced_model");
  REQUIRE(events.size() == 1);
  CHECK(events[0].message ==
        "model 'gpt-unlisted-1' of provider 'openai' has no price: priced as " + *dearest);
  rapidjson::Document detail;
  detail.Parse(events[0].detail_json.c_str());
  REQUIRE(detail.IsObject());
  CHECK(std::string(detail["priced_as"].GetString()) == *dearest);
  CHECK(std::string(detail["endpoint"].GetString()) == "chat");
  CHECK(metrics_have(R"(tollgate_unpriced_total{model="gpt-unlisted-1",provider="openai"} 1)"));
  run.ex.request_sent = false;
  std::promise<void> done;
  run.hooks->on_complete(run.ex, proxy::Outcome::upstream_error, [&] { done.set_value(); });
  done.get_future().get();
}

TEST_CASE("EnforcementHooks, unknown_model: refuse answers 400 invalid-request, as an event") {
  Hooked run("providers:\n  openai:\n    unknown_model: refuse\n", "50",
             R"({"model":"gpt-unlisted-2",)" + k_hi + "}");
  const auto reply = run.request();
  REQUIRE(reply.has_value());
  CHECK(reply->status == 400);
  CHECK(rules::find_header(reply->headers, "x-tollgate-refused") == "price");
  CHECK(rules::find_header(reply->headers, "x-tollgate-budget") == "");
  rapidjson::Document body;
  body.Parse(reply->body.c_str());
  REQUIRE(body.IsObject());
  CHECK(std::string(body["error"]["type"].GetString()) == "invalid_request_error");
  CHECK(std::string(body["error"]["code"].GetString()) == "model_not_priced");
  CHECK(run.reserved() == 0);
  const auto refused = run.events("refused");
  REQUIRE(refused.size() == 1);
  CHECK(refused[0].message.starts_with("unknown model 'gpt-unlisted-2' on endpoint 'chat'"));
  CHECK(refused[0].detail_json.find(R"("refused_by":"price")") != std::string::npos);
  CHECK(run.events("unpriced_model").empty());
  CHECK(metrics_have(R"(tollgate_unpriced_total{model="gpt-unlisted-2",provider="openai"} 1)"));
}

TEST_CASE("EnforcementHooks, output_cap: inject") {
  // gpt-4o-mini: 0.15 and 0.60 USD per 1M tokens. The messages are 32 bytes: 11 + 4 = 15 input
  // tokens = 2.25 micro-USD. A budget of 0.001 USD (1000 micro-USD) affords c output tokens with
  // 2.25 + 0.6 c <= 1000: c = 1662 (999.45, rounded up to 1000). Without a cap the worst case is
  // 16384 tokens = 9832.65 micro-USD: refused.
  const std::string cap =
      "providers:\n  openai:\n    endpoints:\n      - { name: chat, output_cap: inject }\n";
  SUBCASE("no maximum named: written, reserved, announced") {
    Hooked run(cap, "0.001", R"({"model":"gpt-4o-mini",)" + k_hi + "}");
    REQUIRE_FALSE(run.request().has_value());
    CHECK(run.ex.request_body ==
          R"({"model":"gpt-4o-mini",)" + k_hi + R"(,"max_completion_tokens":1662})");
    CHECK(run.reserved() == 1000);
    run.ex.request_sent = true;
    run.ex.status = 200;
    run.hooks->on_response_head(run.ex);
    CHECK(rules::find_header(run.ex.response_headers, "x-tollgate-output-cap") == "1662");
    CHECK(rules::find_header(run.ex.response_headers, "x-tollgate-cost") == "0.001");
  }
  SUBCASE("more than the budget affords: lowered where the request named it") {
    Hooked run(cap, "0.001", R"({"model":"gpt-4o-mini","max_tokens":5000,)" + k_hi + "}");
    REQUIRE_FALSE(run.request().has_value());
    CHECK(run.ex.request_body == R"({"model":"gpt-4o-mini","max_tokens":1662,)" + k_hi + "}");
    CHECK(run.reserved() == 1000);
  }
  SUBCASE("within what the budget affords: untouched, no header") {
    const std::string body = R"({"model":"gpt-4o-mini","max_tokens":100,)" + k_hi + "}";
    Hooked run(cap, "0.001", body);
    REQUIRE_FALSE(run.request().has_value());
    CHECK(run.ex.request_body == body);
    CHECK(run.reserved() == 63);  // 2.25 + 60 -> 63 micro-USD
    run.ex.status = 200;
    run.hooks->on_response_head(run.ex);
    CHECK(rules::find_header(run.ex.response_headers, "x-tollgate-output-cap") == "");
  }
  SUBCASE("without output_cap the same request is refused") {
    Hooked run("", "0.001", R"({"model":"gpt-4o-mini",)" + k_hi + "}");
    const auto reply = run.request();
    REQUIRE(reply.has_value());
    CHECK(reply->status == 429);
  }
}
