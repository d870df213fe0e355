// The handshake of a realtime session through EnforcementHooks (DESIGN §12): admitted like any
// request (a spent budget answers it with the provider's 429), Sec-WebSocket-Extensions removed
// so that no frame is compressed, the key read from the subprotocol as from Authorization, a
// session id for per: session, and a relay once the 101 came, the handshake's hold released.
#include <doctest/doctest.h>

#include <future>
#include <set>

#include "budget/enforcer.hpp"
#include "pipeline/enforcement_hooks.hpp"
#include "rules/config_loader.hpp"
#include "rules/credential.hpp"

namespace {

struct Handshake {
  std::shared_ptr<const rules::Config> config;
  std::unique_ptr<budget::Enforcer> enforcer;
  std::unique_ptr<proxy::EnforcementHookFactory> factory;
  proxy::Exchange ex;
  std::unique_ptr<proxy::ExchangeHooks> hooks;

  explicit Handshake(const std::string& budgets) {
    const auto loaded = rules::load_config_text(
        "include: [catalog:openai]\nstore: { type: memory }\nbudgets:\n" + budgets, "t.yaml",
        "/tmp");
    REQUIRE(loaded.errors.empty());
    config = loaded.config;
    enforcer = budget::make_enforcer(config);
    factory = std::make_unique<proxy::EnforcementHookFactory>(*enforcer);
    ex.config = config;
    ex.provider = config->provider_for_host("api.openai.com");
    ex.mode = proxy::ExchangeMode::intercept;
    ex.method = "GET";
    ex.host = "api.openai.com";
    ex.target = "/v1/realtime?model=gpt-realtime";
    ex.request_headers = {
        {"Upgrade", "websocket"},
        {"Connection", "Upgrade"},
        {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
        {"Sec-WebSocket-Version", "13"},
        {"Sec-WebSocket-Protocol", "realtime, openai-insecure-api-key.sk-rt"},
        {"Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"}};
    hooks = factory->create(ex);
  }

  std::optional<proxy::LocalReply> request() {
    std::promise<std::optional<proxy::LocalReply>> p;
    hooks->on_request(ex, [&p](std::optional<proxy::LocalReply> r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  void complete() {
    std::promise<void> p;
    hooks->on_complete(ex, proxy::Outcome::complete, [&p] { p.set_value(); });
    p.get_future().get();
  }
};

}  // namespace

TEST_CASE("EnforcementHooks, a realtime handshake") {
  Handshake h(
      "  - { name: daily, currency: usd, limit: 5 }\n"
      "  - { name: per-key, currency: usd, limit: 5, per: credential }\n"
      "  - { name: session, currency: usd, limit: 5, per: session, period: total }\n");
  REQUIRE_FALSE(h.request());
  CHECK(rules::find_header(h.ex.request_headers, "sec-websocket-extensions").empty());
  CHECK(rules::find_header(h.ex.request_headers, "sec-websocket-protocol") ==
        "realtime, openai-insecure-api-key.sk-rt");  // the provider needs the key
  h.ex.request_sent = true;
  h.ex.status = 101;
  h.hooks->on_response_head(h.ex);
  const auto session = std::string(rules::find_header(h.ex.response_headers, "x-tollgate-session"));
  CHECK(session.starts_with("rt-"));
  CHECK(session.size() == 19);
  CHECK(rules::find_header(h.ex.response_headers, "x-tollgate-cost").empty());
  std::int64_t reserved = 0;
  std::set<std::string> keys;
  for (const auto& b : h.enforcer->budgets()) {
    reserved += b.reserved;
    keys.insert(b.name + "/" + b.key);
  }
  CHECK(reserved == 3);  // one micro-unit in each of the three budgets
  CHECK(keys.count("session/" + session));
  CHECK(keys.count("per-key/" + rules::key_id("sk-rt")));  // the subprotocol's key

  auto relay = h.hooks->on_upgraded(h.ex);
  REQUIRE(relay);
  for (const auto& b : h.enforcer->budgets()) CHECK(b.reserved == 0);
  relay.reset();
  h.complete();
  for (const auto& b : h.enforcer->budgets()) CHECK(b.spent == 0);  // a handshake costs nothing
}

TEST_CASE("EnforcementHooks, a spent budget answers the handshake in the provider's shape") {
  Handshake h("  - { name: daily, currency: usd, limit: 0 }\n");
  const auto reply = h.request();
  REQUIRE(reply);
  CHECK(reply->status == 429);
  CHECK(reply->body.find(R"("code":"budget_exceeded")") != std::string::npos);
  CHECK(rules::find_header(reply->headers, "x-tollgate-refused") == "budget");
}

TEST_CASE("EnforcementHooks, a websocket to a path that is no realtime endpoint is relayed blind") {
  Handshake h("  - { name: daily, currency: usd, limit: 5 }\n");
  h.ex.target = "/v1/other";
  h.hooks = h.factory->create(h.ex);
  REQUIRE_FALSE(h.request());
  CHECK_FALSE(rules::find_header(h.ex.request_headers, "sec-websocket-extensions").empty());
  h.ex.request_sent = true;
  h.ex.status = 101;
  h.hooks->on_response_head(h.ex);
  CHECK_FALSE(h.hooks->on_upgraded(h.ex));
  h.complete();
}
