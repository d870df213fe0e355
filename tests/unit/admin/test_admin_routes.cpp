// AdminRoutes::handle called directly: routing, the bearer token, JSON bodies, exact amounts,
// audit lines and events, without sockets.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <fstream>

#include "admin/admin_routes.hpp"
#include "admin_test_support.hpp"

using namespace admin_test;

namespace {

struct Fixture {
  TempDir dir;
  std::string config_path = dir.write("tollgate.yaml", config_yaml("50"));
  RecordingEnforcer enforcer;
  proxy::ConfigHolder holder{load(config_path)};
  proxy::Reloader reloader{config_path, holder, enforcer};
  proxy::AuditLog audit{dir.at("data/audit.log")};
  FakeClock clock;
  bool ready = true;
  proxy::AdminRoutes routes;

  explicit Fixture(std::string token = "s3cret")
      : routes(
            std::move(token), holder, enforcer, reloader, audit, [this] { return ready; },
            proxy::Metrics::instance(), clock) {
    enforcer.apply_config(holder.get());
  }

  proxy::AdminResponse call(const std::string& method, const std::string& target,
                            const std::string& body = "",
                            const std::string& auth = "Bearer s3cret") {
    return routes.handle({method, target, auth, body, "127.0.0.1:40000"});
  }

  std::vector<std::string> audit_lines() const {
    std::ifstream in(dir.at("data/audit.log"));
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
};

rapidjson::Document json(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

std::string error_of(const proxy::AdminResponse& r) {
  auto doc = json(r.body);
  REQUIRE(doc.HasMember("error"));
  return doc["error"].GetString();
}

}  // namespace

TEST_CASE("AdminRoutes::handle, bearer token on mutations") {
  SUBCASE("no token configured: every mutation refused") {
    Fixture f("");
    auto r = f.call("POST", "/v1/budgets/daily/reset", "", "Bearer anything");
    CHECK(r.status == 403);
    CHECK(error_of(r) == "admin mutations are disabled: set admin.token");
    CHECK(f.enforcer.calls.empty());
  }
  SUBCASE("missing header") {
    Fixture f;
    auto r = f.call("PATCH", "/v1/budgets/daily", R"({"limit": 75})", "");
    CHECK(r.status == 401);
    CHECK(error_of(r) == "missing bearer token: send Authorization: Bearer <admin.token>");
    CHECK(rules::find_header(r.headers, "WWW-Authenticate") == "Bearer");
  }
  SUBCASE("another scheme counts as missing") {
    Fixture f;
    CHECK(f.call("POST", "/v1/reload", "", "Basic czNjcmV0").status == 401);
  }
  SUBCASE("wrong token") {
    Fixture f;
    auto r = f.call("PATCH", "/v1/budgets/daily", R"({"limit": 75})", "Bearer s3cret2");
    CHECK(r.status == 403);
    CHECK(error_of(r) == "invalid bearer token");
    CHECK(f.enforcer.calls.empty());
  }
  SUBCASE("right token, scheme case-insensitive") {
    Fixture f;
    auto r = f.call("PATCH", "/v1/budgets/daily", R"({"limit": 75})", "bearer s3cret");
    CHECK(r.status == 200);
    REQUIRE(f.enforcer.calls.size() == 1);
    CHECK(f.enforcer.calls[0].who == "127.0.0.1:40000");
  }
  SUBCASE("reads and estimate need no token") {
    Fixture f("");
    CHECK(f.call("GET", "/v1/budgets", "", "").status == 200);
    CHECK(f.call("GET", "/v1/events", "", "").status == 200);
    CHECK(f.call("GET", "/v1/balances", "", "").status == 200);
    CHECK(f.call("POST", "/v1/estimate", R"({"url":"https://api.openai.com/v1/models"})", "")
              .status == 200);
  }
}

TEST_CASE("AdminRoutes::handle, routing errors") {
  Fixture f;
  SUBCASE("unknown route") {
    auto r = f.call("GET", "/v2/nothing");
    CHECK(r.status == 404);
    CHECK(error_of(r) == "no such endpoint: /v2/nothing");
  }
  SUBCASE("wrong method") {
    auto r = f.call("DELETE", "/v1/budgets/daily");
    CHECK(r.status == 405);
    CHECK(error_of(r) == "method DELETE not allowed on /v1/budgets/daily (allowed: GET, PATCH)");
    CHECK(rules::find_header(r.headers, "Allow") == "GET, PATCH");
  }
  SUBCASE("bad JSON") {
    auto r = f.call("PATCH", "/v1/budgets/daily", R"({"limit": )");
    CHECK(r.status == 400);
    CHECK(error_of(r) == "bad JSON at offset 10: Invalid value.");
  }
  SUBCASE("not an object") {
    auto r = f.call("POST", "/v1/overrides", "[1]");
    CHECK(r.status == 400);
    CHECK(error_of(r) == "body: expected a JSON object");
  }
  SUBCASE("body over 1 MiB") {
    auto r = f.call("POST", "/v1/estimate", std::string(proxy::k_admin_body_limit + 1, ' '));
    CHECK(r.status == 413);
    CHECK(error_of(r) == "request body larger than 1 MiB");
  }
  SUBCASE("unknown budget") {
    auto r = f.call("GET", "/v1/budgets/weekly");
    CHECK(r.status == 404);
    CHECK(error_of(r) == "no such budget: weekly");
    CHECK(f.call("PATCH", "/v1/budgets/weekly", R"({"limit":1})").status == 404);
    CHECK(f.call("POST", "/v1/budgets/weekly/reset").status == 404);
    CHECK(f.audit_lines().empty());
  }
}

TEST_CASE("AdminRoutes::handle, PATCH limit parses the decimal exactly") {
  Fixture f;
  auto limit_after = [&](const std::string& body) {
    auto r = f.call("PATCH", "/v1/budgets/daily", body);
    REQUIRE(r.status == 200);
    return f.enforcer.calls.back().amount;
  };
  SUBCASE("integer") {
    CHECK(limit_after(R"({"limit": 75})") == 75'000'000);
  }
  SUBCASE("decimal number that a double cannot hold") {
    CHECK(limit_after(R"({"limit": 0.1})") == 100'000);
    CHECK(limit_after(R"({"limit": 1234567.000001})") == 1'234'567'000'001);
  }
  SUBCASE("decimal string") {
    CHECK(limit_after(R"({"limit": "75.5"})") == 75'500'000);
  }
  SUBCASE("answer shows the new limit") {
    auto r = f.call("PATCH", "/v1/budgets/daily", R"({"limit": "75.5"})");
    auto doc = json(r.body);
    CHECK(std::string(doc["budgets"][0]["limit"].GetString()) == "75.5");
  }
  SUBCASE("refused amounts") {
    const std::pair<const char*, const char*> cases[] = {
        {R"({"limit": 1e2})",
         "limit: '1e2' is not a non-negative decimal amount with at most 6 decimals"},
        {R"({"limit": -1})",
         "limit: '-1' is not a non-negative decimal amount with at most 6 decimals"},
        {R"({"limit": 0.0000001})",
         "limit: '0.0000001' is not a non-negative decimal amount with at most 6 decimals"},
        {R"({"limit": true})", "limit: required, a decimal amount such as 75 or \"75.5\""},
        {R"({})", "limit: required, a decimal amount such as 75 or \"75.5\""},
        {"", "body: expected a JSON object"},
    };
    for (const auto& [body, message] : cases) {
      CAPTURE(body);
      auto r = f.call("PATCH", "/v1/budgets/daily", body);
      CHECK(r.status == 400);
      CHECK(error_of(r) == message);
    }
    CHECK(f.enforcer.calls.empty());
  }
}

TEST_CASE("AdminRoutes::handle, budgets as JSON") {
  Fixture f;
  f.enforcer.standings["daily"].spent = 12'500'000;
  f.enforcer.standings["daily"].reserved = 250'000;
  f.enforcer.standings["daily"].period_start = budget::TimePoint{} + std::chrono::hours(24 * 20000);
  f.enforcer.standings["daily"].resets_at = budget::TimePoint{} + std::chrono::hours(24 * 20001);
  auto doc = json(f.call("GET", "/v1/budgets").body);
  REQUIRE(doc["budgets"].Size() == 1);
  const auto& b = doc["budgets"][0];
  CHECK(std::string(b["name"].GetString()) == "daily");
  CHECK(std::string(b["key"].GetString()) == "");
  CHECK(std::string(b["currency"].GetString()) == "usd");
  CHECK(std::string(b["limit"].GetString()) == "50");
  CHECK(std::string(b["spent"].GetString()) == "12.5");
  CHECK(std::string(b["reserved"].GetString()) == "0.25");
  CHECK(std::string(b["remaining"].GetString()) == "37.25");
  CHECK(std::string(b["period_start"].GetString()) == "2024-10-04T00:00:00Z");
  CHECK(std::string(b["resets_at"].GetString()) == "2024-10-05T00:00:00Z");
  CHECK(std::string(b["mode"].GetString()) == "enforce");
  SUBCASE("one budget by name") {
    auto one = json(f.call("GET", "/v1/budgets/daily").body);
    CHECK(one["budgets"].Size() == 1);
  }
  SUBCASE("total budgets never reset") {
    f.enforcer.standings["daily"].resets_at = budget::TimePoint::max();
    CHECK(json(f.call("GET", "/v1/budgets").body)["budgets"][0]["resets_at"].IsNull());
  }
}

TEST_CASE("AdminRoutes::handle, reset is audited once") {
  Fixture f;
  f.enforcer.standings["daily"].spent = 3'000'000;
  auto r = f.call("POST", "/v1/budgets/daily/reset", R"({"reason": "new invoice"})");
  CHECK(r.status == 200);
  CHECK(std::string(json(r.body)["budgets"][0]["spent"].GetString()) == "0");
  const auto lines = f.audit_lines();
  REQUIRE(lines.size() == 1);
  auto line = json(lines[0]);
  CHECK(std::string(line["time"].GetString()) == "2024-10-04T00:00:00.000Z");
  CHECK(std::string(line["caller"].GetString()) == "127.0.0.1:40000");
  CHECK(std::string(line["action"].GetString()) == "budget.reset");
  CHECK(std::string(line["target"].GetString()) == "daily");
  CHECK(std::string(line["before"][0]["spent"].GetString()) == "3");
  CHECK(std::string(line["after"][0]["spent"].GetString()) == "0");
  CHECK(std::string(line["reason"].GetString()) == "new invoice");
  SUBCASE("an unknown instance is a 404 and no audit line") {
    auto miss = f.call("POST", "/v1/budgets/daily/reset", R"({"key": "team-b"})");
    CHECK(miss.status == 404);
    CHECK(error_of(miss) == "no such budget instance: daily/team-b");
    CHECK(f.audit_lines().size() == 1);
  }
}

TEST_CASE("AdminRoutes::handle, overrides") {
  Fixture f;
  SUBCASE("duration until") {
    auto r = f.call("POST", "/v1/overrides",
                    R"({"budget":"daily","extra":25.5,"until":"2h","reason":"launch"})");
    CHECK(r.status == 200);
    REQUIRE(f.enforcer.overrides.size() == 1);
    CHECK(f.enforcer.overrides[0].extra == 25'500'000);
    CHECK(f.enforcer.overrides[0].until == f.clock.now_ + std::chrono::hours(2));
    CHECK(f.enforcer.overrides[0].reason == "launch");
    auto line = json(f.audit_lines().at(0));
    CHECK(std::string(line["action"].GetString()) == "override.add");
    CHECK(std::string(line["after"]["until"].GetString()) == "2024-10-04T02:00:00Z");
    CHECK(line["before"].IsNull());
  }
  SUBCASE("RFC 3339 until with an offset") {
    auto r = f.call(
        "POST", "/v1/overrides",
        R"({"budget":"daily","key":"team-a","extra":"5","until":"2024-10-04T03:00:00+02:00"})");
    CHECK(r.status == 200);
    CHECK(f.enforcer.overrides.at(0).until == f.clock.now_ + std::chrono::hours(1));
    CHECK(f.enforcer.overrides.at(0).key == "team-a");
  }
  SUBCASE("refused bodies") {
    const std::pair<const char*, const char*> cases[] = {
        {R"({"extra":5,"until":"1h"})", "budget: required, a budget name"},
        {R"({"budget":"daily","until":"1h"})",
         "extra: required, a decimal amount such as 25 or \"25.5\""},
        {R"({"budget":"daily","extra":0,"until":"1h"})",
         "extra: '0' is not a positive decimal amount with at most 6 decimals"},
        {R"({"budget":"daily","extra":5})",
         "until: required, an RFC 3339 time or a duration such as \"2h\""},
        {R"({"budget":"daily","extra":5,"until":"soon"})",
         "until: 'soon' is neither an RFC 3339 time nor a duration such as \"2h\""},
        {R"({"budget":"daily","extra":5,"until":"2024-10-03T00:00:00Z"})",
         "until: 2024-10-03T00:00:00Z is in the past"},
    };
    for (const auto& [body, message] : cases) {
      CAPTURE(body);
      auto r = f.call("POST", "/v1/overrides", body);
      CHECK(r.status == 400);
      CHECK(error_of(r) == message);
    }
    CHECK(f.enforcer.overrides.empty());
    CHECK(f.audit_lines().empty());
  }
  SUBCASE("unknown budget") {
    auto r = f.call("POST", "/v1/overrides", R"({"budget":"weekly","extra":5,"until":"1h"})");
    CHECK(r.status == 404);
  }
}

TEST_CASE("AdminRoutes::handle, events since an id") {
  Fixture f;
  for (int i = 0; i < 3; ++i)
    f.enforcer.emit({0, f.clock.now_, budget::EventType::threshold, "daily", "", "80% of daily",
                     R"({"percent":80})"});
  SUBCASE("all") {
    auto doc = json(f.call("GET", "/v1/events").body);
    CHECK(doc["events"].Size() == 3);
    CHECK(doc["last_id"].GetUint64() == 3);
    const auto& e = doc["events"][0];
    CHECK(e["id"].GetUint64() == 1);
    CHECK(std::string(e["at"].GetString()) == "2024-10-04T00:00:00.000Z");
    CHECK(std::string(e["type"].GetString()) == "threshold");
    CHECK(std::string(e["budget"].GetString()) == "daily");
    CHECK(std::string(e["message"].GetString()) == "80% of daily");
    CHECK(e["detail"]["percent"].GetInt() == 80);
  }
  SUBCASE("since") {
    auto doc = json(f.call("GET", "/v1/events?since=2").body);
    CHECK(doc["events"].Size() == 1);
    CHECK(doc["events"][0]["id"].GetUint64() == 3);
  }
  SUBCASE("nothing new keeps last_id") {
    auto doc = json(f.call("GET", "/v1/events?since=3").body);
    CHECK(doc["events"].Size() == 0);
    CHECK(doc["last_id"].GetUint64() == 3);
  }
  SUBCASE("bad since") {
    auto r = f.call("GET", "/v1/events?since=abc");
    CHECK(r.status == 400);
    CHECK(error_of(r) == "since: must be an event id (a whole number)");
  }
}

TEST_CASE("AdminRoutes::handle, health and readiness") {
  Fixture f;
  CHECK(f.call("GET", "/healthz").body == "ok\n");
  SUBCASE("ready") {
    CHECK(f.call("GET", "/readyz").status == 200);
  }
  SUBCASE("proxy not listening or draining") {
    f.ready = false;
    auto r = f.call("GET", "/readyz");
    CHECK(r.status == 503);
    CHECK(r.body == "not ready: the proxy is not listening or is draining\n");
  }
  SUBCASE("store unreachable") {
    f.enforcer.healthy = false;
    auto r = f.call("GET", "/readyz");
    CHECK(r.status == 503);
    CHECK(r.body == "not ready: the ledger store is unreachable\n");
  }
}
