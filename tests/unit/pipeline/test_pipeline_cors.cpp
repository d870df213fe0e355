// CORS for browser pages in base-URL mode: preflights answered or refused, requests from other
// origins refused, responses marked (DESIGN §14, pipeline/cors_policy.hpp).
#include <doctest/doctest.h>

#include "pipeline/cors_policy.hpp"

namespace {

using Kind = proxy::CorsVerdict::Kind;
using Fields = rules::HeaderList;

constexpr std::string_view k_host = "127.0.0.1:8080";  // the Host field: tollgate's listener

rules::BaseUrlConfig origins(std::vector<std::string> list) {
  return rules::BaseUrlConfig{std::move(list)};
}

proxy::CorsRequest preflight(std::string_view origin, std::string_view headers = {}) {
  return {"OPTIONS", k_host, origin, "POST", headers, {}};
}

}  // namespace

TEST_CASE("CorsPolicy::decide, preflights") {
  const auto config = origins({"http://localhost:3000"});
  const proxy::CorsPolicy cors(config);
  SUBCASE("an allowed origin: the requested headers echoed, lower case, each once") {
    const auto v = cors.decide(preflight("http://localhost:3000",
                                         "Authorization, content-type,x-stainless-os, "
                                         "authorization"));
    CHECK(v.kind == Kind::preflight);
    CHECK(
        v.headers ==
        Fields{{"Access-Control-Allow-Origin", "http://localhost:3000"},
               {"Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE"},
               {"Access-Control-Allow-Headers", "authorization, content-type, x-stainless-os"},
               {"Access-Control-Max-Age", "600"},
               {"Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}});
  }
  SUBCASE("no requested headers, another method, Private Network Access") {
    proxy::CorsRequest r{"OPTIONS", k_host, "http://localhost:3000", "PROPFIND", "", "true"};
    const auto v = cors.decide(r);
    CHECK(v.kind == Kind::preflight);
    CHECK(rules::find_header(v.headers, "access-control-allow-methods") ==
          "GET, HEAD, POST, PUT, PATCH, DELETE, PROPFIND");
    CHECK(rules::find_header(v.headers, "access-control-allow-headers") == "");
    CHECK(rules::find_header(v.headers, "access-control-allow-private-network") == "true");
  }
  SUBCASE("an origin not listed: refused, and no field lets the page read why") {
    const auto v = cors.decide(preflight("http://evil.test"));
    CHECK(v.kind == Kind::refuse);
    CHECK(v.headers.empty());
    CHECK(v.message ==
          "origin http://evil.test may not call tollgate's base URLs: it is not in "
          "base_url.cors_origins");
  }
  SUBCASE("compared byte for byte, as browsers send origins") {
    CHECK(cors.decide(preflight("http://localhost:3001")).kind == Kind::refuse);
    CHECK(cors.decide(preflight("https://localhost:3000")).kind == Kind::refuse);
    CHECK(cors.decide(preflight("http://localhost:3000/")).kind == Kind::refuse);
  }
  SUBCASE("malformed Access-Control-Request-Headers") {
    const auto v = cors.decide(preflight("http://localhost:3000", "x-a, bad header"));
    CHECK(v.kind == Kind::refuse);
    CHECK(v.message == "malformed preflight: Access-Control-Request-Method or -Headers");
  }
  SUBCASE("no origin configured: every preflight refused") {
    const rules::BaseUrlConfig none;
    const auto v = proxy::CorsPolicy(none).decide(preflight("http://localhost:3000"));
    CHECK(v.kind == Kind::refuse);
    CHECK(v.message ==
          "origin http://localhost:3000 may not call tollgate's base URLs: "
          "base_url.cors_origins lists no page origin");
  }
  SUBCASE("'*': any page, answered with * and never with credentials") {
    const auto any = origins({"*"});
    const auto v = proxy::CorsPolicy(any).decide(preflight("https://anything.test", "x-a"));
    CHECK(v.kind == Kind::preflight);
    CHECK(rules::find_header(v.headers, "access-control-allow-origin") == "*");
    CHECK(rules::find_header(v.headers, "access-control-allow-credentials") == "");
    CHECK(rules::find_header(v.headers, "vary") ==
          "Access-Control-Request-Method, Access-Control-Request-Headers");
  }
}

TEST_CASE("CorsPolicy::decide, requests that are not preflights") {
  const auto config = origins({"http://localhost:3000"});
  const proxy::CorsPolicy cors(config);
  SUBCASE("no Origin (an SDK, curl): served as always") {
    CHECK(cors.decide({"POST", k_host, "", "", "", ""}).kind == Kind::forward);
    CHECK(cors.decide({"OPTIONS", k_host, "", "POST", "", ""}).kind == Kind::forward);
    const rules::BaseUrlConfig none;
    CHECK(proxy::CorsPolicy(none).decide({"POST", k_host, "", "", "", ""}).kind == Kind::forward);
  }
  SUBCASE("an allowed Origin: forwarded, then marked") {
    CHECK(cors.decide({"POST", k_host, "http://localhost:3000", "", "", ""}).kind == Kind::forward);
    CHECK(cors.decide({"OPTIONS", k_host, "http://localhost:3000", "", "", ""}).kind ==
          Kind::forward);
  }
  SUBCASE("an Origin naming the listener by address or localhost: not a page's") {
    const rules::BaseUrlConfig none;
    const proxy::CorsPolicy policy(none);
    CHECK(policy.decide({"GET", k_host, "http://127.0.0.1:8080", "", "", ""}).kind ==
          Kind::forward);
    CHECK(policy.decide({"GET", "localhost:8080", "http://localhost:8080", "", "", ""}).kind ==
          Kind::forward);
    CHECK(policy.decide({"GET", "[::1]:8080", "http://[::1]:8080", "", "", ""}).kind ==
          Kind::forward);
    // A name DNS resolves (a page could rebind its own to 127.0.0.1), another port, https.
    CHECK(policy.decide({"GET", "evil.test:8080", "http://evil.test:8080", "", "", ""}).kind ==
          Kind::refuse);
    CHECK(policy.decide({"GET", k_host, "http://127.0.0.1:3000", "", "", ""}).kind == Kind::refuse);
    CHECK(policy.decide({"GET", k_host, "https://127.0.0.1:8080", "", "", ""}).kind ==
          Kind::refuse);
  }
  SUBCASE("another Origin: refused before it can cost anything") {
    const auto v = cors.decide({"POST", k_host, "http://evil.test", "", "", ""});
    CHECK(v.kind == Kind::refuse);
    const rules::BaseUrlConfig none;
    CHECK(
        proxy::CorsPolicy(none).decide({"GET", k_host, "http://localhost:3000", "", "", ""}).kind ==
        Kind::refuse);
  }
}

TEST_CASE("CorsPolicy::mark") {
  const auto config = origins({"http://localhost:3000"});
  const proxy::CorsPolicy cors(config);
  // A provider that answers with a CORS policy of its own, and tollgate's fields.
  const Fields upstream{{"Content-Type", "application/json"},
                        {"access-control-allow-origin", "*"},
                        {"Access-Control-Expose-Headers", "x-request-id"},
                        {"x-request-id", "req_1"},
                        {"x-ratelimit-remaining-tokens", "999"},
                        {"Set-Cookie", "a=b"},
                        {"x-tollgate-cost", "0.000068"},
                        {"X-Tollgate-Budget", "daily"},
                        {"x-tollgate-cost", "again"}};
  SUBCASE("an allowed origin: the provider's CORS fields replaced by tollgate's") {
    auto fields = upstream;
    cors.mark("http://localhost:3000", fields);
    CHECK(fields == Fields{{"Content-Type", "application/json"},
                           {"x-request-id", "req_1"},
                           {"x-ratelimit-remaining-tokens", "999"},
                           {"Set-Cookie", "a=b"},
                           {"x-tollgate-cost", "0.000068"},
                           {"X-Tollgate-Budget", "daily"},
                           {"x-tollgate-cost", "again"},
                           {"Vary", "Origin"},
                           {"Access-Control-Allow-Origin", "http://localhost:3000"},
                           {"Access-Control-Expose-Headers",
                            "x-request-id, x-ratelimit-remaining-tokens, x-tollgate-cost, "
                            "x-tollgate-budget"}});
  }
  SUBCASE("a refusal of tollgate's own: its x-tollgate-* readable by the page") {
    Fields refusal{{"retry-after", "3600"},
                   {"x-should-retry", "false"},
                   {"x-tollgate-refused", "budget"},
                   {"x-tollgate-budget", "daily"}};
    cors.mark("http://localhost:3000", refusal);
    CHECK(rules::find_header(refusal, "access-control-allow-origin") == "http://localhost:3000");
    CHECK(rules::find_header(refusal, "access-control-expose-headers") ==
          "retry-after, x-should-retry, x-tollgate-refused, x-tollgate-budget");
  }
  SUBCASE("no Origin: the provider's CORS fields still go, none of tollgate's are added") {
    auto fields = upstream;
    cors.mark("", fields);
    CHECK(rules::find_header(fields, "access-control-allow-origin") == "");
    CHECK(rules::find_header(fields, "access-control-expose-headers") == "");
    CHECK(rules::find_header(fields, "vary") == "Origin");
  }
  SUBCASE("no origin configured: nothing added, not even Vary") {
    const rules::BaseUrlConfig none;
    auto fields = upstream;
    proxy::CorsPolicy(none).mark("", fields);
    CHECK(fields.size() == upstream.size() - 2);
    CHECK(rules::find_header(fields, "vary") == "");
  }
  SUBCASE("'*': Allow-Origin *, no Vary, no credentials") {
    const auto any = origins({"*"});
    Fields fields{{"x-tollgate-cost", "1"}};
    proxy::CorsPolicy(any).mark("https://anything.test", fields);
    CHECK(fields == Fields{{"x-tollgate-cost", "1"},
                           {"Access-Control-Allow-Origin", "*"},
                           {"Access-Control-Expose-Headers", "x-tollgate-cost"}});
  }
  SUBCASE("only safelisted fields: no Expose-Headers") {
    Fields fields{{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-cache"}};
    cors.mark("http://localhost:3000", fields);
    CHECK(rules::find_header(fields, "access-control-expose-headers") == "");
  }
}
