#include "telemetry/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "util/url.hpp"

namespace proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

}  // namespace

struct HttpClient::Impl {
  asio::ssl::context tls{asio::ssl::context::tls_client};
};

HttpClient::HttpClient(const std::string& trust) : impl_(std::make_unique<Impl>()) {
  impl_->tls.set_verify_mode(asio::ssl::verify_peer);
  if (trust.empty() || trust == "system")
    impl_->tls.set_default_verify_paths();
  else
    impl_->tls.load_verify_file(trust);
}

HttpClient::~HttpClient() = default;

HttpAnswer HttpClient::request(std::string_view method, const std::string& url,
                               const std::string& body, std::chrono::seconds timeout) const {
  HttpAnswer answer;
  std::string problem;
  const auto parsed = util::parse_url(url, &problem);
  if (!parsed || (parsed->scheme != "http" && parsed->scheme != "https")) {
    answer.error = "not an http(s) URL: " + url + (problem.empty() ? "" : " (" + problem + ")");
    return answer;
  }
  const bool https = parsed->scheme == "https";
  const std::string& host = parsed->authority.host;
  const auto port = parsed->port_or(https ? 443 : 80);

  asio::io_context io;
  tcp::resolver resolver(io);
  beast::error_code ec;
  const auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec) {
    answer.error = "resolving " + host + ": " + ec.message();
    return answer;
  }
  http::request<http::string_body> req{http::string_to_verb(method), parsed->target(), 11};
  req.set(http::field::host, port == (https ? 443 : 80) ? host : host + ":" + std::to_string(port));
  req.set(http::field::user_agent, "tollgate");
  req.set(http::field::accept, "application/json");
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  http::response<http::string_body> res;
  beast::flat_buffer buffer;
  const auto exchange = [&](auto& stream) {
    beast::get_lowest_layer(stream).expires_after(timeout);
    http::write(stream, req, ec);
    if (ec) {
      answer.error = "sending " + std::string(method) + ": " + ec.message();
      return;
    }
    beast::get_lowest_layer(stream).expires_after(timeout);
    http::read(stream, buffer, res, ec);
    if (ec) {
      answer.error = "reading the answer: " + ec.message();
      return;
    }
    answer.status = res.result_int();
    answer.body = std::move(res.body());
  };
  if (!https) {
    beast::tcp_stream stream(io);
    stream.expires_after(timeout);
    stream.connect(endpoints, ec);
    if (ec) {
      answer.error = "connecting to " + host + ": " + ec.message();
      return answer;
    }
    exchange(stream);
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    return answer;
  }
  beast::ssl_stream<beast::tcp_stream> stream(io, impl_->tls);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), host.c_str())) {
    answer.error = "bad host name for TLS: " + host;
    return answer;
  }
  SSL_set1_host(stream.native_handle(), host.c_str());
  beast::get_lowest_layer(stream).expires_after(timeout);
  beast::get_lowest_layer(stream).connect(endpoints, ec);
  if (!ec) stream.handshake(asio::ssl::stream_base::client, ec);
  if (ec) {
    answer.error = "connecting to " + host + " over TLS: " + ec.message();
    return answer;
  }
  exchange(stream);
  return answer;
}

}  // namespace proxy
