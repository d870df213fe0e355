// Time formats and parsers of the admin API, the status table, POST /v1/estimate.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include "admin/admin_json.hpp"
#include "admin/admin_routes.hpp"
#include "admin/status_command.hpp"
#include "admin_test_support.hpp"

using namespace admin_test;
using namespace std::chrono;

TEST_CASE("parse_rfc3339, forms") {
  const auto base = budget::TimePoint{sys_days{2025y / March / 1}} + hours(10);
  SUBCASE("Z") {
    CHECK(proxy::parse_rfc3339("2025-03-01T10:00:00Z") == base);
  }
  SUBCASE("offset") {
    CHECK(proxy::parse_rfc3339("2025-03-01T12:30:00+02:30") == base);
  }
  SUBCASE("negative offset") {
    CHECK(proxy::parse_rfc3339("2025-03-01T05:00:00-05:00") == base);
  }
  SUBCASE("fraction") {
    CHECK(proxy::parse_rfc3339("2025-03-01T10:00:00.25Z") == base + milliseconds(250));
  }
  SUBCASE("malformed") {
    for (const char* bad : {"2025-03-01", "2025-02-30T10:00:00Z", "2025-03-01T10:00:00",
                            "2025-03-01T25:00:00Z", "2025-03-01T10:00:00Zjunk", "tomorrow"}) {
      CAPTURE(bad);
      CHECK_FALSE(proxy::parse_rfc3339(bad));
    }
  }
  SUBCASE("round trip") {
    CHECK(proxy::format_rfc3339(base) == "2025-03-01T10:00:00Z");
    CHECK(proxy::format_rfc3339(base + milliseconds(7), true) == "2025-03-01T10:00:00.007Z");
  }
}

TEST_CASE("parse_until, duration or time") {
  const auto now = budget::TimePoint{sys_days{2025y / March / 1}};
  CHECK(proxy::parse_until("2h", now) == now + hours(2));
  CHECK(proxy::parse_until("90m", now) == now + minutes(90));
  CHECK(proxy::parse_until("2025-03-02T00:00:00Z", now) == now + hours(24));
  CHECK_FALSE(proxy::parse_until("2 hours", now));
}

TEST_CASE("format_status_table, columns") {
  const auto now = budget::TimePoint{sys_days{2025y / March / 1}} + hours(20) + minutes(48);
  const std::string budgets = R"({"budgets":[
    {"name":"daily","key":"","currency":"usd","limit":"50","extra":"10","effective_limit":"60",
     "spent":"12.5","reserved":"0.25","remaining":"47.25","refusing_above":"47.25","period_start":"2025-03-01T00:00:00Z","resets_at":"2025-03-02T00:00:00Z","mode":"enforce"},
    {"name":"session","key":"s-1","currency":"usd","limit":"3","extra":"0","effective_limit":"3",
     "spent":"1","reserved":"0","remaining":"2","refusing_above":"2","period_start":null,"resets_at":null,"mode":"shadow"}]})";
  const std::string balances = R"({"balances":[{"provider":"keepa","account":"0123456789abcdef",
    "observed":"4500","at":"2025-03-01T20:46:00Z","refill_per_minute":"20","holds":"50","estimated_now":"4490"}]})";
  const auto table = proxy::format_status_table(budgets, balances, now);
  REQUIRE(table);
  CHECK(*table ==
        "BUDGET   KEY  SPENT / LIMIT       %      RESERVED  REFUSES ABOVE  RESETS IN  MODE\n"
        "daily    -    12.5 / 50 + 10 usd  20.8%  0.25      47.25          3h12m      enforce\n"
        "session  s-1  1 / 3 usd           33.3%  0         2              never      shadow\n"
        "\n"
        "PROVIDER  ACCOUNT       BALANCE  OBSERVED       REFILL/MIN  HOLDS\n"
        "keepa     0123456789ab  4490     4500 (2m ago)  20          50\n");
  SUBCASE("not the admin API's JSON") {
    CHECK_FALSE(proxy::format_status_table("{}", balances, now));
    CHECK_FALSE(proxy::format_status_table(budgets, "<html>", now));
  }
}

TEST_CASE("format_resets_in, units") {
  CHECK(proxy::format_resets_in(seconds(0)) == "now");
  CHECK(proxy::format_resets_in(seconds(45)) == "45s");
  CHECK(proxy::format_resets_in(seconds(12 * 60)) == "12m");
  CHECK(proxy::format_resets_in(seconds(3 * 3600 + 12 * 60 + 5)) == "3h12m");
  CHECK(proxy::format_resets_in(seconds(2 * 86400 + 4 * 3600)) == "2d4h");
}

TEST_CASE("AdminRoutes::handle, POST /v1/estimate") {
  TempDir dir;
  const auto path =
      dir.write("tollgate.yaml", config_yaml("50",
                                             "  - { name: embeddings, currency: usd, limit: 5, "
                                             "period: day, match: { endpoint: [embeddings] } }\n"
                                             "  - { name: mini, currency: usd, limit: 5, period: "
                                             "day, match: { model: [gpt-4o-mini] } }\n"));
  RecordingEnforcer enforcer;
  proxy::ConfigHolder holder{load(path)};
  proxy::Reloader reloader{path, holder, enforcer};
  proxy::AuditLog audit{""};
  proxy::AdminRoutes routes{"", holder, enforcer, reloader, audit, nullptr};
  auto estimate = [&](const std::string& body) {
    return routes.handle({"POST", "/v1/estimate", "", body, "127.0.0.1:1"});
  };
  SUBCASE("JSON body, the budgets it would hit") {
    const auto r = estimate(
        R"({"method":"POST","url":"https://api.openai.com/v1/chat/completions",
            "headers":{"content-type":"application/json"},
            "body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":100}})");
    REQUIRE(r.status == 200);
    rapidjson::Document doc;
    doc.Parse(r.body.c_str());
    CHECK(std::string(doc["provider"].GetString()) == "openai");
    CHECK(std::string(doc["endpoint"].GetString()) == "chat");
    CHECK(std::string(doc["model"].GetString()) == "gpt-4o-mini");
    CHECK(std::string(doc["currency"].GetString()) == "usd");
    // 32 bytes of messages: ceil(32/3) + 4 = 15 input tokens at 0.15/1M, 100 output at 0.60/1M.
    CHECK(std::string(doc["estimate"].GetString()) == "0.000063");
    REQUIRE(doc["budgets"].Size() == 2);
    CHECK(std::string(doc["budgets"][0].GetString()) == "daily");
    CHECK(std::string(doc["budgets"][1].GetString()) == "mini");
    CHECK(doc["explanation"].IsString());
  }
  SUBCASE("string body gives the same price") {
    const auto as_json = estimate(R"({"url":"https://api.openai.com/v1/chat/completions",
        "body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":100}})");
    const auto as_text = estimate(R"({"url":"https://api.openai.com/v1/chat/completions",
        "body":"{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":100}"})");
    CHECK(as_json.body == as_text.body);
  }
  SUBCASE("no URL") {
    const auto r = estimate(R"({"method":"GET"})");
    CHECK(r.status == 400);
    CHECK(r.body == R"({"error":"url: required, such as \"https://api.openai.com/v1/...\""})");
  }
}
