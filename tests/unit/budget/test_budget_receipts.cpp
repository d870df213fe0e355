// Receipts: the records' hash chain and Ed25519 signatures, and the offline check that names the
// first bad record of an export (a tampered byte, a removed record, a reordered pair, a record
// signed by another key).
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <sstream>

#include "budget/store/journal.hpp"
#include "budget/store/record_chain.hpp"
#include "budget/store/record_json.hpp"
#include "budget_test_support.hpp"

using namespace budget_test;

namespace {

budget::CostRecord sample(int i) {
  budget::CostRecord r;
  r.id = "01JREC" + std::to_string(1000 + i);
  r.at = 1'795'000'000'000 + i * 1000;
  r.provider = "openai";
  r.endpoint = "chat";
  r.model = i % 2 ? "gpt-4o" : "gpt-4o-mini";
  r.client = "team-a";
  r.credential = "3f9a1c0d2e4b5a6c";
  r.budgets = {"daily", "per-client/team-a"};
  r.currency = "usd";
  r.estimate = 4000 + i;
  r.actual = 1200 + i;
  r.usage = {{"input", 100 + i}, {"output", 20}};
  r.status = 200;
  r.upstream_request_id = "req_" + std::to_string(i);
  r.ms = 12;
  return r;
}

// Five records kept by a memory journal signed with `key`, as GET /v1/receipts exports them.
// The journal's clock stands at the records' time: retention is measured from it, not from today.
std::vector<std::string> export_lines(std::shared_ptr<const budget::ReceiptKey> key) {
  static ManualClock clock(ManualClock::parse("2026-11-18T12:00:00Z"));
  budget::RecordOptions options;
  options.key = std::move(key);
  options.clock = &clock;
  auto journal = budget::make_memory_journal(options);
  for (int i = 0; i < 5; ++i) journal->write(budget::AddRecord{sample(i)}, nullptr);
  std::vector<std::string> lines;
  for (const auto& r : journal->records({})) lines.push_back(budget::record_json(r));
  return lines;
}

budget::ReceiptCheck check(const std::vector<std::string>& lines, const budget::ReceiptKey* key) {
  std::stringstream in;
  for (const auto& line : lines) in << line << "\n";
  return budget::verify_receipts(in, key);
}

}  // namespace

TEST_CASE("ReceiptKey, created 0600 and read back; the public half verifies") {
  TempDir dir;
  const auto path = (dir.path / "receipts.key").string();
  const auto key = budget::ReceiptKey::load_or_create(path);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  const auto again = budget::ReceiptKey::load_or_create(path);
  CHECK(again->public_pem() == key->public_pem());
  const auto sig = key->sign("hello");
  CHECK(sig.size() == 88);
  std::string error;
  const auto pub = budget::ReceiptKey::from_pem(key->public_pem(), &error);
  REQUIRE(pub);
  CHECK(pub->verify("hello", sig));
  CHECK_FALSE(pub->verify("hellp", sig));
  CHECK(pub->sign("hello").empty());
  CHECK_FALSE(budget::ReceiptKey::from_pem("not a key", &error));
  CHECK(error == "not a PEM key");
}

TEST_CASE("record_json, read back as written") {
  auto r = sample(3);
  r.prev = "ab";
  r.hash = "cd";
  r.sig = "ef";
  r.outcome = budget::RecordOutcome::client_gone;
  r.model = "odd \"model\"\x1f/é";
  const auto back = budget::parse_record_json(budget::record_json(r));
  REQUIRE(back);
  CHECK(budget::record_json(*back) == budget::record_json(r));
  CHECK(budget::canonical_json(r).find("\"hash\"") == std::string::npos);
  CHECK(budget::record_json(r).starts_with(
      R"({"id":"01JREC1003","at":"2026-11-18T11:06:43.000Z","provider":"openai",)"));
}

TEST_CASE("verify_receipts, every way an export can be wrong is caught and named") {
  TempDir dir;
  const auto key = budget::ReceiptKey::load_or_create((dir.path / "receipts.key").string());
  const auto pub = budget::ReceiptKey::from_pem(key->public_pem(), nullptr);
  auto lines = export_lines(key);
  REQUIRE(lines.size() == 5);

  const auto good = check(lines, pub.get());
  CHECK(good.ok);
  CHECK(good.records == 5);
  CHECK(good.signatures_checked);

  SUBCASE("a tampered byte") {
    const auto at = lines[2].find("\"actual\":\"0.001202\"");
    REQUIRE(at != std::string::npos);
    lines[2][at + 17] = '9';
    const auto bad = check(lines, pub.get());
    CHECK_FALSE(bad.ok);
    CHECK(bad.line == 3);
    CHECK(bad.id == "01JREC1002");
    CHECK(bad.reason == "its hash does not match its content (the record was altered)");
  }
  SUBCASE("a tampered byte in the hash itself") {
    const auto at = lines[1].find("\"hash\":\"");
    lines[1][at + 8] = lines[1][at + 8] == 'a' ? 'b' : 'a';
    const auto bad = check(lines, pub.get());
    CHECK(bad.line == 2);
    CHECK(bad.id == "01JREC1001");
  }
  SUBCASE("a removed record") {
    lines.erase(lines.begin() + 2);
    const auto bad = check(lines, pub.get());
    CHECK_FALSE(bad.ok);
    CHECK(bad.line == 3);
    CHECK(bad.id == "01JREC1003");
    CHECK(bad.reason ==
          "its prev is not the hash of the record on line 2 (a record was removed, added or "
          "moved)");
  }
  SUBCASE("a reordered pair") {
    std::swap(lines[1], lines[2]);
    const auto bad = check(lines, pub.get());
    CHECK_FALSE(bad.ok);
    CHECK(bad.line == 2);
    CHECK(bad.id == "01JREC1002");
  }
  SUBCASE("a record signed by another key") {
    TempDir other_dir;
    const auto other =
        budget::ReceiptKey::load_or_create((other_dir.path / "receipts.key").string());
    // Re-signed by the other key: hash and links intact, only the signature is foreign.
    auto r = budget::parse_record_json(lines[3]);
    REQUIRE(r);
    r->sig = other->sign(budget::canonical_json(*r));
    lines[3] = budget::record_json(*r);
    CHECK(check(lines, nullptr).ok);
    const auto bad = check(lines, pub.get());
    CHECK_FALSE(bad.ok);
    CHECK(bad.line == 4);
    CHECK(bad.id == "01JREC1003");
    CHECK(bad.reason ==
          "its signature does not verify with the key (signed by another key, or altered)");
  }
  SUBCASE("a whole export signed by another key") {
    TempDir other_dir;
    const auto other =
        budget::ReceiptKey::load_or_create((other_dir.path / "receipts.key").string());
    const auto bad = check(export_lines(other), pub.get());
    CHECK_FALSE(bad.ok);
    CHECK(bad.line == 1);
  }
  SUBCASE("a cut line") {
    lines[4].resize(lines[4].size() / 2);
    const auto bad = check(lines, pub.get());
    CHECK(bad.line == 5);
    CHECK(bad.reason == "not a JSON record (the line was altered or cut)");
  }
  SUBCASE("the export may start anywhere in the chain (older records pruned)") {
    lines.erase(lines.begin(), lines.begin() + 2);
    CHECK(check(lines, pub.get()).ok);
  }
}

TEST_CASE("Memory journal, records in a bounded ring") {
  ManualClock clock(ManualClock::parse("2026-11-23T12:00:00Z"));
  budget::RecordOptions options;
  options.memory = 3;
  options.retention = std::chrono::hours(24);
  options.clock = &clock;
  auto journal = budget::make_memory_journal(options);
  const auto now_ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock.now().time_since_epoch())
        .count();
  };
  for (int i = 0; i < 5; ++i) {
    auto r = sample(i);
    r.at = now_ms();
    journal->write(budget::AddRecord{r}, nullptr);
  }
  auto kept = journal->records({});
  REQUIRE(kept.size() == 3);
  CHECK(kept[0].id == "01JREC1002");
  SUBCASE("and past retention they go") {
    clock.advance(std::chrono::hours(25));
    auto r = sample(9);
    r.at = now_ms();
    journal->write(budget::AddRecord{r}, nullptr);
    kept = journal->records({});
    REQUIRE(kept.size() == 1);
    CHECK(kept[0].id == "01JREC1009");
  }
}
