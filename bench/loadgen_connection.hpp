#pragma once
// One client connection of the load generator: dial, optional CONNECT, verified TLS (ALPN
// http/1.1), then keep-alive HTTP/1.1 exchanges. The first error ends the connection.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/loadgen_options.hpp"

namespace bench {

namespace asio = boost::asio;
namespace http = boost::beast::http;

using Request = http::request<http::string_body>;

struct ExchangeResult {
  bool ok = false;      // transport fine and a complete response read
  unsigned status = 0;  // HTTP status when ok
  std::string error;    // what failed otherwise
};

class Connection {
 public:
  Connection(asio::any_io_executor executor, asio::ssl::context& tls_context,
             const Options& options);

  // Dials options.dial; for Via::connect sends CONNECT `target`; for TLS verifies `sni`.
  asio::awaitable<std::string> open(const std::string& target, const std::string& sni);

  // Writes the request and reads the whole response.
  asio::awaitable<ExchangeResult> exchange(const Request& request);

  // Writes the request and reads an SSE response as it arrives; for every event that carries
  // "x_sent_ns":N (CLOCK_MONOTONIC at the upstream's write), appends now - N to delays_ns.
  asio::awaitable<ExchangeResult> exchange_sse(const Request& request,
                                               std::vector<std::int64_t>& delays_ns);

 private:
  template <class Stream>
  asio::awaitable<ExchangeResult> exchange_on(Stream& stream, const Request& request);
  template <class Stream>
  asio::awaitable<ExchangeResult> exchange_sse_on(Stream& stream, const Request& request,
                                                  std::vector<std::int64_t>& delays_ns);

  const Options& options_;
  asio::ssl::stream<asio::ip::tcp::socket> stream_;
  boost::beast::flat_buffer buffer_;
};

// Builds the request every workload sends: Host names `host` (and the port of the CONNECT
// `authority` when it is not 443); absolute-form for Via::plain; for Via::base_url the base
// URL's path before options.path, as an SDK with that base URL writes it.
Request make_request(const Options& options, const std::string& host, const std::string& authority);

}  // namespace bench
