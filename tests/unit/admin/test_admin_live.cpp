// The admin layer over the real memory Enforcer from budget/: spend made through admit/settle
// shows in /v1/budgets and /metrics; mutations are audited once and evented once (by the
// enforcer); AdminServer answers over loopback and `tollgate status` reads it.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <future>
#include <sstream>

#include "admin/admin_server.hpp"
#include "admin/status_command.hpp"
#include "admin_test_support.hpp"
#include "telemetry/budget_metrics.hpp"

using namespace admin_test;

namespace {

struct Live {
  TempDir dir;
  std::string config_path = dir.write("tollgate.yaml", config_yaml("50"));
  proxy::ConfigHolder holder{load(config_path)};
  std::unique_ptr<budget::Enforcer> enforcer = budget::make_enforcer(holder.get());
  proxy::Reloader reloader{config_path, holder, *enforcer};

  // Reserves `estimate` and settles `actual` (micro-units) through the real enforcer.
  void spend(std::int64_t estimate, std::int64_t actual) {
    budget::AdmitRequest request;
    request.provider = "openai";
    request.endpoint = "chat";
    request.model = "gpt-4o-mini";
    request.host = "api.openai.com";
    request.estimate = rules::Money{estimate, "usd"};
    std::promise<budget::Admission> admitted;
    enforcer->admit(request, [&](budget::Admission a) { admitted.set_value(std::move(a)); });
    const auto admission = admitted.get_future().get();
    REQUIRE(admission.admitted);
    std::promise<void> settled;
    enforcer->settle(admission.hold, actual, [&] { settled.set_value(); });
    settled.get_future().get();
  }
};

// The value of the exposition line that starts with `series` followed by a space.
std::optional<std::string> sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(series + " ")) return line.substr(series.size() + 1);
  return std::nullopt;
}

}  // namespace

TEST_CASE("budget_metrics_text, gauges from the enforcer") {
  Live live;
  live.spend(2'000'000, 1'500'000);
  const auto text = proxy::budget_metrics_text(*live.enforcer);
  CHECK(text.find("# TYPE tollgate_budget_spent gauge") != std::string::npos);
  CHECK(sample(text, R"(tollgate_budget_spent{budget="daily",currency="usd",key=""})") == "1.5");
  CHECK(sample(text, R"(tollgate_budget_reserved{budget="daily",currency="usd",key=""})") == "0");
  CHECK(sample(text, R"(tollgate_budget_limit{budget="daily",currency="usd",key=""})") == "50");
  CHECK(text.find("# TYPE tollgate_provider_balance gauge") != std::string::npos);
  CHECK(text.find("# TYPE tollgate_breaker_open gauge") != std::string::npos);
  CHECK(text.find("tollgate_catalog_age_days") == std::string::npos);  // no config given
  SUBCASE("the catalog's age from the config's checked date") {
    const auto config = live.holder.get();
    REQUIRE(config->catalog_checked);
    const auto now = std::chrono::sys_days{*config->catalog_checked} + std::chrono::days{100} +
                     std::chrono::hours{5};
    const auto aged = proxy::budget_metrics_text(*live.enforcer, config.get(), now);
    CHECK(sample(aged, "tollgate_catalog_age_days") == "100");
  }
  SUBCASE("through Metrics::serialize once installed") {
    proxy::Metrics metrics;
    proxy::install_budget_metrics(metrics, *live.enforcer);
    const auto all = metrics.serialize();
    CHECK(all.find("# TYPE tollgate_overhead_seconds histogram") != std::string::npos);
    CHECK(sample(all, R"(tollgate_budget_spent{budget="daily",currency="usd",key=""})") == "1.5");
    proxy::clear_budget_metrics(metrics);
    CHECK(metrics.serialize().find("tollgate_budget_spent") == std::string::npos);
  }
}

TEST_CASE("AdminRoutes::handle, mutations on the real enforcer") {
  Live live;
  live.spend(3'000'000, 3'000'000);
  proxy::AuditLog audit{live.dir.at("data/audit.log")};
  proxy::AdminRoutes routes{"tok",         live.holder, *live.enforcer,
                            live.reloader, audit,       [] { return true; }};
  auto call = [&](const std::string& method, const std::string& target, const std::string& body) {
    return routes.handle({method, target, "Bearer tok", body, "127.0.0.1:1"});
  };
  auto admin_events = [&] {
    std::size_t n = 0;
    for (const auto& e : live.enforcer->events_since(0)) n += e.type == budget::EventType::admin;
    return n;
  };
  auto audit_lines = [&] {
    std::ifstream in(live.dir.at("data/audit.log"));
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
  };
  SUBCASE("PATCH limit: applied, one event, one audit line") {
    REQUIRE(call("PATCH", "/v1/budgets/daily", R"({"limit": 75.25})").status == 200);
    CHECK(live.enforcer->budgets().at(0).limit == 75'250'000);
    CHECK(admin_events() == 1);
    CHECK(audit_lines() == 1);
  }
  SUBCASE("reset zeroes the period") {
    REQUIRE(call("POST", "/v1/budgets/daily/reset", "").status == 200);
    CHECK(live.enforcer->budgets().at(0).spent == 0);
    CHECK(admin_events() == 1);
    CHECK(audit_lines() == 1);
  }
  SUBCASE("override adds headroom") {
    REQUIRE(call("POST", "/v1/overrides", R"({"budget":"daily","extra":10,"until":"1h"})").status ==
            200);
    CHECK(live.enforcer->budgets().at(0).remaining() == 57'000'000);
    CHECK(admin_events() == 1);
    CHECK(audit_lines() == 1);
  }
  SUBCASE("reload keeps the spent amount and applies the new limit") {
    live.dir.write("tollgate.yaml", config_yaml("80"));
    const auto r = call("POST", "/v1/reload", "");
    CHECK(r.status == 200);
    CHECK(r.body == R"({"ok":true,"warnings":[]})");
    const auto b = live.enforcer->budgets().at(0);
    CHECK(b.limit == 80'000'000);
    CHECK(b.spent == 3'000'000);
    CHECK(audit_lines() == 1);
  }
  SUBCASE("an invalid reload is a 400 with the errors, not audited") {
    live.dir.write("tollgate.yaml", config_yaml("eighty"));
    const auto r = call("POST", "/v1/reload", "");
    CHECK(r.status == 400);
    rapidjson::Document doc;
    doc.Parse(r.body.c_str());
    REQUIRE(doc["errors"].Size() >= 1);
    CHECK(std::string(doc["errors"][0].GetString()).starts_with(live.config_path + ":4:"));
    CHECK(live.enforcer->budgets().at(0).limit == 50'000'000);
    CHECK(audit_lines() == 0);
  }
}

TEST_CASE("AdminServer::start, over loopback, read by status_command") {
  Live live;
  live.spend(2'000'000, 1'250'000);
  proxy::AdminOptions options;
  options.listen.host = "127.0.0.1";
  options.token = "tok";
  options.audit_log_path = live.dir.at("data/audit.log");
  proxy::AdminServer server{options, live.holder, *live.enforcer, live.reloader,
                            [] { return true; }};
  const auto port = server.start();
  REQUIRE(port != 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  std::ostringstream out, err;
  SUBCASE("table") {
    CHECK(proxy::status_command(url, false, out, err) == 0);
    CHECK(err.str() == "");
    CHECK(out.str().find("daily") != std::string::npos);
    CHECK(out.str().find("1.25 / 50 usd") != std::string::npos);
    CHECK(out.str().find("2.5%") != std::string::npos);
    CHECK(out.str().find("no provider balances observed yet") != std::string::npos);
  }
  SUBCASE("json") {
    CHECK(proxy::status_command(url + "/", true, out, err) == 0);
    rapidjson::Document doc;
    doc.Parse(out.str().c_str());
    REQUIRE_FALSE(doc.HasParseError());
    CHECK(std::string(doc["budgets"][0]["spent"].GetString()) == "1.25");
    CHECK(doc["balances"].IsArray());
  }
  SUBCASE("nobody listening") {
    server.stop();
    CHECK(proxy::status_command(url, false, out, err) == 1);
    CHECK(err.str().starts_with("status: cannot reach the admin API at " + url + ": "));
  }
  SUBCASE("not an http URL") {
    CHECK(proxy::status_command("https://x", false, out, err) == 2);
    CHECK(err.str() ==
          "status: the admin URL must look like http://127.0.0.1:9090, got 'https://x'\n");
  }
}
