// When a request that failed on an upstream connection may be sent again (proxy::may_retry).
#include <doctest/doctest.h>

#include <boost/asio/error.hpp>

#include "proxy/upstream_pool.hpp"

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;

proxy::FailedAttempt attempt(std::string_view method, std::uint64_t written, bool response,
                             boost::system::error_code ec, bool reused = true) {
  return proxy::FailedAttempt{reused, method, written, response, ec};
}

}  // namespace

TEST_CASE("may_retry, a pooled connection closed by the upstream") {
  SUBCASE("a safe method is retried after it was sent, on every kind of close") {
    for (const auto& ec : {boost::system::error_code(asio::error::eof),
                           boost::system::error_code(http::error::end_of_stream),
                           boost::system::error_code(asio::error::connection_reset),
                           boost::system::error_code(asio::error::broken_pipe),
                           boost::system::error_code(ssl::error::stream_truncated)}) {
      CAPTURE(ec.message());
      CHECK(proxy::may_retry(attempt("GET", 120, false, ec)));
      CHECK(proxy::may_retry(attempt("HEAD", 120, false, ec)));
      CHECK(proxy::may_retry(attempt("OPTIONS", 120, false, ec)));
    }
  }
  SUBCASE("POST, PATCH, PUT and DELETE are not retried once a byte of them was accepted") {
    for (const auto method : {"POST", "PATCH", "PUT", "DELETE"}) {
      CAPTURE(method);
      CHECK_FALSE(proxy::may_retry(attempt(method, 1, false, http::error::end_of_stream)));
      CHECK_FALSE(proxy::may_retry(attempt(method, 300, false, asio::error::connection_reset)));
      CHECK_FALSE(proxy::may_retry(attempt(method, 300, false, asio::error::broken_pipe)));
    }
  }
  SUBCASE("any method is retried when the connection took none of its bytes") {
    CHECK(proxy::may_retry(attempt("POST", 0, false, asio::error::broken_pipe)));
    CHECK(proxy::may_retry(attempt("POST", 0, false, asio::error::connection_reset)));
  }
}

TEST_CASE("may_retry, failures that are the upstream's answer") {
  SUBCASE("a fresh connection") {
    CHECK_FALSE(proxy::may_retry(attempt("GET", 0, false, asio::error::eof, false)));
    CHECK_FALSE(proxy::may_retry(attempt("GET", 120, false, http::error::end_of_stream, false)));
  }
  SUBCASE("a response byte arrived (a 100 Continue counts)") {
    CHECK_FALSE(proxy::may_retry(attempt("GET", 120, true, http::error::end_of_stream)));
    CHECK_FALSE(proxy::may_retry(attempt("POST", 0, true, asio::error::connection_reset)));
  }
  SUBCASE("a timeout: the upstream may be working on it") {
    CHECK_FALSE(proxy::may_retry(attempt("GET", 120, false, boost::beast::error::timeout)));
    CHECK_FALSE(proxy::may_retry(attempt("POST", 0, false, boost::beast::error::timeout)));
  }
  SUBCASE("a malformed response") {
    CHECK_FALSE(proxy::may_retry(attempt("GET", 120, false, http::error::bad_version)));
  }
}
