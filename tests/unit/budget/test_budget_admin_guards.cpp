// What the admin side of the ledger refuses or clamps, and event details that stay valid JSON
// whatever a client-chosen key holds.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include "budget/event_detail.hpp"
#include "budget_test_support.hpp"

using namespace budget_test;
using Kind = rules::Period::Kind;

TEST_CASE("EventDetail, escapes what it is given") {
  const auto text = budget::EventDetail()
                        .str("name", "a\"b\\c\n")
                        .num("n", -3)
                        .raw("obj", R"({"k":"v"})")
                        .raw("bad", "{not json")
                        .done();
  CHECK(text == R"({"name":"a\"b\\c\n","n":-3,"obj":{"k":"v"},"bad":null})");
}

TEST_CASE("Enforcer admin, a reset of a key that has no instance is refused") {
  ManualClock clock;
  auto config = base_config();
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day, "client"),
                     budget_config("flat", 10 * k_usd, Kind::day)};
  auto e = budget::make_enforcer(config, clock);
  REQUIRE(admit(*e, openai(k_usd, "team-a")).admitted);
  CHECK_FALSE(e->reset("daily", "nokey", "test"));
  CHECK_FALSE(e->reset("flat", "nokey", "test"));
  CHECK(events_of(*e, "admin").empty());
  CHECK(e->reset("daily", "team-a", "test"));
  CHECK(e->reset("daily", "", "test"));
}

TEST_CASE("Enforcer admin, an override as large as the limit saturates instead of wrapping") {
  ManualClock clock;
  auto config = base_config();
  const std::int64_t huge = 9'223'372'036'853 * k_usd;  // INT64_MAX is 9,223,372,036,854.775807 usd
  config->budgets = {budget_config("daily", huge, Kind::day)};
  auto e = budget::make_enforcer(config, clock);
  REQUIRE(e->add_override({"daily", "", huge, clock.now() + 1h, "test"}, "test"));
  const auto s = standing(*e, "daily");
  CHECK(s.effective_limit() == INT64_MAX);
  CHECK(s.remaining() == INT64_MAX);
  CHECK(admit(*e, openai(5 * k_usd)).admitted);
}

TEST_CASE("Enforcer events, a key with quotes keeps the event detail valid JSON") {
  ManualClock clock;
  auto config = base_config();
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day, "client")};
  auto e = budget::make_enforcer(config, clock);
  const std::string key = "a\"b\\c";
  REQUIRE(admit(*e, openai(k_usd, key)).admitted);
  REQUIRE(e->reset("daily", key, "ops \"x\""));
  const auto admin = events_of(*e, "admin");
  REQUIRE(admin.size() == 1);
  rapidjson::Document doc;
  doc.Parse(admin[0].detail_json.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  CHECK(std::string(doc["who"].GetString()) == "ops \"x\"");
  CHECK(doc["before"].HasMember(key.c_str()));
}

TEST_CASE("Enforcer::last_event_id, the newest id without reading the log") {
  ManualClock clock;
  auto e = budget::make_enforcer(base_config(), clock);
  CHECK(e->last_event_id() == 0);
  e->emit({0, clock.now(), budget::EventType::reload, "", "", "one", ""});
  e->emit({0, clock.now(), budget::EventType::reload, "", "", "two", ""});
  CHECK(e->last_event_id() == 2);
  CHECK(e->events_since(e->last_event_id()).empty());
  CHECK(e->events_since(e->last_event_id() - 1).at(0).message == "two");
}
