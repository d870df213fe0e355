// Request framing checks against smuggling (DESIGN §11), on parsed heads.
#include <doctest/doctest.h>

#include "proxy/request_head.hpp"

namespace http = boost::beast::http;

namespace {

http::request_header<> head(std::initializer_list<std::pair<const char*, const char*>> fields) {
  http::request_header<> h;
  h.method(http::verb::post);
  h.target("/");
  for (const auto& [name, value] : fields) h.insert(name, value);
  return h;
}

}  // namespace

TEST_CASE("framing_problem, request heads") {
  SUBCASE("one Content-Length or chunked is fine") {
    CHECK(proxy::framing_problem(head({{"Content-Length", "5"}})) == "");
    CHECK(proxy::framing_problem(head({{"Transfer-Encoding", "gzip, chunked"}})) == "");
    CHECK(proxy::framing_problem(head({})) == "");
  }
  SUBCASE("duplicate Content-Length") {
    CHECK(proxy::framing_problem(head({{"Content-Length", "5"}, {"Content-Length", "5"}})) ==
          "more than one Content-Length");
  }
  SUBCASE("Content-Length with Transfer-Encoding") {
    CHECK(
        proxy::framing_problem(head({{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}})) ==
        "both Content-Length and Transfer-Encoding");
  }
  SUBCASE("Transfer-Encoding in HTTP/1.0, which has no chunked coding") {
    auto h = head({{"Transfer-Encoding", "chunked"}});
    h.version(10);
    CHECK(proxy::framing_problem(h) == "Transfer-Encoding in an HTTP/1.0 request");
  }
  SUBCASE("Transfer-Encoding not ending in chunked") {
    CHECK(proxy::framing_problem(head({{"Transfer-Encoding", "chunked, gzip"}})) ==
          "Transfer-Encoding does not end in chunked");
  }
}
