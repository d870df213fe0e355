// GET /v1/spend, /v1/records, /v1/receipts and /v1/receipts/key through AdminRoutes::handle:
// query parsing, the JSON, NDJSON and CSV shapes, exact amounts as decimal strings.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <sstream>

#include "admin/admin_routes.hpp"
#include "admin/report_command.hpp"
#include "admin_test_support.hpp"
#include "budget/store/record_json.hpp"

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
  proxy::AdminRoutes routes{
      "s3cret", holder, enforcer, reloader, audit, [] { return true; }, proxy::Metrics::instance(),
      clock};

  Fixture() {
    const auto now =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock.now_.time_since_epoch())
            .count();
    enforcer.record_list = {
        record("r1", now - 3'600'000, "gpt-4o-mini", "team-a", 1200, 4000),
        record("r2", now - 1'800'000, "gpt-4o-mini", "team-b", 800, 4000),
        record("r3", now - 60'000, "gpt-4o", "=cmd|' /C calc'!A0", 50'000, 90'000)};
    auto refused = record("r4", now - 1000, "gpt-4o-mini", "team-a", 0, 500'000'000);
    refused.outcome = budget::RecordOutcome::refused;
    refused.refused_by = "budget";
    refused.status = 429;
    enforcer.record_list.push_back(refused);
  }

  static budget::CostRecord record(std::string id, std::int64_t at, std::string model,
                                   std::string client, std::int64_t actual, std::int64_t estimate) {
    budget::CostRecord r;
    r.id = std::move(id);
    r.at = at;
    r.provider = "openai";
    r.endpoint = "chat";
    r.model = std::move(model);
    r.client = std::move(client);
    r.credential = "3f9a1c0d2e4b5a6c";
    r.budgets = {"daily"};
    r.currency = "usd";
    r.actual = actual;
    r.estimate = estimate;
    r.usage = {{"input", 100}, {"output", 20}};
    r.status = 200;
    r.hash = "h-" + r.id;
    return r;
  }

  proxy::AdminResponse get(const std::string& target) {
    return routes.handle({"GET", target, "", "", "127.0.0.1:40000"});
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

TEST_CASE("GET /v1/spend") {
  Fixture f;
  SUBCASE("grouped by model, amounts as decimal strings") {
    const auto r = f.get("/v1/spend?group_by=model");
    REQUIRE(r.status == 200);
    const auto doc = json(r.body);
    const auto& groups = doc["groups"];
    REQUIRE(groups.Size() == 2);
    CHECK(std::string(groups[0]["model"].GetString()) == "gpt-4o");
    CHECK(std::string(groups[0]["spent"].GetString()) == "0.05");
    CHECK(std::string(groups[1]["model"].GetString()) == "gpt-4o-mini");
    CHECK(std::string(groups[1]["currency"].GetString()) == "usd");
    CHECK(groups[1]["requests"].GetInt64() == 3);
    CHECK(groups[1]["refused"].GetInt64() == 1);
    CHECK(std::string(groups[1]["spent"].GetString()) == "0.002");
    CHECK(std::string(groups[1]["estimated"].GetString()) == "0.008");
    CHECK(groups[1]["input_tokens"].GetInt64() == 300);
    CHECK(groups[1]["output_tokens"].GetInt64() == 60);
    CHECK(doc["since"].IsNull());
  }
  SUBCASE("since as a duration back from now, until as RFC 3339 with an offset") {
    const auto r =
        f.get("/v1/spend?group_by=client,model&since=45m&until=2024-10-04T02:00:00%2B02:00");
    REQUIRE(r.status == 200);
    REQUIRE(f.enforcer.last_spend);
    const auto now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(f.clock.now_.time_since_epoch())
            .count();
    CHECK(f.enforcer.last_spend->range.since == now_ms - 45 * 60'000);
    CHECK(f.enforcer.last_spend->range.until == now_ms);
    CHECK(f.enforcer.last_spend->group_by ==
          std::vector<budget::SpendKey>{budget::SpendKey::client, budget::SpendKey::model});
    CHECK(json(r.body)["groups"].Size() == 3);
  }
  SUBCASE("every group_by key, currency passed on") {
    CHECK(f.get("/v1/spend?group_by=model,client,credential,provider,endpoint,budget,day,hour&"
                "currency=usd")
              .status == 200);
    CHECK(f.enforcer.last_spend->group_by.size() == 8);
    CHECK(f.enforcer.last_spend->currency == "usd");
  }
  SUBCASE("errors") {
    auto r = f.get("/v1/spend?group_by=model,colour");
    CHECK(r.status == 400);
    CHECK(error_of(r) ==
          "group_by: unknown key 'colour' (model, client, credential, provider, endpoint, "
          "budget, day, hour)");
    r = f.get("/v1/spend?since=yesterday");
    CHECK(r.status == 400);
    CHECK(error_of(r) ==
          "since: must be an RFC 3339 time (2026-11-23T00:00:00Z) or a duration back from now "
          "(24h, 7d)");
    CHECK(f.routes.handle({"POST", "/v1/spend", "Bearer s3cret", "", ""}).status == 405);
  }
}

TEST_CASE("GET /v1/records") {
  Fixture f;
  SUBCASE("JSON: the records as kept") {
    const auto r = f.get("/v1/records?since=2h&limit=2");
    REQUIRE(r.status == 200);
    const auto doc = json(r.body);
    REQUIRE(doc["records"].Size() == 2);
    CHECK(std::string(doc["records"][0]["id"].GetString()) == "r1");
    CHECK(std::string(doc["records"][0]["actual"].GetString()) == "0.0012");
    CHECK(f.enforcer.last_records->limit == 2);
  }
  SUBCASE("NDJSON: one record per line, read back whole") {
    const auto r = f.get("/v1/records?format=ndjson&order=cost");
    REQUIRE(r.status == 200);
    CHECK(r.content_type == "application/x-ndjson");
    CHECK(f.enforcer.last_records->order == budget::RecordQuery::Order::cost);
    std::istringstream in(r.body);
    std::size_t n = 0;
    for (std::string line; std::getline(in, line); ++n) {
      const auto back = budget::parse_record_json(line);
      REQUIRE(back);
      CHECK(back->id == f.enforcer.record_list[n].id);
    }
    CHECK(n == 4);
  }
  SUBCASE("CSV: a header, one row per record, text a spreadsheet would run kept as text") {
    const auto r = f.get("/v1/records?format=csv");
    REQUIRE(r.status == 200);
    CHECK(r.content_type == "text/csv; charset=utf-8");
    std::istringstream in(r.body);
    std::string line;
    std::getline(in, line);
    CHECK(line ==
          "id,at,provider,endpoint,model,client,credential,budgets,currency,estimate,actual,"
          "input_tokens,output_tokens,status,outcome,refused_by,upstream_request_id,ms,hash\r");
    std::getline(in, line);
    CHECK(
        line.starts_with("r1,2024-10-03T23:00:00.000Z,openai,chat,gpt-4o-mini,team-a,"
                         "3f9a1c0d2e4b5a6c,daily,usd,0.004,0.0012,100,20,200,complete,,,0,h-r1"));
    std::getline(in, line);
    std::getline(in, line);
    CHECK(line.find(",'=cmd|' /C calc'!A0,") != std::string::npos);
    std::getline(in, line);
    CHECK(line.find(",429,refused,budget,") != std::string::npos);
  }
  SUBCASE("errors") {
    CHECK(error_of(f.get("/v1/records?order=price")) == "order: must be time or cost, got 'price'");
    CHECK(error_of(f.get("/v1/records?limit=0")) ==
          "limit: must be a number of records from 1 to 100000");
    CHECK(error_of(f.get("/v1/records?format=xml")) ==
          "format: must be json, ndjson or csv, got 'xml'");
  }
}

TEST_CASE("GET /v1/receipts and /v1/receipts/key") {
  Fixture f;
  const auto r = f.get("/v1/receipts?since=45m");
  REQUIRE(r.status == 200);
  CHECK(r.content_type == "application/x-ndjson");
  CHECK(std::count(r.body.begin(), r.body.end(), '\n') == 3);
  CHECK(f.get("/v1/receipts/key").status == 404);
  f.enforcer.receipts_pem = "-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----\n";
  const auto key = f.get("/v1/receipts/key");
  CHECK(key.status == 200);
  CHECK(key.body == f.enforcer.receipts_pem);
}

TEST_CASE("format_report, a table or CSV of GET /v1/spend") {
  Fixture f;
  const auto body = f.get("/v1/spend?group_by=model").body;
  SUBCASE("table with a total per currency") {
    const auto table = proxy::format_report(body, "model", 0, false);
    REQUIRE(table);
    CHECK(*table ==
          "model        currency  requests  refused  spent  estimated  input_tokens  "
          "output_tokens\n"
          "gpt-4o       usd              1        0   0.05       0.09           100             "
          "20\n"
          "gpt-4o-mini  usd              3        1  0.002      0.008           300             "
          "60\n"
          "total        usd              4        1  0.052      0.098           400             "
          "80\n");
  }
  SUBCASE("--top 1 --csv") {
    const auto csv = proxy::format_report(body, "model", 1, true);
    REQUIRE(csv);
    CHECK(*csv ==
          "model,currency,requests,refused,spent,estimated,input_tokens,output_tokens\r\n"
          "gpt-4o,usd,1,0,0.05,0.09,100,20\r\n");
  }
  CHECK_FALSE(proxy::format_report("[]", "model", 0, false));
}
