// EnforcementHooks called directly, as the relay calls them, over the real memory ledger: a
// priced request is reserved, refused in the provider's shape when it does not fit, settled from
// the usage in the response, released when the provider never saw it, charged its estimate when
// the usage never came. No sockets.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <future>

#include "budget/enforcer.hpp"
#include "pipeline/enforcement_hooks.hpp"
#include "rules/config_loader.hpp"

namespace {

std::shared_ptr<const rules::Config> config_with_limit(const std::string& limit) {
  const auto loaded = rules::load_config_text(
      "include: [catalog:openai]\nstore: { type: memory }\nbudgets:\n"
      "  - { name: daily, currency: usd, limit: " +
          limit + " }\n",
      "t.yaml", "/tmp");
  REQUIRE(loaded.errors.empty());
  return loaded.config;
}

struct Run {
  std::shared_ptr<const rules::Config> config;
  std::unique_ptr<budget::Enforcer> enforcer = budget::make_enforcer(config);
  proxy::EnforcementHookFactory factory{*enforcer};
  proxy::Exchange ex;
  std::unique_ptr<proxy::ExchangeHooks> hooks;

  explicit Run(const std::string& limit) : config(config_with_limit(limit)) {
    ex.config = config;
    ex.provider = config->provider_for_host("api.openai.com");
    REQUIRE(ex.provider);
    ex.mode = proxy::ExchangeMode::intercept;
    ex.method = "POST";
    ex.host = "api.openai.com";
    ex.target = "/v1/chat/completions";
    ex.request_headers = {{"Authorization", "Bearer sk-a"}, {"Content-Type", "application/json"}};
    ex.request_body =
        R"({"model":"gpt-4o-mini","max_tokens":100,"messages":[{"role":"user","content":"hi"}]})";
    hooks = factory.create(ex);
  }

  std::optional<proxy::LocalReply> request() {
    std::promise<std::optional<proxy::LocalReply>> p;
    hooks->on_request(ex, [&p](std::optional<proxy::LocalReply> r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  void complete(proxy::Outcome outcome) {
    std::promise<void> p;
    hooks->on_complete(ex, outcome, [&p] { p.set_value(); });
    p.get_future().get();
  }
  budget::BudgetStanding daily() const {
    for (const auto& b : enforcer->budgets())
      if (b.name == "daily") return b;
    FAIL("no daily budget");
    return {};
  }
};

}  // namespace

TEST_CASE("EnforcementHooks, a forwarded exchange is reserved, then settled from its usage") {
  Run run("5");
  REQUIRE_FALSE(run.request().has_value());
  const auto held = run.daily().reserved;
  CHECK(held > 0);
  run.ex.request_sent = true;
  run.ex.status = 200;
  run.ex.response_headers = {{"Content-Type", "application/json"}};
  run.hooks->on_response_head(run.ex);
  run.hooks->on_response_body(
      run.ex, R"({"id":"c","usage":{"prompt_tokens":1000,"completion_tokens":500}})");
  run.complete(proxy::Outcome::complete);
  // gpt-4o-mini: 0.15 and 0.60 USD per 1M tokens: 1000 in + 500 out = 150 + 300 micro-USD.
  CHECK(run.daily().spent == 450);
  CHECK(run.daily().reserved == 0);
}

TEST_CASE("EnforcementHooks, a request that does not fit is answered locally") {
  Run run("0.00001");  // 10 micro-USD: below any estimate of this request
  const auto reply = run.request();
  REQUIRE(reply.has_value());
  CHECK(reply->status == 429);
  CHECK(rules::find_header(reply->headers, "x-tollgate-refused") == "budget");
  CHECK(rules::find_header(reply->headers, "x-tollgate-budget") == "daily");
  rapidjson::Document body;
  body.Parse(reply->body.c_str());
  REQUIRE(body.IsObject());
  CHECK(std::string(body["error"]["code"].GetString()) == "budget_exceeded");
  CHECK(run.daily().reserved == 0);
  CHECK(run.daily().spent == 0);
}

TEST_CASE("EnforcementHooks, the endings that carry no usage") {
  Run run("5");
  REQUIRE_FALSE(run.request().has_value());
  const auto estimate = run.daily().reserved;
  SUBCASE("the provider never saw the request: released") {
    run.ex.request_sent = false;
    run.complete(proxy::Outcome::upstream_error);
    CHECK(run.daily().spent == 0);
  }
  SUBCASE("the client left and no usage came: charged the estimate") {
    run.ex.request_sent = true;
    run.ex.status = 200;
    run.hooks->on_response_head(run.ex);
    run.complete(proxy::Outcome::client_gone);
    CHECK(run.daily().spent == estimate);
  }
  CHECK(run.daily().reserved == 0);
}

TEST_CASE("EnforcementHooks, images are charged at the price of the size and quality asked") {
  Run run("5");
  run.ex.target = "/v1/images/generations";
  run.ex.request_body =
      R"({"model":"dall-e-3","prompt":"a cat","n":2,"size":"1024x1024","quality":"standard"})";
  run.hooks = run.factory.create(run.ex);
  REQUIRE_FALSE(run.request().has_value());
  CHECK(run.daily().reserved == 80'000);  // 2 x 0.04 USD (1024x1024 standard)
  run.ex.request_sent = true;
  run.ex.status = 200;
  run.ex.response_headers = {{"Content-Type", "application/json"}};
  run.hooks->on_response_head(run.ex);
  // DALL-E 3 answers without usage: the images in data[] are counted. Not at the dearest
  // entry (0.12 USD, 1792x1024 hd): at what was asked for.
  run.hooks->on_response_body(run.ex, R"({"created":1,"data":[{"url":"u1"},{"url":"u2"}]})");
  run.complete(proxy::Outcome::complete);
  CHECK(run.daily().spent == 80'000);
  CHECK(run.daily().reserved == 0);
}

TEST_CASE("EnforcementHooks, every exchange leaves a cost record that its response names") {
  Run run("5");
  run.ex.started = std::chrono::steady_clock::now();
  SUBCASE("forwarded: x-tollgate-record names the record of its settlement") {
    REQUIRE_FALSE(run.request().has_value());
    run.ex.request_sent = true;
    run.ex.status = 200;
    run.ex.response_headers = {{"Content-Type", "application/json"}, {"x-request-id", "req_9"}};
    run.hooks->on_response_head(run.ex);
    const auto id = std::string(rules::find_header(run.ex.response_headers, "x-tollgate-record"));
    CHECK(id.size() == 26);
    CHECK(id == run.ex.billing.record);
    run.hooks->on_response_body(
        run.ex,
        R"({"usage":{"prompt_tokens":1000,"prompt_tokens_details":{"cached_tokens":200},"completion_tokens":500}})");
    run.complete(proxy::Outcome::complete);
    const auto records = run.enforcer->records({});
    REQUIRE(records.size() == 1);
    const auto& r = records[0];
    CHECK(r.id == id);
    CHECK(r.model == "gpt-4o-mini");
    CHECK(r.endpoint == "chat");
    CHECK(r.credential.size() == 16);
    CHECK(r.actual == *run.ex.billing.cost);
    CHECK(r.usage == budget::Usage{{"input", 800}, {"cached_input", 200}, {"output", 500}});
    CHECK(r.upstream_request_id == "req_9");
    CHECK(r.status == 200);
    CHECK(r.outcome == budget::RecordOutcome::complete);
    CHECK(r.budgets == std::vector<std::string>{"daily"});
  }
  SUBCASE("named by the model the answer says was billed, priced as that") {
    REQUIRE_FALSE(run.request().has_value());
    run.ex.request_sent = true;
    run.ex.status = 200;
    run.ex.response_headers = {{"Content-Type", "application/json"}};
    run.hooks->on_response_head(run.ex);
    run.hooks->on_response_body(
        run.ex,
        R"({"model":"gpt-4o-mini-2024-07-18","usage":{"prompt_tokens":1000,"completion_tokens":500}})");
    run.complete(proxy::Outcome::complete);
    const auto records = run.enforcer->records({});
    REQUIRE(records.size() == 1);
    CHECK(records[0].model == "gpt-4o-mini-2024-07-18");
    CHECK(run.ex.billing.model == "gpt-4o-mini-2024-07-18");
    CHECK(records[0].actual == 450);  // 1000 x 0.15 + 500 x 0.60 micro-USD: gpt-4o-mini's prices
  }
  SUBCASE("an upstream 5xx is recorded as an upstream error") {
    REQUIRE_FALSE(run.request().has_value());
    run.ex.request_sent = true;
    run.ex.status = 503;
    run.hooks->on_response_head(run.ex);
    run.complete(proxy::Outcome::complete);
    const auto records = run.enforcer->records({});
    REQUIRE(records.size() == 1);
    CHECK(records[0].outcome == budget::RecordOutcome::upstream_error);
    CHECK(records[0].status == 503);
  }
  SUBCASE("refused: the reply names the refusal's record") {
    Run small("0.00001");
    const auto reply = small.request();
    REQUIRE(reply);
    const auto id = std::string(rules::find_header(reply->headers, "x-tollgate-record"));
    const auto records = small.enforcer->records({});
    REQUIRE(records.size() == 1);
    CHECK(records[0].id == id);
    CHECK(records[0].outcome == budget::RecordOutcome::refused);
    CHECK(records[0].refused_by == "budget");
    CHECK(records[0].status == 429);
    CHECK(records[0].actual == 0);
    CHECK(records[0].budgets == std::vector<std::string>{"daily"});
  }
  SUBCASE("refused because it cannot be priced: a record too") {
    run.ex.request_body = "{not json";
    const auto reply = run.request();
    REQUIRE(reply);
    CHECK(reply->status == 400);
    const auto records = run.enforcer->records({});
    REQUIRE(records.size() == 1);
    CHECK(records[0].id == rules::find_header(reply->headers, "x-tollgate-record"));
    CHECK(records[0].refused_by == "price");
    CHECK(records[0].status == 400);
  }
}
