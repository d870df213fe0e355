#include "admin/admin_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <thread>
#include <vector>

#include "admin/admin_http.hpp"
#include "admin/event_streamer.hpp"
#include "telemetry/budget_metrics.hpp"
#include "util/thread_name.hpp"

namespace proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto k_tuple = asio::as_tuple(asio::use_awaitable);
constexpr auto k_io_timeout = std::chrono::seconds(30);
// Two threads: a mutation waits for the store to make it durable; /healthz and /metrics must
// still answer meanwhile. Each connection is one coroutine, so it needs no strand.
constexpr int k_threads = 2;

bool is_event_stream(const http::request<http::string_body>& req) {
  const std::string_view target = req.target();
  return req.method() == http::verb::get &&
         target.substr(0, target.find('?')) == k_event_stream_path;
}

}  // namespace

struct AdminServer::Impl {
  AdminOptions options;
  ConfigHolder& holder;
  budget::Enforcer& enforcer;
  AuditLog audit;
  AdminRoutes routes;
  EventStreamer streamer;
  // Declared after routes and streamer: destroying the io_context destroys the connection
  // coroutines, which use them.
  asio::io_context io{k_threads};
  tcp::acceptor acceptor{io};
  std::vector<std::thread> threads;

  Impl(AdminOptions o, ConfigHolder& holder, budget::Enforcer& e, Reloader& reloader,
       std::function<bool()> proxy_ready)
      : options(std::move(o)),
        holder(holder),
        enforcer(e),
        audit(options.audit_log_path),
        routes(options.token, holder, e, reloader, audit, std::move(proxy_ready)),
        streamer(routes, e, k_max_event_streams, options.event_stream_keep_alive) {}

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(k_tuple);
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) {
        spdlog::warn("admin: accept failed: {}", ec.message());
        continue;
      }
      // On a strand of its own: an event stream's wake-ups are posted to it from other threads.
      asio::co_spawn(asio::make_strand(io), serve(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    std::string caller;
    boost::system::error_code peer_ec;
    const auto peer = socket.remote_endpoint(peer_ec);
    if (!peer_ec) caller = peer.address().to_string() + ":" + std::to_string(peer.port());
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      // A fresh parser per request: its body limit answers 413 before reading a huge body.
      http::request_parser<http::string_body> parser;
      parser.body_limit(k_admin_body_limit);
      stream.expires_after(k_io_timeout);
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, k_tuple);
      if (ec == http::error::body_limit) {
        auto res = to_http(admin_error(413, "request body larger than 1 MiB"), 11, false);
        stream.expires_after(k_io_timeout);
        co_await http::async_write(stream, res, k_tuple);
        break;
      }
      if (ec) break;  // closed, timed out or malformed: nothing useful to answer
      auto& req = parser.get();
      AdminRequest request{std::string(req.method_string()), std::string(req.target()),
                           std::string(req[http::field::authorization]), std::move(req.body()),
                           caller};
      if (is_event_stream(req)) {  // the connection is the stream's until it ends
        co_await streamer.serve(stream, request, req["Last-Event-ID"], req.version());
        break;
      }
      auto res = to_http(routes.handle(request), req.version(), req.keep_alive());
      stream.expires_after(k_io_timeout);
      auto [wec, written] = co_await http::async_write(stream, res, k_tuple);
      if (wec || !res.keep_alive()) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
};

AdminServer::AdminServer(AdminOptions options, ConfigHolder& holder, budget::Enforcer& enforcer,
                         Reloader& reloader, std::function<bool()> proxy_ready)
    : impl_(std::make_unique<Impl>(std::move(options), holder, enforcer, reloader,
                                   std::move(proxy_ready))) {}

AdminServer::~AdminServer() {
  stop();
}

AdminRoutes& AdminServer::routes() {
  return impl_->routes;
}

std::uint16_t AdminServer::start() {
  auto& impl = *impl_;
  // Resolved, so that admin.listen may name a host ("localhost:9090"); the first answer wins.
  tcp::resolver resolver(impl.io);
  const tcp::endpoint endpoint =
      resolver
          .resolve(impl.options.listen.host, std::to_string(impl.options.listen.port),
                   tcp::resolver::numeric_service | tcp::resolver::passive)
          .begin()
          ->endpoint();
  impl.acceptor.open(endpoint.protocol());
  impl.acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl.acceptor.bind(endpoint);
  impl.acceptor.listen();
  install_budget_metrics(Metrics::instance(), impl.enforcer,
                         [&holder = impl.holder] { return holder.get(); });
  asio::co_spawn(impl.io, impl.accept_loop(), asio::detached);
  for (int i = 0; i < k_threads; ++i)
    impl.threads.emplace_back([&impl] {
      util::name_thread("tg-admin");
      impl.io.run();
    });
  return impl.acceptor.local_endpoint().port();
}

void AdminServer::stop() {
  auto& impl = *impl_;
  if (impl.threads.empty()) return;
  impl.streamer.close();
  impl.io.stop();
  for (auto& thread : impl.threads) thread.join();
  impl.threads.clear();
  // The threads are gone: closing here cannot race it, and the port is released at once.
  boost::system::error_code ignored;
  impl.acceptor.close(ignored);
  clear_budget_metrics(Metrics::instance());
}

}  // namespace proxy
