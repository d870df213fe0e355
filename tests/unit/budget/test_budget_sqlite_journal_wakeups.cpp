// SQLite journal on an event loop that defers its writer's wake-ups to the end of a turn
// (issue 6): the writes of the turn are committed once flush_journal_wakeups() runs, in order,
// and each callback runs after its commit, told that it is durable.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "budget/store/sqlite_journal.hpp"
#include "budget_test_support.hpp"

using namespace budget_test;

namespace {

budget::Mutation open_hold(std::uint64_t id) {
  return budget::OpenHold{{id, 2'000'000'000, {{"daily", "a", 5}}}};
}

budget::Mutation close_hold(std::uint64_t id, std::int64_t amount) {
  return budget::CloseHold{id, {{"daily", "a", 0, amount}}};
}

}  // namespace

TEST_CASE("SQLite journal, wake-ups deferred to the end of a turn") {
  TempDir dir;
  const auto path = (dir.path / "ledger.db").string();
  constexpr int k_holds = 50;
  std::mutex mutex;
  std::condition_variable cv;
  int done = 0;
  {
    auto journal = budget::make_sqlite_journal(path);
    // A first write, waited for: afterwards the writer is (almost always) asleep, which is the
    // case the deferred wake-up must handle; if it is still busy, it takes the turn's writes by
    // itself and the test checks order and durability only.
    journal->write(close_hold(0, 0), [&](bool) {
      std::lock_guard lock(mutex);
      done = -1;
      cv.notify_all();
    });
    {
      std::unique_lock lock(mutex);
      REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return done == -1; }));
      done = 0;
    }
    budget::defer_journal_wakeups(true);
    // One turn: every hold opened and, but for the last, closed again.
    for (int i = 1; i <= k_holds; ++i) {
      journal->write(open_hold(i), [&](bool durable) {
        std::lock_guard lock(mutex);
        if (durable) ++done;
        cv.notify_all();
      });
      if (i < k_holds)
        journal->write(close_hold(i, i), [&](bool durable) {
          std::lock_guard lock(mutex);
          if (durable) ++done;
          cv.notify_all();
        });
    }
    budget::flush_journal_wakeups();
    {
      std::unique_lock lock(mutex);
      // A wake-up lost by the flush would leave the writer asleep: the wait times out.
      CHECK(cv.wait_for(lock, std::chrono::seconds(10), [&] { return done == 2 * k_holds - 1; }));
    }
    budget::defer_journal_wakeups(false);
    CHECK(journal->healthy());
  }
  auto journal = budget::make_sqlite_journal(path);
  const auto snapshot = journal->load();
  REQUIRE(snapshot.holds.size() == 1);
  CHECK(snapshot.holds[0].id == k_holds);
  REQUIRE(snapshot.spent.size() == 1);
  CHECK(snapshot.spent[0].amount == (k_holds - 1) * k_holds / 2);  // the warm-up added 0
}

TEST_CASE("SQLite journal, a small turn committed by the loop itself") {
  TempDir dir;
  const auto path = (dir.path / "ledger.db").string();
  std::mutex mutex;
  std::condition_variable cv;
  int done = 0;
  const auto count = [&](bool durable) {
    std::lock_guard lock(mutex);
    if (durable) ++done;
    cv.notify_all();
  };
  {
    auto journal = budget::make_sqlite_journal(path);
    budget::defer_journal_wakeups(true);
    for (int turn = 1; turn <= 20; ++turn) {
      // A request's two writes in two turns, as the proxy makes them: hold, then settlement.
      journal->write(open_hold(turn), count);
      budget::flush_journal_wakeups();
      {
        std::unique_lock lock(mutex);
        REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return done == 2 * turn - 1; }));
      }
      journal->write(close_hold(turn, 10), count);
      budget::flush_journal_wakeups();
      std::unique_lock lock(mutex);
      REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return done == 2 * turn; }));
    }
    journal->write(open_hold(99), count);  // left open, committed by the destructor at the latest
    budget::flush_journal_wakeups();
    budget::defer_journal_wakeups(false);
  }
  auto journal = budget::make_sqlite_journal(path);
  const auto snapshot = journal->load();
  REQUIRE(snapshot.holds.size() == 1);
  CHECK(snapshot.holds[0].id == 99);
  REQUIRE(snapshot.spent.size() == 1);
  CHECK(snapshot.spent[0].amount == 200);
}
