#include "proxy/worker.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proxy/access_log.hpp"
#include "proxy/client_session.hpp"

namespace proxy {

using namespace net;

Worker::Worker(SharedEnv& shared)
    : acceptor_(io_), env_{shared, UpstreamPool(io_.get_executor(), shared.upstream_tls), {}, {}} {}

Worker::~Worker() { stop(); }

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
  asio::co_spawn(io_, accept_loop(), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  thread_ = std::thread([this] { io_.run(); });
}

asio::awaitable<void> Worker::accept_loop() {
  while (acceptor_.is_open()) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      // Out of descriptors and the like: back off instead of spinning.
      asio::steady_timer pause(io_, std::chrono::milliseconds(50));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    asio::co_spawn(io_, serve_client(std::move(socket), env_), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        log_warning(std::string("connection ended by an exception: ") + x.what());
      }
    });
  }
}

void Worker::drain() {
  asio::post(io_, [this] {
    error_code ignored;
    acceptor_.close(ignored);
    for (auto* stream : env_.idle) stream->socket().close(ignored);
    env_.idle.clear();
    env_.pool.clear();
  });
}

void Worker::stop() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace proxy
