#include "admin/status_command.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct AdminUrl {
  std::string host, port, base;  // base: path prefix without a trailing '/'
};

std::optional<AdminUrl> parse_admin_url(std::string_view url) {
  constexpr std::string_view k_scheme = "http://";
  if (!url.starts_with(k_scheme)) return std::nullopt;
  url.remove_prefix(k_scheme.size());
  const auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  AdminUrl out;
  if (slash != std::string_view::npos) out.base = std::string(url.substr(slash));
  while (!out.base.empty() && out.base.back() == '/') out.base.pop_back();
  std::string_view host = authority, port = "80";
  if (authority.starts_with("[")) {  // [::1]:9090
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      port = authority.substr(close + 2);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty() || port.empty() ||
      port.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  out.host = std::string(host);
  out.port = std::string(port);
  return out;
}

// GET base+path on one keep-alive connection; the body of a 200, else an error message.
struct Fetched {
  bool ok = false;
  std::string text;  // body, or the reason it failed
};

Fetched get(beast::tcp_stream& stream, const AdminUrl& url, const std::string& path) {
  http::request<http::empty_body> req{http::verb::get, url.base + path, 11};
  req.set(http::field::host, url.host + ":" + url.port);
  req.set(http::field::user_agent, "tollgate-status");
  req.set(http::field::accept, "application/json");
  req.keep_alive(true);
  beast::error_code ec;
  stream.expires_after(std::chrono::seconds(10));
  http::write(stream, req, ec);
  if (ec) return {false, "sending GET " + path + ": " + ec.message()};
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  stream.expires_after(std::chrono::seconds(10));
  http::read(stream, buffer, res, ec);
  if (ec) return {false, "reading the answer to GET " + path + ": " + ec.message()};
  if (res.result() != http::status::ok)
    return {false,
            "GET " + path + " answered " + std::to_string(res.result_int()) + ": " + res.body()};
  return {true, std::move(res.body())};
}

}  // namespace

int status_command(const std::string& admin_url, bool json, std::ostream& out, std::ostream& err) {
  const auto url = parse_admin_url(admin_url);
  if (!url) {
    err << "status: the admin URL must look like http://127.0.0.1:9090, got '" << admin_url
        << "'\n";
    return 2;
  }
  asio::io_context io;
  beast::tcp_stream stream(io);
  beast::error_code ec;
  tcp::resolver resolver(io);
  const auto endpoints = resolver.resolve(url->host, url->port, ec);
  if (!ec) {
    stream.expires_after(std::chrono::seconds(5));
    stream.connect(endpoints, ec);
  }
  if (ec) {
    err << "status: cannot reach the admin API at " << admin_url << ": " << ec.message()
        << " (is tollgate running? see admin.listen)\n";
    return 1;
  }
  const auto budgets = get(stream, *url, "/v1/budgets");
  if (!budgets.ok) {
    err << "status: " << budgets.text << "\n";
    return 1;
  }
  const auto balances = get(stream, *url, "/v1/balances");
  if (!balances.ok) {
    err << "status: " << balances.text << "\n";
    return 1;
  }
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  if (json) {
    // Both bodies are objects: merge {"budgets":[...]} and {"balances":[...]} textually.
    const auto& b = budgets.text;
    const auto& l = balances.text;
    const auto b_end = b.rfind('}');
    const auto l_start = l.find('{');
    if (b_end == std::string::npos || l_start == std::string::npos) {
      err << "status: the admin API answered something that is not JSON\n";
      return 1;
    }
    out << b.substr(0, b_end) << "," << l.substr(l_start + 1) << "\n";
    return 0;
  }
  const auto table =
      format_status_table(budgets.text, balances.text, std::chrono::system_clock::now());
  if (!table) {
    err << "status: the admin API answered something that is not the expected JSON\n";
    return 1;
  }
  out << *table;
  return 0;
}

}  // namespace proxy
