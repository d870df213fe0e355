#include "proxy/worker.hpp"

#include <malloc.h>

#include <algorithm>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "budget/store/sqlite_journal.hpp"
#include "proxy/client_session.hpp"
#include "telemetry/access_log.hpp"
#include "util/heap.hpp"
#include "util/thread_name.hpp"

namespace proxy {

using namespace net;

Worker::Worker(SharedEnv& shared)
    : acceptor_(accept_io_),
      env_{shared, UpstreamPool(io_.get_executor(), shared.upstream_tls), {}, {}} {}

Worker::~Worker() {
  stop();
}

std::uint16_t Worker::listen(const std::string& address, std::uint16_t port) {
  const tcp::endpoint endpoint(asio::ip::make_address(address), port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  const int one = 1;
  // SO_REUSEPORT: every worker binds the same port and the kernel spreads connections.
  if (::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    throw boost::system::system_error(error_code(errno, boost::system::system_category()),
                                      "SO_REUSEPORT");
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  return acceptor_.local_endpoint().port();
}

void Worker::start() {
  asio::co_spawn(accept_io_, accept_loop(), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  asio::co_spawn(io_, trim_loop(), asio::detached);
  accept_thread_ = std::thread([this] {
    util::name_thread("tg-accept");
    accept_io_.run();
  });
  thread_ = std::thread([this] {
    util::name_thread("tg-worker");
    // One turn = the handlers ready now (at most k_turn, so that a busy loop cannot hold a
    // wake-up back for long). The ledger writes they make share one wake-up of the SQLite
    // journal's writer thread, and so one commit, instead of one wake-up per write.
    constexpr int k_turn = 64;
    budget::defer_journal_wakeups(true);
    while (io_.run_one() > 0) {
      for (int i = 1; i < k_turn && io_.poll_one() > 0; ++i) {
      }
      budget::flush_journal_wakeups();
    }
    budget::defer_journal_wakeups(false);
  });
}

asio::awaitable<void> Worker::accept_loop() {
  while (acceptor_.is_open()) {
    // The socket belongs to the worker's io_context; its reactor state is allocated here.
    auto [ec, socket] = co_await acceptor_.async_accept(io_, use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      // Out of descriptors and the like: back off instead of spinning.
      asio::steady_timer pause(accept_io_, std::chrono::milliseconds(50));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    // The connection's coroutine frame is made on the worker thread, with the rest of it.
    asio::post(io_, [this, socket = std::move(socket)]() mutable {
      asio::co_spawn(io_, serve_client(std::move(socket), env_), [](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          log_warning(std::string("connection ended by an exception: ") + x.what());
        }
      });
    });
  }
}

// Gives memory back to the system after a burst of connections has closed. Each connection's
// TLS state, buffers and coroutine frames are allocated and freed on this thread, from its
// malloc arena; glibc returns only the top of an arena by itself (M_TRIM_THRESHOLD), so after
// 10,000 connections close the freed chunks below live ones stay resident (766 MiB after the
// bench's idle test). malloc_trim(0) releases every whole free page of every arena
// (MADV_DONTNEED). It walks the arenas (a few milliseconds for a large heap), so it runs only
// when the bytes sitting free in the arenas grew by k_trim_growth since the last trim, checked
// every k_trim_every. Tuning M_TRIM_THRESHOLD would not help (fragmentation, not the top chunk,
// keeps the pages), and capping M_ARENA_MAX would make workers contend for arenas without
// lowering the peak.
// jemalloc (the tollgate binary's heap) gives free pages back by itself, its background thread
// purging them a second after they are freed (app/main.cpp, malloc_conf): the loop then only
// waits. (It also keeps the worker's io_context running until drain(), as before.)
asio::awaitable<void> Worker::trim_loop() {
#if defined(__SANITIZE_ADDRESS__)
  const bool trims = false;  // ASan's own heap: glibc's arena statistics (mallinfo2) do not apply
#else
  const bool trims = !util::jemalloc_heap();
#endif
  constexpr std::size_t k_trim_growth = std::size_t{32} << 20;
  constexpr auto k_trim_every = std::chrono::seconds(2);
  asio::steady_timer timer(io_);
  std::size_t free_after_trim = 0;
  while (accepting_) {
    timer.expires_after(k_trim_every);
    auto [ec] = co_await timer.async_wait(use_tuple);
    if (ec) co_return;
    if (!trims) continue;
    const std::size_t free_now = ::mallinfo2().fordblks;
    if (free_now > free_after_trim + k_trim_growth) {
      util::release_free_memory();
      free_after_trim = ::mallinfo2().fordblks;
    } else {
      free_after_trim = std::min(free_after_trim, free_now);
    }
  }
}

void Worker::drain() {
  accepting_ = false;
  asio::post(accept_io_, [this] {
    error_code ignored;
    acceptor_.close(ignored);
  });
  asio::post(io_, [this] {
    error_code ignored;
    for (auto& mark : env_.idle) mark.stream->socket().close(ignored);
    env_.idle.clear();
    env_.pool.clear();
  });
}

void Worker::stop() {
  accept_io_.stop();
  if (accept_thread_.joinable()) accept_thread_.join();
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace proxy
