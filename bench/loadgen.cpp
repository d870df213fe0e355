// tollgate benchmark load generator: the same client for direct calls, tollgate, squid and
// tinyproxy. Prints one `key=value` line per run for bench/run.sh.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <string>

#include "bench/loadgen_connection.hpp"
#include "bench/loadgen_options.hpp"
#include "bench/loadgen_stats.hpp"

namespace bench {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t ns_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
}

void rethrow(const std::exception_ptr& e) {
  if (e) std::rethrow_exception(e);
}

// What every workload counts; printed in front of its own numbers.
struct Tally {
  std::uint64_t ok = 0;      // 200 responses
  std::uint64_t non200 = 0;  // complete responses with another status
  std::uint64_t errors = 0;  // connections ended by a transport or protocol error
  std::string first_error;

  void fail(const std::string& what) {
    if (errors++ == 0) first_error = what;
  }
  void count(const ExchangeResult& r) {
    if (!r.ok) return fail(r.error);
    if (r.status == 200)
      ++ok;
    else if (non200++ == 0 && first_error.empty())
      first_error = "status " + std::to_string(r.status);
  }
  std::string line() const {
    return "ok=" + std::to_string(ok) + " non200=" + std::to_string(non200) +
           " errors=" + std::to_string(errors);
  }
};

class Runner {
 public:
  explicit Runner(const Options& options)
      : options_(options), tls_(asio::ssl::context::tls_client) {
    if (!options_.cafile.empty()) tls_.load_verify_file(options_.cafile);
    // Intercepting proxies speak HTTP/1.1 to clients (DESIGN §1); offer only that, like curl
    // --http1.1.
    static const unsigned char k_alpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(tls_.native_handle(), k_alpn, sizeof k_alpn - 1);
    remaining_ = options_.requests;
  }

  int run() {
    const auto start = Clock::now();
    switch (options_.workload) {
      case Workload::load:
      case Workload::sse:
        for (unsigned i = 0; i < options_.connections; ++i) spawn(stream_requests());
        break;
      case Workload::idle:
        for (unsigned i = 0; i < options_.open_concurrency; ++i) spawn(open_idle());
        break;
      case Workload::first:
        spawn(first_requests());
        break;
    }
    io_.run();
    const double seconds = ns_since(start) / 1e9;
    if (options_.workload == Workload::idle) return 0;  // printed by hold()
    std::printf("%s seconds=%.3f rps=%.1f %s", tally_.line().c_str(), seconds,
                (tally_.ok + tally_.non200) / seconds, latency_.summary("").c_str());
    if (options_.workload == Workload::sse) {
      std::printf(" events=%zu %s", events_.count(), events_.summary("event_").c_str());
    }
    if (options_.workload == Workload::first) {
      std::printf(" %s", warm_.summary("warm_").c_str());
    }
    std::printf(" first_error=\"%s\"\n", tally_.first_error.c_str());
    return tally_.errors == 0 && tally_.non200 == 0 ? 0 : 1;
  }

 private:
  template <class Awaitable>
  void spawn(Awaitable&& a) {
    asio::co_spawn(io_, std::forward<Awaitable>(a), rethrow);
  }

  std::unique_ptr<Connection> connection() {
    return std::make_unique<Connection>(io_.get_executor(), tls_, options_);
  }

  asio::awaitable<void> stream_requests() {
    auto conn = connection();
    if (auto err = co_await conn->open(options_.target, options_.sni); !err.empty()) {
      tally_.fail(err);
      co_return;
    }
    const Request request = make_request(options_, options_.sni, options_.target);
    std::vector<std::int64_t> delays;
    while (remaining_ > 0) {
      --remaining_;
      const auto t0 = Clock::now();
      // Not a conditional expression: GCC 12 miscompiles co_await inside `?:`.
      ExchangeResult result;
      if (options_.workload == Workload::sse) {
        result = co_await conn->exchange_sse(request, delays);
      } else {
        result = co_await conn->exchange(request);
      }
      latency_.add(ns_since(t0));
      tally_.count(result);
      // Events that arrived count even when the stream then fails.
      for (auto d : delays) events_.add(d);
      delays.clear();
      if (!result.ok) co_return;
    }
  }

  asio::awaitable<void> open_idle() {
    const Request request = make_request(options_, options_.sni, options_.target);
    while (next_ < options_.connections) {
      ++next_;
      auto conn = connection();
      if (auto err = co_await conn->open(options_.target, options_.sni); !err.empty()) {
        tally_.fail(err);
        continue;
      }
      const auto result = co_await conn->exchange(request);
      tally_.count(result);
      if (result.ok) held_.push_back(std::move(conn));
    }
    if (++idle_workers_done_ == options_.open_concurrency) co_await hold();
  }

  asio::awaitable<void> hold() {
    std::printf("held=%zu %s first_error=\"%s\"\n", held_.size(), tally_.line().c_str(),
                tally_.first_error.c_str());
    std::fflush(stdout);
    asio::steady_timer timer(
        io_, std::chrono::milliseconds(static_cast<std::int64_t>(options_.hold_seconds * 1000)));
    co_await timer.async_wait(asio::use_awaitable);
    held_.clear();
  }

  // A cold connection to each new host (the proxy mints its certificate), then a warm one.
  asio::awaitable<void> first_requests() {
    for (const auto& host : options_.hosts) {
      const std::string target = host + ":" + std::to_string(options_.target_port);
      const Request request = make_request(options_, host, target);
      for (Stats* stats : {&latency_, &warm_}) {
        const auto t0 = Clock::now();
        auto conn = connection();
        if (auto err = co_await conn->open(target, host); !err.empty()) {
          tally_.fail(err);
          break;
        }
        const auto result = co_await conn->exchange(request);
        stats->add(ns_since(t0));
        tally_.count(result);
      }
    }
  }

  const Options& options_;
  asio::io_context io_{1};
  asio::ssl::context tls_;
  std::uint64_t remaining_ = 0;
  unsigned next_ = 0;
  unsigned idle_workers_done_ = 0;
  Tally tally_;
  Stats latency_;  // per request; in `first`, the cold connections
  Stats warm_;     // `first`: the second connection to the same host
  Stats events_;   // `sse`: upstream write to client read, per event
  std::vector<std::unique_ptr<Connection>> held_;
};

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  const auto options = bench::parse_options(argc, argv);
  try {
    return bench::Runner(options).run();
  } catch (const std::exception& e) {
    std::cerr << "loadgen: " << e.what() << "\n";
    return 2;
  }
}
