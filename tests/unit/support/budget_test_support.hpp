#pragma once
// Fixtures for the budget tests: a movable clock, configs built in code, synchronous wrappers
// around the callback API, and the backends the conformance suite runs on.

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "budget/enforcer.hpp"
#include "budget/period_window.hpp"
#include "budget/store/cost_record.hpp"
#include "budget/store/journal.hpp"
#include "budget/store_enforcer.hpp"

namespace budget_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using budget::TimePoint;

inline constexpr std::int64_t k_usd = 1'000'000;

// A wall clock tests move by hand; safe to read from many threads.
class ManualClock final : public budget::Clock {
 public:
  explicit ManualClock(TimePoint start = parse("2026-11-23T12:00:00Z")) : ms_(to_ms(start)) {}
  TimePoint now() const override { return TimePoint{std::chrono::milliseconds(ms_.load())}; }
  void set(TimePoint t) { ms_ = to_ms(t); }
  void advance(std::chrono::milliseconds d) { ms_ += d.count(); }

  // "2026-11-23T12:00:00Z" (UTC only: enough for fixtures).
  static TimePoint parse(const std::string& text) {
    std::tm tm{};
    strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::chrono::system_clock::from_time_t(timegm(&tm));
  }

 private:
  static std::int64_t to_ms(TimePoint t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  }
  std::atomic<std::int64_t> ms_;
};

struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> n{0};
    path = fs::temp_directory_path() /
           ("tollgate-budget-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

inline rules::BudgetConfig budget_config(const std::string& name, std::int64_t limit,
                                         rules::Period::Kind kind, const std::string& per = "",
                                         const std::string& currency = "usd") {
  rules::BudgetConfig b;
  b.name = name;
  b.currency = currency;
  b.limit = limit;
  b.period.kind = kind;
  b.per = per;
  return b;
}

inline rules::Provider keepa_provider() {
  rules::Provider p;
  p.name = "keepa";
  p.hosts = {"api.keepa.com"};
  p.currency = "keepa_token";
  rules::BalanceConfig balance;
  balance.body_pointer = "/tokensLeft";
  balance.min = 10 * k_usd;
  balance.warn_below = 20 * k_usd;
  p.balance = balance;
  return p;
}

inline rules::Provider openai_provider() {
  rules::Provider p;
  p.name = "openai";
  p.hosts = {"api.openai.com"};
  p.currency = "usd";
  return p;
}

inline std::shared_ptr<rules::Config> base_config() {
  auto config = std::make_shared<rules::Config>();
  config->store.type = rules::StoreConfig::Type::memory;
  config->providers = {openai_provider(), keepa_provider()};
  return config;
}

inline budget::AdmitRequest openai(std::int64_t estimate, const std::string& client = "",
                                   const rules::HeaderList* headers = nullptr) {
  budget::AdmitRequest r;
  r.provider = "openai";
  r.endpoint = "chat";
  r.model = "gpt-4o-mini";
  r.client = client;
  r.host = "api.openai.com";
  r.headers = headers;
  r.estimate = {estimate, "usd"};
  return r;
}

inline budget::AdmitRequest keepa(std::int64_t estimate,
                                  const std::string& endpoint = "bestsellers") {
  budget::AdmitRequest r;
  r.provider = "keepa";
  r.endpoint = endpoint;
  r.credential_hash = "k1";
  r.host = "api.keepa.com";
  r.estimate = {estimate, "keepa_token"};
  return r;
}

inline budget::Admission admit(budget::Enforcer& e, const budget::AdmitRequest& r) {
  std::promise<budget::Admission> p;
  auto f = p.get_future();
  e.admit(r, [&p](budget::Admission a) { p.set_value(std::move(a)); });
  return f.get();
}

inline void settle(budget::Enforcer& e, budget::HoldId hold, std::int64_t actual) {
  std::promise<void> p;
  auto f = p.get_future();
  e.settle(hold, actual, [&p] { p.set_value(); });
  f.get();
}

inline void settle(budget::Enforcer& e, budget::HoldId hold, std::int64_t actual,
                   budget::RecordDetail detail) {
  std::promise<void> p;
  auto f = p.get_future();
  e.settle(hold, actual, std::move(detail), [&p] { p.set_value(); });
  f.get();
}

inline void record_refusal(budget::Enforcer& e, const budget::AdmitRequest& request,
                           const budget::Admission& refusal, budget::RecordDetail detail = {}) {
  std::promise<void> p;
  auto f = p.get_future();
  e.record_refusal(request, refusal, std::move(detail), [&p] { p.set_value(); });
  f.get();
}

inline std::vector<budget::CostRecord> all_records(const budget::Enforcer& e) {
  return e.records(budget::RecordQuery{});
}

inline void release(budget::Enforcer& e, budget::HoldId hold) {
  std::promise<void> p;
  auto f = p.get_future();
  e.release(hold, [&p] { p.set_value(); });
  f.get();
}

inline budget::BudgetStanding standing(const budget::Enforcer& e, const std::string& name,
                                       const std::string& key = "") {
  for (const auto& s : e.budgets())
    if (s.name == name && s.key == key) return s;
  throw std::runtime_error("no budget instance " + name + "/" + key);
}

inline std::vector<budget::Event> events_of(const budget::Enforcer& e, const std::string& type) {
  std::vector<budget::Event> out;
  for (auto& ev : e.events_since(0, 100000))
    if (budget::event_type_name(ev.type) == type) out.push_back(ev);
  return out;
}

// A throw-away redis-server on a free loopback port, in its own temp folder, stopped (and the
// folder removed) when the object goes. `extra` arguments are added to its command line (a
// password, TLS); `tls` serves on a TLS port only.
class RedisServer {
 public:
  explicit RedisServer(std::vector<std::string> extra = {}, bool tls = false)
      : extra_(std::move(extra)), tls_(tls) {
    port_ = free_port();
    start();
  }
  ~RedisServer() { stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts it again (after stop()) on the same port and folder.
  void start() {
    pid_ = fork();
    if (pid_ == 0) {
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
      const std::string port = std::to_string(port_);
      // Under faketime (the date-shifted suite) Redis keeps the real clock, as a shared Redis
      // would beside a sidecar whose clock is off.
      unsetenv("LD_PRELOAD");
      unsetenv("FAKETIME");
      std::vector<std::string> args{
          "redis-server", "--port", tls_ ? "0" : port, "--bind", "127.0.0.1", "--dir", dir_.path,
          "--save",       "",       "--loglevel",      "warning"};
      if (tls_) args.insert(args.end(), {"--tls-port", port});
      args.insert(args.end(), extra_.begin(), extra_.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp("redis-server", argv.data());
      _exit(127);
    }
    for (int i = 0; i < 200 && !accepting(); ++i) usleep(10'000);
    if (!accepting()) throw std::runtime_error("redis-server did not start");
  }
  // Stops and resumes the process (SIGSTOP, SIGCONT): a server that stalls.
  void pause() { kill(pid_, SIGSTOP); }
  void resume() { kill(pid_, SIGCONT); }
  const fs::path& dir() const { return dir_.path; }

  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }
  int port() const { return port_; }

  // The one server the conformance suite shares (each backend uses its own key prefix).
  static RedisServer& shared() {
    static RedisServer server;
    return server;
  }

 private:
  static int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
  }
  bool accepting() const {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    return ok;
  }

  TempDir dir_;
  std::vector<std::string> extra_;
  bool tls_ = false;
  int port_ = 0;
  pid_t pid_ = 0;
};

// Waits (up to 10 s) until `ready` holds; whether it did.
template <typename Predicate>
bool eventually(Predicate ready) {
  for (int i = 0; i < 1000; ++i) {
    if (ready()) return true;
    usleep(10'000);
  }
  return ready();
}

// The reply to one command sent to the Redis on `port` over a connection of the test's own: its
// string or integer, or its elements.
inline std::vector<std::string> redis_reply(int port, const std::vector<std::string>& args) {
  redisContext* c = redisConnect("127.0.0.1", port);
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  std::vector<std::string> out;
  const auto text = [](const redisReply* e) {
    return e->type == REDIS_REPLY_INTEGER ? std::to_string(e->integer)
                                          : std::string(e->str ? e->str : "", e->len);
  };
  if (r && r->type == REDIS_REPLY_ARRAY)
    for (std::size_t i = 0; i < r->elements; ++i) out.push_back(text(r->element[i]));
  else if (r)
    out.push_back(text(r));
  if (r) freeReplyObject(r);
  redisFree(c);
  return out;
}

// The string or integer a command answers ("" for none).
inline std::string redis_command(int port, const std::vector<std::string>& args) {
  auto reply = redis_reply(port, args);
  return reply.empty() ? std::string() : reply.front();
}

// 8 threads on each of two sidecars (enforcers sharing a budget), each calling f(enforcer, i)
// for i in 0..19; returns once all are done.
template <typename F>
void on_two_sidecars(budget::Enforcer& a, budget::Enforcer& b, F f) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t)
    threads.emplace_back([&, t] {
      budget::Enforcer& e = t % 2 ? a : b;
      for (int i = 0; i < 20; ++i) f(e, i);
    });
  for (auto& th : threads) th.join();
}

// A spend breaker on usd: open when more than `limit` settled within `window`, for `cooldown`.
inline rules::BreakerConfig spend_breaker(
    const std::string& name, std::int64_t limit, std::chrono::milliseconds cooldown,
    bool shared = false, std::chrono::milliseconds window = std::chrono::hours(1)) {
  rules::BreakerConfig b;
  b.name = name;
  b.currency = "usd";
  b.limit = limit;
  b.window = window;
  b.cooldown = cooldown;
  b.shared = shared;
  return b;
}

// A rate limit of `requests` per `window` (tokens: set .tokens on the result instead).
inline rules::RateLimitConfig rate_limit(const std::string& name, std::int64_t requests,
                                         std::chrono::milliseconds window, bool shared = false) {
  rules::RateLimitConfig l;
  l.name = name;
  if (requests > 0) l.requests = requests;
  l.window = window;
  l.shared = shared;
  return l;
}

inline std::shared_ptr<rules::Config> redis_config(std::shared_ptr<rules::Config> config,
                                                   const std::string& url) {
  static std::atomic<int> n{0};
  config->store.type = rules::StoreConfig::Type::redis;
  config->store.redis.url = url;
  config->store.redis.prefix =
      "test" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ":";
  return config;
}

// A store backend for the conformance suite: opens an enforcer on the same storage each time.
struct Backend {
  std::string name;
  std::unique_ptr<TempDir> dir;
  mutable std::string prefix;  // redis: the same keys each time this backend is opened

  std::unique_ptr<budget::Enforcer> open(std::shared_ptr<rules::Config> config,
                                         budget::Clock& clock) const {
    // Where the receipts key and, with Redis, the records of this process live.
    config->data_dir = dir->path.string();
    if (name == "redis") {
      if (prefix.empty())
        prefix = redis_config(config, RedisServer::shared().url())->store.redis.prefix;
      config->store.type = rules::StoreConfig::Type::redis;
      config->store.redis.url = RedisServer::shared().url();
      config->store.redis.prefix = prefix;
    } else if (name == "sqlite") {
      config->store.type = rules::StoreConfig::Type::sqlite;
      config->store.path = (dir->path / "ledger.db").string();
    } else {
      config->store.type = rules::StoreConfig::Type::memory;
    }
    return budget::make_enforcer(config, clock);
  }
};

inline Backend backend(const std::string& name) {
  return Backend{name, std::make_unique<TempDir>(), ""};
}

// The stores a TEST_CASE_TEMPLATE runs over: backend(T::name).
struct Memory {
  static constexpr const char* name = "memory";
};
struct Sqlite {
  static constexpr const char* name = "sqlite";
};
struct Redis {
  static constexpr const char* name = "redis";
};

// Waits for the one callback of an asynchronous call and returns what it was given.
template <typename T>
T await_callback(std::function<void(std::function<void(T)>)> call) {
  std::promise<T> p;
  auto f = p.get_future();
  call([&p](T value) { p.set_value(std::move(value)); });
  return f.get();
}

// A cost record of random provider, endpoint, model, client, key, budgets, currency, outcome and
// amounts at `at`, for reports checked against a sum over the records.
inline budget::CostRecord random_record(std::mt19937& random, std::int64_t at) {
  static const char* models[] = {"gpt-4o", "gpt-4o-mini", "claude-haiku"};
  static const char* clients[] = {"team-a", "team-b", ""};
  budget::CostRecord r;
  r.id = budget::new_record_id();
  r.at = at;
  r.provider = random() % 4 ? "openai" : "anthropic";
  r.endpoint = random() % 3 ? "chat" : "responses";
  r.model = models[random() % 3];
  r.client = clients[random() % 3];
  r.credential = random() % 2 ? "k1" : "k2";
  const int budgets = static_cast<int>(random() % 3);
  if (budgets > 0) r.budgets.push_back("daily");
  if (budgets > 1) r.budgets.push_back("per-client/" + r.client);
  r.currency = random() % 5 ? "usd" : "eur";
  r.estimate = 1000 + random() % 5000;
  r.outcome = random() % 6 ? budget::RecordOutcome::complete : budget::RecordOutcome::refused;
  r.actual = r.outcome == budget::RecordOutcome::refused ? 0 : random() % 4000;
  r.usage = {{"input", random() % 900}, {"output", random() % 100}};
  return r;
}

}  // namespace budget_test
