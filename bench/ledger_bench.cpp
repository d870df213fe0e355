// Ledger throughput: reserve + settle, in memory, with SQLite group commit and on Redis (pipelined
// on the ledger's connection thread), two ways:
// - memory, sqlite, redis: 1, 2 and 16 caller threads, each blocked on its own callbacks;
// - redis_breaker_loop/16: redis_loop with a shared spend breaker too;
// - *_loop/N: N exchanges in flight on one event-loop thread, each reserving, then settling, then
//   starting again, every callback posted back to the loop: how a proxy worker calls the ledger.
//   Also reports the p50 and p99 of one reserve + settle as an exchange waits for it (µs).
// DESIGN §10: >= 1M/s in memory, >= 50k/s with SQLite; issue 15: >= 50k/s on Redis with 16
// callers, reserve + settle p99 <= 1 ms.
#include <benchmark/benchmark.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "budget/enforcer.hpp"
#include "budget/store/sqlite_journal.hpp"

namespace {

std::unique_ptr<budget::Enforcer> g_enforcer;
std::filesystem::path g_dir;

std::shared_ptr<rules::Config> config(rules::StoreConfig::Type type) {
  auto c = std::make_shared<rules::Config>();
  c->store.type = type;
  g_dir = std::filesystem::temp_directory_path() /
          ("tollgate-ledger-bench-" + std::to_string(::getpid()));
  std::filesystem::remove_all(g_dir);
  c->store.path = (g_dir / "ledger.db").string();
  rules::Provider openai;
  openai.name = "openai";
  openai.currency = "usd";
  c->providers = {openai};
  rules::BudgetConfig daily;
  daily.name = "daily";
  daily.currency = "usd";
  daily.limit = std::int64_t{1} << 60;
  daily.per = "client";
  rules::BudgetConfig total = daily;
  total.name = "total";
  total.per = "";
  total.period.kind = rules::Period::Kind::total;
  c->budgets = {daily, total};
  return c;
}

void setup_memory(const benchmark::State&) {
  g_enforcer = budget::make_enforcer(config(rules::StoreConfig::Type::memory));
}
void setup_sqlite(const benchmark::State&) {
  g_enforcer = budget::make_enforcer(config(rules::StoreConfig::Type::sqlite));
}
// Needs a running server: TOLLGATE_BENCH_REDIS_URL=redis://127.0.0.1:6379/0 (skipped without);
// bench/store_bench.sh starts one.
void setup_redis(const benchmark::State&) {
  auto c = config(rules::StoreConfig::Type::redis);
  c->store.redis.url = std::getenv("TOLLGATE_BENCH_REDIS_URL");
  c->store.redis.prefix = "tollgate-bench-" + std::to_string(::getpid()) + ":";
  g_enforcer = budget::make_enforcer(c);
}
// The same, with a shared spend breaker on the currency (never opening): what its window costs
// each reservation and close in Redis.
void setup_redis_breaker(const benchmark::State&) {
  auto c = config(rules::StoreConfig::Type::redis);
  c->store.redis.url = std::getenv("TOLLGATE_BENCH_REDIS_URL");
  c->store.redis.prefix = "tollgate-bench-" + std::to_string(::getpid()) + ":";
  rules::BreakerConfig spike;
  spike.name = "spike";
  spike.currency = "usd";
  spike.limit = std::int64_t{1} << 60;
  spike.shared = true;
  c->breakers = {spike};
  g_enforcer = budget::make_enforcer(c);
}
void teardown(const benchmark::State&) {
  g_enforcer.reset();
  std::filesystem::remove_all(g_dir);
}

// One caller's wait for its callback: a futex word of its own (0 empty, 1 posted, 2 asleep),
// woken only by this caller's callback, and only when it sleeps: callbacks that run inline
// (memory journal) cost no system call.
class Waiter {
 public:
  void post() {
    if (word_.exchange(1, std::memory_order_acq_rel) == 2)
      ::syscall(SYS_futex, &word_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }
  void wait() {
    int empty = 0;
    if (word_.compare_exchange_strong(empty, 2, std::memory_order_acq_rel))
      while (word_.load(std::memory_order_acquire) == 2)
        ::syscall(SYS_futex, &word_, FUTEX_WAIT_PRIVATE, 2, nullptr, nullptr, 0);
    word_.store(0, std::memory_order_relaxed);
  }

 private:
  std::atomic<int> word_{0};
};

// Callbacks run inline with the memory journal; with SQLite, on its writer thread after the commit.
void reserve_settle(benchmark::State& state) {
  budget::AdmitRequest request;
  request.provider = "openai";
  request.endpoint = "chat";
  request.model = "gpt-4o-mini";
  request.client = "client-" + std::to_string(state.thread_index() % 4);
  request.host = "api.openai.com";
  request.estimate = {30'150, "usd"};
  // Each caller waits on its own futex word (no libstdc++ atomic wait: its spin with
  // sched_yield and its shared waiter table add their own costs to what is measured).
  Waiter waiter;
  for (auto _ : state) {
    budget::HoldId hold = 0;
    g_enforcer->admit(request, [&](budget::Admission a) {
      hold = a.hold;
      waiter.post();
    });
    budget::flush_journal_wakeups();  // no-op unless this thread defers
    waiter.wait();
    g_enforcer->settle(hold, 12'345, [&] { waiter.post(); });
    budget::flush_journal_wakeups();
    waiter.wait();
  }
  state.SetItemsProcessed(state.iterations());
}

// As a proxy worker calls the ledger: wake-ups deferred to the end of the "turn" (here, each
// call), where a sleeping SQLite writer is spared for a small turn and the caller commits it.
void reserve_settle_as_worker(benchmark::State& state) {
  budget::defer_journal_wakeups(true);
  reserve_settle(state);
  budget::defer_journal_wakeups(false);
}

// N exchanges in flight on one event loop (state.range(0)), as a proxy worker has them: each
// admits, settles once admitted, and starts again once settled; every store callback is posted
// back to the loop, where the exchange goes on. One benchmark iteration is k_per_iteration
// reserve + settle cycles.
void reserve_settle_loop(benchmark::State& state) {
  using Clock = std::chrono::steady_clock;
  constexpr int k_per_iteration = 4096;
  const int in_flight = static_cast<int>(state.range(0));
  boost::asio::io_context loop(1);
  std::vector<budget::AdmitRequest> requests(static_cast<std::size_t>(in_flight));
  for (int i = 0; i < in_flight; ++i) {
    auto& r = requests[static_cast<std::size_t>(i)];
    r.provider = "openai";
    r.endpoint = "chat";
    r.model = "gpt-4o-mini";
    r.client = "client-" + std::to_string(i % 4);
    r.host = "api.openai.com";
    r.estimate = {30'150, "usd"};
  }
  std::vector<double> micros;
  micros.reserve(static_cast<std::size_t>(k_per_iteration) * 64);
  int started = 0, finished = 0;
  std::function<void(int)> start = [&](int exchange) {
    if (started == k_per_iteration) return;
    ++started;
    const auto t0 = Clock::now();
    g_enforcer->admit(requests[static_cast<std::size_t>(exchange)], [&, exchange,
                                                                     t0](budget::Admission a) {
      boost::asio::post(loop, [&, exchange, t0, hold = a.hold] {
        g_enforcer->settle(hold, 12'345, [&, exchange, t0] {
          boost::asio::post(loop, [&, exchange, t0] {
            micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
            if (++finished == k_per_iteration) return loop.stop();
            start(exchange);
          });
        });
      });
    });
  };
  for (auto _ : state) {
    started = finished = 0;
    loop.restart();
    auto work = boost::asio::make_work_guard(loop);
    for (int i = 0; i < in_flight; ++i) boost::asio::post(loop, [&, i] { start(i); });
    loop.run();
  }
  state.SetItemsProcessed(state.iterations() * k_per_iteration);
  if (!micros.empty()) {
    std::sort(micros.begin(), micros.end());
    state.counters["p50_us"] = micros[micros.size() / 2];
    state.counters["p99_us"] = micros[micros.size() * 99 / 100];
  }
}

}  // namespace

// 1, 2 and 16 concurrent callers, timed by the wall clock (callers wait on commits).
void callers(benchmark::internal::Benchmark* b) {
  b->Threads(1)->Threads(2)->Threads(16)->UseRealTime();
}

BENCHMARK(reserve_settle)->Name("memory")->Setup(setup_memory)->Teardown(teardown)->Apply(callers);
BENCHMARK(reserve_settle)->Name("sqlite")->Setup(setup_sqlite)->Teardown(teardown)->Apply(callers);
BENCHMARK(reserve_settle_as_worker)
    ->Name("sqlite_worker")
    ->Setup(setup_sqlite)
    ->Teardown(teardown)
    ->Apply(callers);
BENCHMARK(reserve_settle_loop)
    ->Name("memory_loop")
    ->Setup(setup_memory)
    ->Teardown(teardown)
    ->Arg(1)
    ->Arg(16)
    ->UseRealTime();
BENCHMARK(reserve_settle_loop)
    ->Name("sqlite_loop")
    ->Setup(setup_sqlite)
    ->Teardown(teardown)
    ->Arg(1)
    ->Arg(16)
    ->UseRealTime();

int main(int argc, char** argv) {
  if (std::getenv("TOLLGATE_BENCH_REDIS_URL"))
    benchmark::RegisterBenchmark("redis", reserve_settle)
        ->Setup(setup_redis)
        ->Teardown(teardown)
        ->Apply(callers);
  if (std::getenv("TOLLGATE_BENCH_REDIS_URL"))
    benchmark::RegisterBenchmark("redis_loop", reserve_settle_loop)
        ->Setup(setup_redis)
        ->Teardown(teardown)
        ->Arg(1)
        ->Arg(16)
        ->Arg(64)
        ->UseRealTime();
  if (std::getenv("TOLLGATE_BENCH_REDIS_URL"))
    benchmark::RegisterBenchmark("redis_breaker_loop", reserve_settle_loop)
        ->Setup(setup_redis_breaker)
        ->Teardown(teardown)
        ->Arg(16)
        ->UseRealTime();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
