// The heads as they are forwarded: the request written straight from the exchange's list (the
// same bytes Beast writes), and the response head a client gets.
#include <doctest/doctest.h>

#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/http/serializer.hpp>
#include <string>
#include <utility>
#include <vector>

#include "proxy/exchange_request.hpp"
#include "proxy/forwarded_heads.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;

namespace {

proxy::Exchange exchange(std::string method, std::string body) {
  proxy::Exchange ex;
  ex.mode = proxy::ExchangeMode::intercept;
  ex.method = std::move(method);
  ex.target = "/v1/chat/completions?x=1";
  ex.request_headers = {{"Host", "api.openai.com"},
                        {"content-type", "application/json"},
                        {"Content-Length", "999"},  // the client's, replaced by the body's
                        {"authorization", "Bearer sk-a-key-longer-than-fifteen"},
                        {"Via", "1.1 tollgate"}};
  ex.request_body = std::move(body);
  return ex;
}

// What Beast's serializer makes of beast_request(ex), as the proxy sent it before.
std::string beast_bytes(const proxy::Exchange& ex) {
  auto req = proxy::beast_request(ex);
  http::request_serializer<http::buffer_body> sr{req};
  std::string out;
  boost::beast::error_code ec;
  while (!sr.is_done() && !ec) {
    sr.next(ec, [&](boost::beast::error_code&, const auto& buffers) {
      for (const auto b : boost::beast::buffers_range_ref(buffers))
        out.append(static_cast<const char*>(b.data()), b.size());
      sr.consume(boost::beast::buffer_bytes(buffers));
    });
    if (ec == http::error::need_buffer) break;
  }
  return out;
}

// Adds tollgate's field, and with `change` also rewrites or drops an upstream one.
struct Hooks : proxy::ExchangeHooks {
  enum { add, rewrite, drop } change = add;
  void on_response_head(proxy::Exchange& ex) override {
    ex.response_headers.emplace_back("x-tollgate-cost", "0.000123");
    for (auto it = ex.response_headers.begin(); it != ex.response_headers.end(); ++it)
      if (it->first == "X-Kept") {
        if (change == rewrite) it->second = "changed";
        if (change == drop) {
          ex.response_headers.erase(it);
          break;
        }
      }
  }
};

// An upstream's response head as the proxy has it: parsed from the bytes into a parser's arena.
using Response = proxy::ArenaParser<false, http::buffer_body>;
void upstream_head(Response& parser) {
  std::string wire = "HTTP/1.1 200 OK\r\n";
  for (const auto& [name, value] :
       std::vector<std::pair<const char*, const char*>>{{"Content-Type", "application/json"},
                                                        {"Connection", "keep-alive, X-Hop"},
                                                        {"X-Hop", "secret"},
                                                        {"Keep-Alive", "timeout=5"},
                                                        {"Set-Cookie", "a=1"},
                                                        {"X-Kept", "yes"},
                                                        {"Set-Cookie", "b=2"},
                                                        {"Content-Encoding", "gzip"}})
    wire.append(name).append(": ").append(value).append("\r\n");
  wire += "Content-Length: 0\r\n\r\n";
  parser.eager(true);
  beast::error_code ec;
  parser.put(asio::buffer(wire), ec);
  REQUIRE(!ec);
  REQUIRE(parser.is_header_done());
  parser.get().erase(http::field::content_length);
}

std::vector<std::pair<std::string, std::string>> fields(
    const http::response<http::buffer_body, proxy::HeadFields>& res) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : res) out.emplace_back(f.name_string(), f.value());
  return out;
}

}  // namespace

TEST_CASE("flat_request writes the bytes Beast writes") {
  SUBCASE("a POST: the client's Content-Length gives way to the body's") {
    const auto ex = exchange("POST", R"({"model":"gpt-4o-mini"})");
    std::string flat;
    proxy::flat_request(ex, flat);
    CHECK(flat ==
          "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: api.openai.com\r\n"
          "content-type: application/json\r\nauthorization: Bearer "
          "sk-a-key-longer-than-fifteen\r\nVia: 1.1 tollgate\r\nContent-Length: 23\r\n\r\n"
          R"({"model":"gpt-4o-mini"})");
    CHECK(flat == beast_bytes(ex));
  }
  SUBCASE("a GET without a body states no length") {
    const auto ex = exchange("GET", "");
    std::string flat = "left from the last request";
    proxy::flat_request(ex, flat);
    CHECK(flat.find("Content-Length") == std::string::npos);
    CHECK(flat.ends_with("Via: 1.1 tollgate\r\n\r\n"));
    CHECK(flat == beast_bytes(ex));
  }
  SUBCASE("a POST with an empty body states 0") {
    const auto ex = exchange("POST", "");
    std::string flat;
    proxy::flat_request(ex, flat);
    CHECK(flat.ends_with("Content-Length: 0\r\n\r\n"));
    CHECK(flat == beast_bytes(ex));
  }
}

TEST_CASE("take_response_head, the head a client gets") {
  auto ex = exchange("POST", "{}");
  Hooks hooks;
  const std::vector<std::pair<std::string, std::string>> kept = {
      {"Content-Type", "application/json"},
      {"Set-Cookie", "a=1"},
      {"Set-Cookie", "b=2"},  // Beast keeps fields of one name together, in their order
      {"X-Kept", "yes"},
      {"Content-Encoding", "gzip"},
      {"Via", "1.1 tollgate"},
      {"x-tollgate-cost", "0.000123"}};

  SUBCASE("hop-by-hop fields go, the rest keep their order, ours follow") {
    Response parser;
    upstream_head(parser);
    auto& res = parser.get();
    CHECK(proxy::take_response_head(ex, res, hooks, false) == "gzip");
    CHECK(fields(res) == kept);
    CHECK(ex.status == 200);
  }
  SUBCASE("an upstream field the hooks rewrote goes out as they left it") {
    hooks.change = Hooks::rewrite;
    Response parser;
    upstream_head(parser);
    auto& res = parser.get();
    proxy::take_response_head(ex, res, hooks, false);
    auto expected = kept;
    expected[3].second = "changed";
    CHECK(fields(res) == expected);
  }
  SUBCASE("an upstream field the hooks dropped does not go out") {
    hooks.change = Hooks::drop;
    Response parser;
    upstream_head(parser);
    auto& res = parser.get();
    proxy::take_response_head(ex, res, hooks, false);
    auto expected = kept;
    expected.erase(expected.begin() + 3);
    CHECK(fields(res) == expected);
  }
}

TEST_CASE("host_field, the Host a forwarded request carries") {
  CHECK(proxy::host_field("api.openai.com", 443, true) == "api.openai.com");
  CHECK(proxy::host_field("api.openai.com", 8443, true) == "api.openai.com:8443");
  CHECK(proxy::host_field("example.test", 80, false) == "example.test");
  CHECK(proxy::host_field("example.test", 443, false) == "example.test:443");
  CHECK(proxy::host_field("::1", 443, true) == "[::1]");
  CHECK(proxy::host_field("2001:db8::7", 65535, true) == "[2001:db8::7]:65535");
}
