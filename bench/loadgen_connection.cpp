#include "bench/loadgen_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>
#include <chrono>
#include <string_view>

namespace bench {
namespace {

constexpr auto k_use = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view k_sent_key = "\"x_sent_ns\":";

std::int64_t monotonic_ns() {
  // steady_clock is CLOCK_MONOTONIC on Linux, the clock sse_upstream.py stamps events with.
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::pair<std::string, std::string> split_host_port(const std::string& authority) {
  const auto colon = authority.rfind(':');
  if (colon == std::string::npos) return {authority, "443"};
  return {authority.substr(0, colon), authority.substr(colon + 1)};
}

// Takes every complete event ("\n\n"-terminated) off the front of `pending` and records its delay.
void drain_events(std::string& pending, std::int64_t now, std::vector<std::int64_t>& delays_ns) {
  std::size_t start = 0;
  for (auto end = pending.find("\n\n"); end != std::string::npos;
       end = pending.find("\n\n", start)) {
    const std::string_view event(pending.data() + start, end - start);
    if (const auto key = event.find(k_sent_key); key != std::string_view::npos) {
      const char* first = event.data() + key + k_sent_key.size();
      std::int64_t sent = 0;
      if (std::from_chars(first, event.data() + event.size(), sent).ec == std::errc{}) {
        delays_ns.push_back(now - sent);
      }
    }
    start = end + 2;
  }
  pending.erase(0, start);
}

}  // namespace

Connection::Connection(asio::any_io_executor executor, asio::ssl::context& tls_context,
                       const Options& options)
    : options_(options), stream_(executor, tls_context) {}

asio::awaitable<std::string> Connection::open(const std::string& target, const std::string& sni) {
  auto& socket = stream_.next_layer();
  const auto [host, port] = split_host_port(options_.dial);
  asio::ip::tcp::resolver resolver(socket.get_executor());
  auto [rec, endpoints] = co_await resolver.async_resolve(host, port, k_use);
  if (rec) co_return "resolve " + options_.dial + ": " + rec.message();
  auto [cec, endpoint] = co_await asio::async_connect(socket, endpoints, k_use);
  if (cec) co_return "connect " + options_.dial + ": " + cec.message();
  socket.set_option(asio::ip::tcp::no_delay(true));
  if (plain_http(options_)) co_return "";

  if (options_.via == Via::connect) {
    const std::string hello = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n";
    auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(hello), k_use);
    if (wec) co_return "write CONNECT: " + wec.message();
    std::string reply;
    auto [rec2, rn] =
        co_await asio::async_read_until(socket, asio::dynamic_buffer(reply), "\r\n\r\n", k_use);
    if (rec2) co_return "read CONNECT reply: " + rec2.message();
    if (reply.compare(8, 5, " 200 ") != 0 && reply.compare(8, 5, " 200\r") != 0) {
      co_return "CONNECT refused: " + reply.substr(0, reply.find('\r'));
    }
    // A proxy never sends bytes after its CONNECT reply before the client speaks TLS.
    if (rn != reply.size()) co_return "CONNECT reply followed by unexpected bytes";
  }

  SSL* ssl = stream_.native_handle();
  SSL_set_tlsext_host_name(ssl, sni.c_str());
  stream_.set_verify_mode(asio::ssl::verify_peer);
  stream_.set_verify_callback(asio::ssl::host_name_verification(sni));
  auto [hec] = co_await stream_.async_handshake(asio::ssl::stream_base::client, k_use);
  if (hec) co_return "TLS handshake with " + sni + ": " + hec.message();
  co_return "";
}

template <class Stream>
asio::awaitable<ExchangeResult> Connection::exchange_on(Stream& stream, const Request& request) {
  auto [wec, wn] = co_await http::async_write(stream, request, k_use);
  if (wec) co_return ExchangeResult{false, 0, "write: " + wec.message()};
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  auto [rec, rn] = co_await http::async_read(stream, buffer_, parser, k_use);
  if (rec) co_return ExchangeResult{false, 0, "read: " + rec.message()};
  co_return ExchangeResult{true, parser.get().result_int(), ""};
}

template <class Stream>
asio::awaitable<ExchangeResult> Connection::exchange_sse_on(Stream& stream, const Request& request,
                                                            std::vector<std::int64_t>& delays_ns) {
  auto [wec, wn] = co_await http::async_write(stream, request, k_use);
  if (wec) co_return ExchangeResult{false, 0, "write: " + wec.message()};
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  auto [hec, hn] = co_await http::async_read_header(stream, buffer_, parser, k_use);
  if (hec) co_return ExchangeResult{false, 0, "read header: " + hec.message()};
  std::string pending;
  char chunk[16384];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    // read_some returns as soon as one read has been parsed: events are timed when they arrive.
    auto [ec, n] = co_await http::async_read_some(stream, buffer_, parser, k_use);
    if (ec && ec != http::error::need_buffer) {
      co_return ExchangeResult{false, 0, "read body: " + ec.message()};
    }
    const auto got = sizeof chunk - parser.get().body().size;
    if (got == 0) continue;
    pending.append(chunk, got);
    drain_events(pending, monotonic_ns(), delays_ns);
  }
  co_return ExchangeResult{true, parser.get().result_int(), ""};
}

asio::awaitable<ExchangeResult> Connection::exchange(const Request& request) {
  if (plain_http(options_)) co_return co_await exchange_on(stream_.next_layer(), request);
  co_return co_await exchange_on(stream_, request);
}

asio::awaitable<ExchangeResult> Connection::exchange_sse(const Request& request,
                                                         std::vector<std::int64_t>& delays_ns) {
  if (plain_http(options_)) {
    co_return co_await exchange_sse_on(stream_.next_layer(), request, delays_ns);
  }
  co_return co_await exchange_sse_on(stream_, request, delays_ns);
}

Request make_request(const Options& options, const std::string& host,
                     const std::string& authority) {
  // A bumping proxy (squid) routes by the Host header, so it names the CONNECT port when not 443.
  std::string host_header = host;
  if (options.via == Via::connect && authority.find(':') != std::string::npos &&
      !authority.ends_with(":443")) {
    host_header = host + authority.substr(authority.rfind(':'));
  }
  std::string target = options.path;
  if (options.via == Via::plain) target = "http://" + host + options.path;
  if (options.via == Via::base_url) target = options.base_path + options.path;
  Request request{http::string_to_verb(options.method), target, 11};
  request.set(http::field::host, host_header);
  request.set(http::field::user_agent, "tollgate-loadgen");
  request.set(http::field::authorization, "Bearer sk-bench-not-a-secret");
  if (!options.body.empty() || options.method == "POST") {
    request.set(http::field::content_type, "application/json");
    request.body() = options.body;
  }
  request.prepare_payload();
  request.keep_alive(true);
  return request;
}

}  // namespace bench
