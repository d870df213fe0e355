// SQLite store on an event loop that defers its writer's wake-ups to the end of a turn
// (issue 6): the writes of the turn are committed once flush_store_wakeups() runs, in order,
// and each callback runs after its commit, told that it is durable.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "budget/store/store.hpp"
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

TEST_CASE("SQLite store, wake-ups deferred to the end of a turn") {
  TempDir dir;
  const auto path = (dir.path / "ledger.db").string();
  constexpr int k_holds = 50;
  std::mutex mutex;
  std::condition_variable cv;
  int done = 0;
  {
    auto store = budget::make_sqlite_journal(path);
    // A first write, waited for: afterwards the writer is (almost always) asleep, which is the
    // case the deferred wake-up must handle; if it is still busy, it takes the turn's writes by
    // itself and the test checks order and durability only.
    store->write(close_hold(0, 0), [&](bool) {
      std::lock_guard lock(mutex);
      done = -1;
      cv.notify_all();
    });
    {
      std::unique_lock lock(mutex);
      REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return done == -1; }));
      done = 0;
    }
    budget::defer_store_wakeups(true);
    // One turn: every hold opened and, but for the last, closed again.
    for (int i = 1; i <= k_holds; ++i) {
      store->write(open_hold(i), [&](bool durable) {
        std::lock_guard lock(mutex);
        if (durable) ++done;
        cv.notify_all();
      });
      if (i < k_holds)
        store->write(close_hold(i, i), [&](bool durable) {
          std::lock_guard lock(mutex);
          if (durable) ++done;
          cv.notify_all();
        });
    }
    budget::flush_store_wakeups();
    {
      std::unique_lock lock(mutex);
      // A wake-up lost by the flush would leave the writer asleep: the wait times out.
      CHECK(cv.wait_for(lock, std::chrono::seconds(10), [&] { return done == 2 * k_holds - 1; }));
    }
    budget::defer_store_wakeups(false);
    CHECK(store->healthy());
  }
  auto store = budget::make_sqlite_journal(path);
  const auto snapshot = store->load();
  REQUIRE(snapshot.holds.size() == 1);
  CHECK(snapshot.holds[0].id == k_holds);
  REQUIRE(snapshot.spent.size() == 1);
  CHECK(snapshot.spent[0].amount == (k_holds - 1) * k_holds / 2);  // the warm-up added 0
}

TEST_CASE("SQLite store, a small turn committed by the loop itself") {
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
    auto store = budget::make_sqlite_journal(path);
    budget::defer_store_wakeups(true);
    for (int turn = 1; turn <= 20; ++turn) {
      // A request's two writes in two turns, as the proxy makes them: hold, then settlement.
      store->write(open_hold(turn), count);
      budget::flush_store_wakeups();
      {
        std::unique_lock lock(mutex);
        REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return done == 2 * turn - 1; }));
      }
      store->write(close_hold(turn, 10), count);
      budget::flush_store_wakeups();
      std::unique_lock lock(mutex);
      REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return done == 2 * turn; }));
    }
    store->write(open_hold(99), count);  // left open, committed by the destructor at the latest
    budget::flush_store_wakeups();
    budget::defer_store_wakeups(false);
  }
  auto store = budget::make_sqlite_journal(path);
  const auto snapshot = store->load();
  REQUIRE(snapshot.holds.size() == 1);
  CHECK(snapshot.holds[0].id == 99);
  REQUIRE(snapshot.spent.size() == 1);
  CHECK(snapshot.spent[0].amount == 200);
}
