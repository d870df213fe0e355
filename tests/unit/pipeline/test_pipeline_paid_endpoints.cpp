// Issue 14 through EnforcementHooks over the real memory ledger: what requests to paid endpoints
// hold and settle, and what the hooks report about them, one TEST_CASE each. No sockets.
#include <doctest/doctest.h>

#include <future>

#include "budget/enforcer.hpp"
#include "pipeline/enforcement_hooks.hpp"
#include "rules/config_loader.hpp"
#include "telemetry/metrics.hpp"

namespace {

struct Run {
  std::shared_ptr<const rules::Config> config;
  std::unique_ptr<budget::Enforcer> enforcer;
  proxy::EnforcementHookFactory factory;

  explicit Run(const std::string& yaml)
      : config(load(yaml)), enforcer(budget::make_enforcer(config)), factory(*enforcer) {}

  static std::shared_ptr<const rules::Config> load(const std::string& yaml) {
    const auto loaded = rules::load_config_text(
        "include: [catalog:openai]\nstore: { type: memory }\n" + yaml, "t.yaml", "/tmp");
    REQUIRE(loaded.errors.empty());
    return loaded.config;
  }

  struct Exchange {
    proxy::Exchange ex;
    std::unique_ptr<proxy::ExchangeHooks> hooks;
    std::optional<proxy::LocalReply> reply;
  };

  // One exchange up to the admission: reply is set when it was answered locally.
  std::unique_ptr<Exchange> send(const std::string& method, const std::string& target,
                                 const std::string& body,
                                 const std::string& type = "application/json") {
    auto out = std::make_unique<Exchange>();
    auto& ex = out->ex;
    ex.config = config;
    ex.provider = config->provider_for_host("api.openai.com");
    ex.mode = proxy::ExchangeMode::intercept;
    ex.method = method;
    ex.host = "api.openai.com";
    ex.target = target;
    ex.request_headers = {{"Authorization", "Bearer sk-a"}, {"Content-Type", type}};
    ex.request_body = body;
    out->hooks = factory.create(ex);
    std::promise<std::optional<proxy::LocalReply>> p;
    out->hooks->on_request(ex, [&p](std::optional<proxy::LocalReply> r) { p.set_value(r); });
    out->reply = p.get_future().get();
    return out;
  }

  // The upstream's JSON answer, then the settlement.
  static void answer(Exchange& e, const std::string& body) {
    e.ex.request_sent = true;
    e.ex.status = 200;
    e.ex.response_headers = {{"Content-Type", "application/json"}};
    e.hooks->on_response_head(e.ex);
    e.hooks->on_response_body(e.ex, body);
    std::promise<void> done;
    e.hooks->on_complete(e.ex, proxy::Outcome::complete, [&] { done.set_value(); });
    done.get_future().get();
  }

  std::int64_t reserved(const std::string& name) const {
    for (const auto& b : enforcer->budgets())
      if (b.name == name) return b.reserved;
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

const std::string k_daily = "budgets:\n  - { name: daily, currency: usd, limit: 500 }\n";

}  // namespace

TEST_CASE("EnforcementHooks, a POST no endpoint prices is an unpriced_endpoint event") {
  Run run(k_daily);
  for (int i = 0; i < 3; ++i) {
    const auto e = run.send("POST", "/v1/assistants?x=1", R"({"model":"gpt-4o"})");
    CHECK_FALSE(e->reply.has_value());  // forwarded at default_cost
  }
  CHECK_FALSE(run.send("GET", "/v1/models", "")->reply.has_value());
  const auto events = run.events("unpriced_endpoint");
  REQUIRE(events.size() == 1);  // one per path and minute
  CHECK(events[0].message ==
        "POST /v1/assistants of provider 'openai' matches no endpoint: charged its default_cost 0");
  CHECK(events[0].detail_json.find(R"("path":"/v1/assistants")") != std::string::npos);
  CHECK(metrics_have(R"(tollgate_unpriced_endpoint_total{method="POST",provider="openai"} 3)"));
  CHECK_FALSE(metrics_have(R"(tollgate_unpriced_endpoint_total{method="GET")"));
}

TEST_CASE("EnforcementHooks, a batch priced from the upload of its input file") {
  Run run(k_daily);
  // 15 x 0.15 + 100 x 0.60 = 62.25 -> 63 micro-USD per line, two lines
  const std::string line =
      R"({"custom_id":"1","method":"POST","url":"/v1/chat/completions","body":{"model":)"
      R"("gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":100}})";
  const std::string form =
      "--xyz\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
      "--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n"
      "Content-Type: application/jsonl\r\n\r\n" +
      line + "\n" + line + "\n\r\n--xyz--\r\n";
  auto upload = run.send("POST", "/v1/files", form, "multipart/form-data; boundary=xyz");
  REQUIRE_FALSE(upload->reply.has_value());
  Run::answer(*upload, R"({"id":"file-1","object":"file","purpose":"batch"})");
  CHECK(upload->ex.billing.cost == 0);  // the upload itself is free

  auto batch = run.send("POST", "/v1/batches",
                        R"({"input_file_id":"file-1","endpoint":"/v1/chat/completions",)"
                        R"("completion_window":"24h"})");
  REQUIRE_FALSE(batch->reply.has_value());
  CHECK(run.reserved("daily") == 63);  // 126 at 50 %
  Run::answer(*batch, R"({"id":"batch_1","object":"batch","status":"validating"})");
  CHECK(batch->ex.billing.cost == 63);

  const auto unseen = run.send("POST", "/v1/batches", R"({"input_file_id":"file-2"})");
  REQUIRE(unseen->reply.has_value());
  CHECK(unseen->reply->status == 400);
  CHECK(rules::find_header(unseen->reply->headers, "x-tollgate-refused") == "price");
}

TEST_CASE("EnforcementHooks, batch_estimate prices a batch of a file not seen") {
  Run run("providers:\n  openai: { batch_estimate: 2.5 }\n" + k_daily);
  auto batch = run.send("POST", "/v1/batches", R"({"input_file_id":"file-9"})");
  REQUIRE_FALSE(batch->reply.has_value());
  CHECK(run.reserved("daily") == 2'500'000);
}

TEST_CASE("EnforcementHooks, spend under the name the provider billed") {
  Run run(k_daily);
  auto chat = run.send("POST", "/v1/chat/completions",
                       R"({"model":"gpt-4o","max_tokens":10,"messages":[]})");
  REQUIRE_FALSE(chat->reply.has_value());
  // 100 x 2.50 + 10 x 10 = 350 micro-USD at gpt-4o's price, the entry the dated name resolves to
  Run::answer(*chat, R"({"model":"gpt-4o-2024-08-06","usage":{"prompt_tokens":100,)"
                     R"("completion_tokens":10}})");
  CHECK(chat->ex.billing.model == "gpt-4o-2024-08-06");
  CHECK(chat->ex.billing.cost == 350);
  CHECK(metrics_have(
      R"(tollgate_spend_total{currency="usd",model="gpt-4o-2024-08-06",provider="openai"} 0.00035)"));
}

TEST_CASE("EnforcementHooks, output_cap: inject on a budget") {
  // As in test_pipeline_unpriced_and_cap.cpp: 0.001 USD affords 1662 output tokens of gpt-4o-mini
  // after the 15 input tokens; the chat endpoint itself has no output_cap.
  const std::string hi = R"("messages":[{"role":"user","content":"hi"}])";
  Run run("budgets:\n  - { name: small, currency: usd, limit: 0.001, output_cap: inject }\n");
  auto chat = run.send("POST", "/v1/chat/completions", R"({"model":"gpt-4o-mini",)" + hi + "}");
  REQUIRE_FALSE(chat->reply.has_value());
  CHECK(chat->ex.request_body ==
        R"({"model":"gpt-4o-mini",)" + hi + R"(,"max_completion_tokens":1662})");
  CHECK(run.reserved("small") == 1000);
  Run plain("budgets:\n  - { name: small, currency: usd, limit: 0.001 }\n");
  CHECK(plain.send("POST", "/v1/chat/completions", R"({"model":"gpt-4o-mini",)" + hi + "}")
            ->reply.has_value());
}
