// Plain-data rules of the proxy engine: hop-by-hop headers, Accept-Encoding, proxy credentials,
// request targets, deny_networks and log redaction. No sockets.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <stdexcept>

#include "pipeline/header_filter.hpp"
#include "proxy/network_policy.hpp"
#include "proxy/proxy_target.hpp"
#include "telemetry/access_log.hpp"

using proxy::AbsoluteTarget;
using rules::HeaderList;

TEST_CASE("remove_hop_by_hop, fields") {
  SUBCASE("the fixed hop-by-hop set goes, end-to-end fields stay") {
    HeaderList h{{"Host", "a"},
                 {"Keep-Alive", "5"},
                 {"Proxy-Connection", "keep-alive"},
                 {"TE", "trailers"},
                 {"Trailer", "X"},
                 {"Transfer-Encoding", "chunked"},
                 {"Upgrade", "h2c"},
                 {"Proxy-Authorization", "x"},
                 {"Authorization", "Bearer k"},
                 {"Content-Type", "a/b"}};
    proxy::remove_hop_by_hop(h);
    CHECK(h == HeaderList{{"Host", "a"}, {"Authorization", "Bearer k"}, {"Content-Type", "a/b"}});
  }
  SUBCASE("fields named by Connection go, whatever their case") {
    HeaderList h{{"connection", "X-Secret, keep-alive"}, {"x-secret", "1"}, {"X-Other", "2"}};
    proxy::remove_hop_by_hop(h);
    CHECK(h == HeaderList{{"X-Other", "2"}});
  }
  SUBCASE("a websocket handshake keeps Upgrade and only the upgrade token of Connection") {
    HeaderList h{{"Connection", "Upgrade, X-Drop"}, {"Upgrade", "websocket"}, {"X-Drop", "1"}};
    proxy::remove_hop_by_hop(h, true);
    CHECK(h == HeaderList{{"Connection", "upgrade"}, {"Upgrade", "websocket"}});
  }
}

TEST_CASE("narrow_accept_encoding, client codings") {
  SUBCASE("keeps gzip and deflate in the client's order") {
    CHECK(proxy::narrow_accept_encoding("br, deflate, gzip;q=0.8, zstd", false) == "deflate, gzip");
  }
  SUBCASE("drops codings refused with q=0") {
    CHECK(proxy::narrow_accept_encoding("gzip;q=0, deflate", false) == "deflate");
    CHECK(proxy::narrow_accept_encoding("gzip; q=0.000", false) == "identity");
  }
  SUBCASE("nothing decodable or identity wanted") {
    CHECK(proxy::narrow_accept_encoding("br, zstd", false) == "identity");
    CHECK(proxy::narrow_accept_encoding("", false) == "identity");
    CHECK(proxy::narrow_accept_encoding("gzip", true) == "identity");
  }
}

TEST_CASE("authorize_client, proxy credentials") {
  const std::map<std::string, std::string> users{{"team-a", "s3cret"}};
  const std::string good = "Basic dGVhbS1hOnMzY3JldA==";  // team-a:s3cret
  const std::string wrong = "Basic dGVhbS1hOm5vcGU=";     // team-a:nope
  SUBCASE("required and right") {
    CHECK(proxy::authorize_client(users, true, good) == "team-a");
  }
  SUBCASE("required and wrong, missing or another scheme") {
    CHECK_FALSE(proxy::authorize_client(users, true, wrong));
    CHECK_FALSE(proxy::authorize_client(users, true, ""));
    CHECK_FALSE(proxy::authorize_client(users, true, "Bearer dGVhbS1hOnMzY3JldA=="));
  }
  SUBCASE("not required: right credentials name the user, none is anonymous") {
    CHECK(proxy::authorize_client(users, false, good) == "team-a");
    CHECK(proxy::authorize_client(users, false, "") == "");
  }
  SUBCASE("not required, but offered credentials are still checked") {
    const std::string nobody = "Basic bm9ib2R5OnMzY3JldA==";  // nobody:s3cret
    CHECK_FALSE(proxy::authorize_client(users, false, wrong));
    CHECK_FALSE(proxy::authorize_client(users, false, nobody));
    CHECK_FALSE(proxy::authorize_client(users, false, "Basic dGVhbS1hOg=="));  // team-a:
    CHECK_FALSE(proxy::authorize_client(users, false, "Bearer dGVhbS1hOnMzY3JldA=="));
  }
  SUBCASE("no users to check against: a name proves nothing") {
    CHECK(proxy::authorize_client({}, false, wrong) == "");
    CHECK_FALSE(proxy::authorize_client({}, true, wrong));
  }
  SUBCASE("parse_basic_credentials keeps colons in the password") {
    const auto c = proxy::parse_basic_credentials("basic dTphOmI=");  // u:a:b
    REQUIRE(c);
    CHECK(c->user == "u");
    CHECK(c->password == "a:b");
    CHECK_FALSE(proxy::parse_basic_credentials("Basic !!!!"));
  }
}

TEST_CASE("parse_connect_target, authority forms") {
  SUBCASE("host:port, lower-cased") {
    const auto t = proxy::parse_connect_target("API.OpenAI.com:443");
    REQUIRE(t);
    CHECK(t->host == "api.openai.com");
    CHECK(t->port == 443);
  }
  SUBCASE("[v6]:port") {
    const auto t = proxy::parse_connect_target("[2001:DB8::1]:8443");
    REQUIRE(t);
    CHECK(t->host == "2001:db8::1");
    CHECK(t->port == 8443);
    CHECK(proxy::authority_string(*t) == "[2001:db8::1]:8443");
  }
  SUBCASE("bad forms") {
    for (const char* bad :
         {"api.openai.com", "api.openai.com:", ":443", "host:0", "host:65536", "host:44x",
          "2001:db8::1:443", "[2001:db8::1]", "ho st:443", "user@host:443", "[zz]:443"})
      CHECK_MESSAGE(!proxy::parse_connect_target(bad), bad);
  }
}

TEST_CASE("parse_absolute_target, http URIs") {
  SUBCASE("default port, path and query kept, fragment dropped") {
    const auto t = proxy::parse_absolute_target("http://Plain.Test/a/b?x=1#frag");
    REQUIRE(t);
    CHECK(t->authority.host == "plain.test");
    CHECK(t->authority.port == 80);
    CHECK(t->origin_form == "/a/b?x=1");
  }
  SUBCASE("explicit port, empty path") {
    const auto t = proxy::parse_absolute_target("http://h:8080");
    REQUIRE(t);
    CHECK(t->authority.port == 8080);
    CHECK(t->origin_form == "/");
  }
  SUBCASE("not for https, origin-form or userinfo") {
    CHECK_FALSE(proxy::parse_absolute_target("https://h/"));
    CHECK_FALSE(proxy::parse_absolute_target("/path"));
    CHECK_FALSE(proxy::parse_absolute_target("http://u:p@h/"));
  }
}

TEST_CASE("parse_base_url_target, DESIGN §14") {
  SUBCASE("the first segment is the prefix, the rest goes to the provider") {
    const auto t = proxy::parse_base_url_target("/openai/v1/chat/completions?x=1");
    REQUIRE(t);
    CHECK(t->prefix == "openai");
    CHECK(t->origin_form == "/v1/chat/completions?x=1");
  }
  SUBCASE("a prefix alone, or with a query only") {
    CHECK(proxy::parse_base_url_target("/keepa")->origin_form == "/");
    CHECK(proxy::parse_base_url_target("/keepa/")->origin_form == "/");
    const auto q = proxy::parse_base_url_target("/keepa?key=k&asin=B1");
    REQUIRE(q);
    CHECK(q->prefix == "keepa");
    CHECK(q->origin_form == "/?key=k&asin=B1");
  }
  SUBCASE("Gemini's colon stays in the path") {
    const auto t =
        proxy::parse_base_url_target("/gemini/v1beta/models/gemini-2.5-flash:generateContent");
    REQUIRE(t);
    CHECK(t->prefix == "gemini");
    CHECK(t->origin_form == "/v1beta/models/gemini-2.5-flash:generateContent");
  }
  SUBCASE("no prefix, or not origin-form") {
    CHECK(proxy::parse_base_url_target("/")->prefix == "");
    CHECK(proxy::parse_base_url_target("//v1")->prefix == "");
    CHECK_FALSE(proxy::parse_base_url_target("http://h/openai/v1"));
    CHECK_FALSE(proxy::parse_base_url_target("api.openai.com:443"));
    CHECK_FALSE(proxy::parse_base_url_target("*"));
  }
}

TEST_CASE("NetworkPolicy::denies, named networks and CIDRs") {
  const proxy::NetworkPolicy policy({"loopback", "link-local", "private", "100.64.0.0/10"});
  SUBCASE("loopback, metadata, private, CGNAT") {
    for (const char* a :
         {"127.0.0.1", "127.255.0.9", "::1", "0.0.0.0", "169.254.169.254", "fe80::1", "10.1.2.3",
          "172.31.0.1", "192.168.1.1", "fd00::5", "100.100.0.1", "::ffff:127.0.0.1"})
      CHECK_MESSAGE(policy.denies(a), a);
  }
  SUBCASE("public addresses pass") {
    for (const char* a : {"8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1"})
      CHECK_MESSAGE(!policy.denies(a), a);
  }
  SUBCASE("an unparsable address is denied") {
    CHECK(policy.denies("not-an-ip"));
  }
  SUBCASE("only what is listed") {
    const proxy::NetworkPolicy loop_only({"loopback"});
    CHECK_FALSE(loop_only.denies("10.0.0.1"));
  }
  SUBCASE("bad entries are reported") {
    CHECK_THROWS_WITH_AS(proxy::NetworkPolicy({"lan"}),
                         "deny_networks: 'lan' is not loopback, link-local, private or a CIDR",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(proxy::NetworkPolicy({"10.0.0.0/33"}),
                         "deny_networks: '10.0.0.0/33' has an invalid prefix length",
                         std::invalid_argument);
  }
}

TEST_CASE("redact_target, secrets in logs") {
  SUBCASE("key= and *_key values") {
    CHECK(proxy::redact_target("/product?key=abc&asin=A,B&api_key=zz") ==
          "/product?key=REDACTED&asin=A,B&api_key=REDACTED");
  }
  SUBCASE("no query, no change") {
    CHECK(proxy::redact_target("/v1/models") == "/v1/models");
  }
  SUBCASE("secret headers") {
    CHECK(proxy::is_secret_header("X-Goog-Api-Key"));
    CHECK(proxy::is_secret_header("authorization"));
    CHECK(proxy::is_secret_header("x-api-key"));
    CHECK_FALSE(proxy::is_secret_header("content-type"));
  }
  SUBCASE("access_json redacts the path and escapes strings") {
    proxy::AccessRecord r;
    r.client = "127.0.0.1:1";
    r.mode = "intercept";
    r.method = "GET";
    r.host = "api.keepa.com";
    r.target = "/product?key=s3cret";
    r.status = 200;
    r.error = "say \"hi\"";
    const auto line = proxy::access_json(r);
    CHECK(line.find("s3cret") == std::string::npos);
    CHECK(line.find(R"("path":"/product?key=REDACTED")") != std::string::npos);
    CHECK(line.find(R"("error":"say \"hi\"")") != std::string::npos);
  }
  SUBCASE("access_json: a path without a query as it is, a timestamp to the millisecond") {
    proxy::AccessRecord r;
    r.target = "/v1/chat/completions/with-a-long-name\"q";
    r.status = 200;
    const auto line = proxy::access_json(r);
    CHECK(line.find(R"("path":"/v1/chat/completions/with-a-long-name\"q")") != std::string::npos);
    rapidjson::Document doc;
    REQUIRE_FALSE(doc.Parse(line.c_str()).HasParseError());
    const std::string ts = doc["ts"].GetString();
    CHECK(ts.size() == 24);  // 2026-12-03T01:30:00.123Z
    CHECK(ts[10] == 'T');
    CHECK(ts[19] == '.');
    CHECK(ts.back() == 'Z');
  }
}
