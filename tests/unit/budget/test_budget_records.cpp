// Cost records (DESIGN §13), run on each backend: one record per settled exchange and per
// refusal, written with the settlement, linked into the receipt chain, grouped into spend.
#include <doctest/doctest.h>

#include "budget/store/record_chain.hpp"
#include "budget/store/record_json.hpp"
#include "budget_test_support.hpp"

using namespace budget_test;
using Kind = rules::Period::Kind;

namespace {

budget::RecordDetail detail(int status, budget::Usage usage, std::string request_id = "req_1") {
  budget::RecordDetail d;
  d.status = status;
  d.usage = std::move(usage);
  d.upstream_request_id = std::move(request_id);
  d.ms = 42;
  return d;
}

std::int64_t at_ms(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

TEST_CASE_TEMPLATE("Enforcer records, one per settlement and per refusal", T, Memory, Sqlite,
                   Redis) {
  ManualClock clock;
  auto config = base_config();
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day),
                     budget_config("per-client", 3 * k_usd, Kind::day, "client")};
  auto b = backend(T::name);
  auto e = b.open(config, clock);

  auto request = openai(2 * k_usd, "team-a");
  request.credential_hash = "3f9a1c0d2e4b5a6c";
  request.record_id = budget::new_record_id();
  const auto a = admit(*e, request);
  REQUIRE(a.admitted);
  clock.advance(1500ms);
  settle(*e, a.hold, 1'250'000,
         detail(200, {{"input", 1200}, {"cached_input", 100}, {"output", 300}}));

  auto records = all_records(*e);
  REQUIRE(records.size() == 1);
  const auto& r = records[0];
  CHECK(r.id == request.record_id);
  CHECK(r.at == at_ms(clock.now()));
  CHECK(r.provider == "openai");
  CHECK(r.endpoint == "chat");
  CHECK(r.model == "gpt-4o-mini");
  CHECK(r.client == "team-a");
  CHECK(r.credential == "3f9a1c0d2e4b5a6c");
  CHECK(r.budgets == std::vector<std::string>{"daily", "per-client/team-a"});
  CHECK(r.currency == "usd");
  CHECK(r.estimate == 2 * k_usd);
  CHECK(r.actual == 1'250'000);
  CHECK(r.input_tokens() == 1300);
  CHECK(r.output_tokens() == 300);
  CHECK(r.status == 200);
  CHECK(r.outcome == budget::RecordOutcome::complete);
  CHECK(r.refused_by.empty());
  CHECK(r.upstream_request_id == "req_1");
  CHECK(r.ms == 42);
  CHECK(r.prev.empty());
  CHECK(r.hash == budget::sha256_hex(budget::canonical_json(r)));
  CHECK(r.sig.empty());

  SUBCASE("a refusal is a record of its own: actual 0, the budget that refused") {
    auto big = openai(2 * k_usd, "team-a");
    const auto refused = admit(*e, big);
    REQUIRE_FALSE(refused.admitted);
    CHECK(refused.name == "per-client");
    CHECK(refused.key == "team-a");
    record_refusal(*e, big, refused, detail(429, {}, ""));
    records = all_records(*e);
    REQUIRE(records.size() == 2);
    const auto& x = records[1];
    CHECK(x.outcome == budget::RecordOutcome::refused);
    CHECK(x.refused_by == "budget");
    CHECK(x.budgets == std::vector<std::string>{"per-client/team-a"});
    CHECK(x.actual == 0);
    CHECK(x.estimate == 2 * k_usd);
    CHECK(x.status == 429);
    CHECK_FALSE(x.id.empty());
    CHECK(x.prev == records[0].hash);
    // The ledger did not move.
    CHECK(standing(*e, "daily").spent == 1'250'000);
  }
  SUBCASE("a release is recorded with nothing charged") {
    const auto c = admit(*e, openai(k_usd, "team-b"));
    budget::RecordDetail gone;
    gone.outcome = budget::RecordOutcome::upstream_error;
    std::promise<void> released;
    e->release(c.hold, gone, [&released] { released.set_value(); });
    released.get_future().get();
    records = all_records(*e);
    REQUIRE(records.size() == 2);
    CHECK(records[1].outcome == budget::RecordOutcome::upstream_error);
    CHECK(records[1].actual == 0);
    CHECK(records[1].budgets == std::vector<std::string>{"daily", "per-client/team-b"});
  }
  SUBCASE("an exchange in no budget is recorded too") {
    auto eur = openai(5 * k_usd);
    eur.estimate.currency = "eur";
    const auto c = admit(*e, eur);
    REQUIRE(c.admitted);
    settle(*e, c.hold, 4 * k_usd);
    records = all_records(*e);
    REQUIRE(records.size() == 2);
    CHECK(records[1].currency == "eur");
    CHECK(records[1].budgets.empty());
    CHECK(records[1].actual == 4 * k_usd);
  }
  SUBCASE("a hold that outlives its owner is recorded as expired, at its estimate") {
    const auto c = admit(*e, openai(k_usd, "team-c"));
    REQUIRE(c.admitted);
    clock.advance(config->store.hold_ttl + 2s);
    admit(*e, openai(1, "team-c"));  // any call sweeps
    // The swept hold's record is written once the shared ledger has closed it (Redis answers
    // after the admission that swept it).
    REQUIRE(eventually([&] {
      records = all_records(*e);
      return records.size() == 2;
    }));
    CHECK(records[1].outcome == budget::RecordOutcome::expired);
    CHECK(records[1].actual == k_usd);
    CHECK(records[1].client == "team-c");
  }
}

TEST_CASE_TEMPLATE("Enforcer::spend, grouped as asked", T, Memory, Sqlite, Redis) {
  ManualClock clock(ManualClock::parse("2026-11-23T10:30:00Z"));
  auto config = base_config();
  config->budgets = {budget_config("daily", 100 * k_usd, Kind::day)};
  auto b = backend(T::name);
  auto e = b.open(config, clock);

  const auto exchange = [&](const std::string& model, const std::string& client,
                            std::int64_t estimate, std::int64_t actual) {
    auto r = openai(estimate, client);
    r.model = model;
    const auto a = admit(*e, r);
    REQUIRE(a.admitted);
    settle(*e, a.hold, actual, detail(200, {{"input", 10}, {"output", 2}}));
  };
  exchange("gpt-4o-mini", "team-a", 4000, 1200);
  exchange("gpt-4o-mini", "team-b", 4000, 800);
  clock.advance(1h);
  exchange("gpt-4o", "team-a", 90'000, 50'000);
  auto refused = openai(500 * k_usd, "team-a");
  const auto no = admit(*e, refused);
  REQUIRE_FALSE(no.admitted);
  record_refusal(*e, refused, no);

  budget::SpendQuery by_model;
  by_model.group_by = {budget::SpendKey::model};
  auto groups = e->spend(by_model);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].keys == std::vector<std::string>{"gpt-4o"});
  CHECK(groups[0].spent == 50'000);
  CHECK(groups[0].estimated == 90'000);
  CHECK(groups[0].requests == 1);
  CHECK(groups[1].keys == std::vector<std::string>{"gpt-4o-mini"});
  CHECK(groups[1].currency == "usd");
  CHECK(groups[1].requests == 3);
  CHECK(groups[1].refused == 1);
  CHECK(groups[1].spent == 2000);
  CHECK(groups[1].estimated == 8000);  // the refusal reserved nothing
  CHECK(groups[1].input_tokens == 20);
  CHECK(groups[1].output_tokens == 4);

  SUBCASE("by client and hour") {
    budget::SpendQuery q;
    q.group_by = {budget::SpendKey::client, budget::SpendKey::hour};
    groups = e->spend(q);
    REQUIRE(groups.size() == 3);
    CHECK(groups[0].keys == std::vector<std::string>{"team-a", "2026-11-23T11:00:00Z"});
    CHECK(groups[0].requests == 2);
    CHECK(groups[1].keys == std::vector<std::string>{"team-a", "2026-11-23T10:00:00Z"});
    CHECK(groups[2].keys == std::vector<std::string>{"team-b", "2026-11-23T10:00:00Z"});
  }
  SUBCASE("by budget and day") {
    budget::SpendQuery q;
    q.group_by = {budget::SpendKey::budget, budget::SpendKey::day};
    groups = e->spend(q);
    REQUIRE(groups.size() == 1);
    CHECK(groups[0].keys == std::vector<std::string>{"daily", "2026-11-23"});
    CHECK(groups[0].requests == 4);
    CHECK(groups[0].refused == 1);
    CHECK(groups[0].spent == 52'000);
  }
  SUBCASE("since and until cut at the millisecond") {
    budget::SpendQuery q;
    q.range.since = at_ms(ManualClock::parse("2026-11-23T11:00:00Z"));
    groups = e->spend(q);
    REQUIRE(groups.size() == 1);
    CHECK(groups[0].requests == 2);
    CHECK(groups[0].spent == 50'000);
    q.range = {};
    q.range.until = at_ms(ManualClock::parse("2026-11-23T11:30:00Z"));
    groups = e->spend(q);
    REQUIRE(groups.size() == 1);
    CHECK(groups[0].requests == 2);
    CHECK(groups[0].spent == 2000);
  }
  SUBCASE("records ordered by cost, limited") {
    budget::RecordQuery q;
    q.order = budget::RecordQuery::Order::cost;
    q.limit = 2;
    const auto top = e->records(q);
    REQUIRE(top.size() == 2);
    CHECK(top[0].actual == 50'000);
    CHECK(top[1].actual == 1200);
  }
}

TEST_CASE_TEMPLATE("Enforcer records, named by the model the provider billed", T, Memory, Sqlite,
                   Redis) {
  ManualClock clock(ManualClock::parse("2026-11-23T10:30:00Z"));
  auto config = base_config();
  config->budgets = {budget_config("daily", 100 * k_usd, Kind::day)};
  auto b = backend(T::name);
  auto e = b.open(config, clock);

  // A request for gpt-5.4 the provider answers as its snapshot gpt-5.4-2026-03-05; one whose
  // answer names no model keeps the requested name.
  const auto exchange = [&](const std::string& model, std::string billed, std::int64_t actual) {
    auto r = openai(90'000, "team-a");
    r.model = model;
    const auto a = admit(*e, r);
    REQUIRE(a.admitted);
    auto d = detail(200, {{"input", 10}, {"output", 2}});
    d.model = std::move(billed);
    settle(*e, a.hold, actual, std::move(d));
  };
  exchange("gpt-5.4", "gpt-5.4-2026-03-05", 50'000);
  exchange("gpt-5.4", "", 7'000);
  exchange("gpt-5.4-2026-03-05", "gpt-5.4-2026-03-05", 2'000);

  const auto records = all_records(*e);
  REQUIRE(records.size() == 3);
  CHECK(records[0].model == "gpt-5.4-2026-03-05");
  CHECK(records[1].model == "gpt-5.4");
  CHECK(records[2].model == "gpt-5.4-2026-03-05");
  for (const auto& r : records) CHECK(r.hash == budget::sha256_hex(budget::canonical_json(r)));

  budget::SpendQuery by_model;
  by_model.group_by = {budget::SpendKey::model};
  const auto groups = e->spend(by_model);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].keys == std::vector<std::string>{"gpt-5.4-2026-03-05"});
  CHECK(groups[0].spent == 52'000);
  CHECK(groups[0].requests == 2);
  CHECK(groups[1].keys == std::vector<std::string>{"gpt-5.4"});
  CHECK(groups[1].spent == 7'000);
}

TEST_CASE_TEMPLATE("Enforcer records, the service tier a request was settled at", T, Memory, Sqlite,
                   Redis) {
  ManualClock clock(ManualClock::parse("2026-11-23T10:30:00Z"));
  auto config = base_config();
  config->budgets = {budget_config("daily", 100 * k_usd, Kind::day)};
  auto b = backend(T::name);
  auto e = b.open(config, clock);

  // A flex answer and a standard one: the tier is named in the first record only, and is part of
  // what the record's hash covers.
  for (const std::string tier : {"flex", ""}) {
    const auto a = admit(*e, openai(90'000, "team-a"));
    REQUIRE(a.admitted);
    auto d = detail(200, {{"input", 10}, {"output", 2}});
    d.service_tier = tier;
    settle(*e, a.hold, 4'000, std::move(d));
  }
  const auto records = all_records(*e);
  REQUIRE(records.size() == 2);
  CHECK(records[0].service_tier == "flex");
  CHECK(records[1].service_tier.empty());
  for (const auto& r : records) CHECK(r.hash == budget::sha256_hex(budget::canonical_json(r)));
  CHECK(budget::record_json(records[0]).find("\"service_tier\":\"flex\"") != std::string::npos);
  CHECK(budget::record_json(records[1]).find("service_tier") == std::string::npos);
  const auto back = budget::parse_record_json(budget::record_json(records[0]));
  REQUIRE(back);
  CHECK(back->service_tier == "flex");
}

TEST_CASE("Enforcer records on SQLite, a hold left by a crash is recorded as expired at restart") {
  ManualClock clock;
  auto config = base_config();
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day, "client")};
  auto b = backend("sqlite");
  std::string id;
  {
    auto e = b.open(config, clock);
    auto r = openai(3 * k_usd, "team-a");
    r.record_id = id = budget::new_record_id();
    REQUIRE(admit(*e, r).admitted);
    // Gone without settling, as after kill -9.
  }
  auto e = b.open(config, clock);
  e->recover();
  const auto records = all_records(*e);
  REQUIRE(records.size() == 1);
  CHECK(records[0].id == id);
  CHECK(records[0].outcome == budget::RecordOutcome::expired);
  CHECK(records[0].actual == 3 * k_usd);
  CHECK(records[0].model == "gpt-4o-mini");
  CHECK(records[0].client == "team-a");
  CHECK(records[0].budgets == std::vector<std::string>{"daily/team-a"});
  CHECK(standing(*e, "daily", "team-a").spent == 3 * k_usd);
}

TEST_CASE("Enforcer records on SQLite, the chain goes on across a restart") {
  ManualClock clock;
  auto config = base_config();
  auto b = backend("sqlite");
  {
    auto e = b.open(config, clock);
    settle(*e, admit(*e, openai(k_usd)).hold, k_usd);
  }
  auto e = b.open(config, clock);
  settle(*e, admit(*e, openai(k_usd)).hold, k_usd);
  const auto records = all_records(*e);
  REQUIRE(records.size() == 2);
  CHECK(records[1].prev == records[0].hash);
}
