// SQLite journal whose commits fail (a full disk): the write is reported not durable, nothing of
// it is kept, the journal reports itself unhealthy until a commit succeeds, and the enforcer keeps
// its decisions in memory, reports the store unhealthy and says so once.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>

#include <future>

#include "budget/store/sqlite_journal.hpp"
#include "budget_test_support.hpp"

using namespace budget_test;
using Kind = rules::Period::Kind;

namespace {

// A full disk, as SQLite meets it: while this lives, every write to a file fails (EFBIG). The
// process's own file size limit needs no privileges and no mount; SIGXFSZ, which would end the
// process, is ignored meanwhile. Check nothing while it lives: doctest may report to a file.
class FullDisk {
 public:
  FullDisk() {
    getrlimit(RLIMIT_FSIZE, &saved_);
    previous_ = signal(SIGXFSZ, SIG_IGN);
    rlimit none = saved_;
    none.rlim_cur = 0;
    setrlimit(RLIMIT_FSIZE, &none);
  }
  ~FullDisk() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    signal(SIGXFSZ, previous_);
  }
  FullDisk(const FullDisk&) = delete;
  FullDisk& operator=(const FullDisk&) = delete;

 private:
  rlimit saved_{};
  sighandler_t previous_ = SIG_DFL;
};

budget::Mutation open_hold(std::uint64_t id) {
  return budget::OpenHold{{id, 2'000'000'000, {{"daily", "a", 5}}}};
}

// Writes and waits for the outcome.
bool write(budget::Journal& journal, budget::Mutation mutation) {
  std::promise<bool> durable;
  auto outcome = durable.get_future();
  journal.write(std::move(mutation), [&durable](bool ok) { durable.set_value(ok); });
  return outcome.get();
}

std::vector<std::uint64_t> hold_ids(const budget::JournalSnapshot& snapshot) {
  std::vector<std::uint64_t> ids;
  for (const auto& hold : snapshot.holds) ids.push_back(hold.id);
  return ids;
}

}  // namespace

TEST_CASE("SQLite journal, a commit that fails calls back with durable = false") {
  TempDir dir;
  const auto path = (dir.path / "ledger.db").string();
  {
    auto journal = budget::make_sqlite_journal(path);
    REQUIRE(write(*journal, open_hold(1)));
    bool durable = true, healthy = true;

    SUBCASE("committed by the writer thread") {
      {
        FullDisk full;
        durable = write(*journal, open_hold(2));
        healthy = journal->healthy();
      }
    }
    SUBCASE("committed by an event loop at the end of its turn") {
      budget::defer_journal_wakeups(true);
      {
        FullDisk full;
        std::promise<bool> outcome;
        auto result = outcome.get_future();
        journal->write(open_hold(2), [&outcome](bool ok) { outcome.set_value(ok); });
        budget::flush_journal_wakeups();
        durable = result.get();
        healthy = journal->healthy();
      }
      budget::defer_journal_wakeups(false);
    }

    CHECK_FALSE(durable);
    CHECK_FALSE(healthy);
    CHECK(write(*journal, open_hold(3)));  // the disk has room again
    CHECK(journal->healthy());
  }
  auto journal = budget::make_sqlite_journal(path);
  CHECK(hold_ids(journal->load()) == std::vector<std::uint64_t>{1, 3});  // nothing of hold 2
}

TEST_CASE("StoreEnforcer, a journal that cannot record a change") {
  TempDir dir;
  ManualClock clock;
  auto config = base_config();
  config->store.type = rules::StoreConfig::Type::sqlite;
  config->store.path = (dir.path / "ledger.db").string();
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day, "client")};
  auto e = budget::make_enforcer(config, clock);
  const auto& store_enforcer = dynamic_cast<const budget::StoreEnforcer&>(*e);
  settle(*e, admit(*e, openai(k_usd, "a")).hold, k_usd);
  REQUIRE(e->store_healthy());

  budget::Admission admission;
  {
    FullDisk full;
    admission = admit(*e, openai(3 * k_usd, "a"));
    settle(*e, admission.hold, 2 * k_usd);
  }
  // The decisions stand in memory: admitted and charged, only not on disk.
  CHECK(admission.admitted);
  CHECK(standing(*e, "daily", "a").spent == 3 * k_usd);
  CHECK(standing(*e, "daily", "a").reserved == 0);
  CHECK_FALSE(e->store_healthy());
  CHECK(store_enforcer.write_failures() == 2);
  auto errors = events_of(*e, "error");
  REQUIRE(errors.size() == 1);  // one event for the spell, not one per failed write
  CHECK(errors[0].message ==
        "the ledger store could not record a change: decisions stand in memory but are not "
        "durable until a write succeeds");
  CHECK(errors[0].detail_json == R"({"failures":1})");

  settle(*e, admit(*e, openai(k_usd, "b")).hold, k_usd);
  CHECK(e->store_healthy());
  CHECK(store_enforcer.write_failures() == 2);
  CHECK(events_of(*e, "error").size() == 1);
  {
    FullDisk full;
    settle(*e, admit(*e, openai(k_usd, "b")).hold, k_usd);
  }
  CHECK(events_of(*e, "error").size() == 2);  // a new spell
  CHECK(store_enforcer.write_failures() == 4);
}
