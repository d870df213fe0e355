// The one URL parser: every part as the callers need it, and clear refusals for what is not a URL.
#include <doctest/doctest.h>

#include "util/url.hpp"

TEST_CASE("parse_url: the parts of a full URL") {
  const auto url = util::parse_url("HTTPS://user:pw@api.openai.com:8443/v1/chat?x=1&y=2#frag");
  REQUIRE(url);
  CHECK(url->scheme == "https");
  CHECK(url->userinfo == "user:pw");
  CHECK(url->authority.host == "api.openai.com");
  CHECK(url->authority.port == 8443);
  CHECK(url->path == "/v1/chat");
  CHECK(url->query == "x=1&y=2");
  CHECK(url->target() == "/v1/chat?x=1&y=2");
}

TEST_CASE("parse_url: what may be left out") {
  SUBCASE("no scheme, no port, no path") {
    const auto url = util::parse_url("api.openai.com");
    REQUIRE(url);
    CHECK(url->scheme.empty());
    CHECK_FALSE(url->authority.port);
    CHECK(url->port_or(443) == 443);
    CHECK(url->target() == "/");
  }
  SUBCASE("a query without a path") {
    const auto url = util::parse_url("http://h?a=b");
    REQUIRE(url);
    CHECK(url->target() == "/?a=b");
  }
  SUBCASE("an empty query is kept as written") {
    const auto url = util::parse_url("http://h/p?");
    REQUIRE(url);
    CHECK(url->target() == "/p?");
  }
  SUBCASE("a '://' inside the path is not a scheme") {
    const auto url = util::parse_url("h/redirect?to=http://x");
    REQUIRE(url);
    CHECK(url->scheme.empty());
    CHECK(url->authority.host == "h");
    CHECK(url->query == "to=http://x");
  }
}

TEST_CASE("parse_url: IPv6 literals") {
  const auto url = util::parse_url("redis://[::1]:6380/2");
  REQUIRE(url);
  CHECK(url->authority.host == "::1");
  CHECK(url->authority.port == 6380);
  CHECK(url->path == "/2");
  std::string problem;
  CHECK_FALSE(util::parse_url("http://::1:80/", &problem));
  CHECK(problem == "IPv6 literal without brackets");
  CHECK_FALSE(util::parse_url("http://[::1/", &problem));
}

TEST_CASE("parse_authority: ports are 1-65535 in digits") {
  std::string problem;
  for (const auto* bad : {"h:", "h:0", "h:65536", "h:8o", "h:-1", "h:123456", "[::1]x"}) {
    CAPTURE(bad);
    problem.clear();
    CHECK_FALSE(util::parse_authority(bad, &problem));
    CHECK(problem == "missing or invalid port");
  }
  const auto ok = util::parse_authority("h:65535");
  REQUIRE(ok);
  CHECK(ok->port == 65535);
  std::string why;
  CHECK_FALSE(util::parse_url("http:///path", &why));
  CHECK(why == "no host");
}
