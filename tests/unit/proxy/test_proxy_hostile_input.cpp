// Network-level ways around a budget, on the socket-free pieces that close them: host spellings,
// ports of plain-HTTP requests, the `private` networks.
#include <doctest/doctest.h>

#include "pipeline/head_stage.hpp"
#include "proxy/network_policy.hpp"
#include "proxy/proxy_target.hpp"
#include "rules/host_name.hpp"

TEST_CASE("normalize_host, one spelling per host") {
  SUBCASE("case, one trailing dot and %-escapes are spelling") {
    for (const char* spelling : {"api.openai.com", "API.OPENAI.COM", "api.openai.com.",
                                 "Api.OpenAI.com.", "api%2eopenai%2ecom", "%41pi.openai.com"}) {
      const auto name = rules::normalize_host(spelling);
      REQUIRE_MESSAGE(name.host, spelling);
      CHECK_MESSAGE(*name.host == "api.openai.com", spelling);
    }
  }
  SUBCASE("IP literals") {
    CHECK(*rules::normalize_host("127.0.0.1").host == "127.0.0.1");
    CHECK(*rules::normalize_host("[2001:DB8::1]").host == "2001:db8::1");
  }
  SUBCASE("refused, with the reason") {
    const auto problem = [](std::string_view raw) {
      const auto name = rules::normalize_host(raw);
      CHECK_MESSAGE(!name.host, raw);
      return name.problem;
    };
    CHECK(problem("") == "empty host");
    CHECK(problem("api.openai.com..") == "empty label in host name");
    CHECK(problem(".api.openai.com") == "empty label in host name");
    CHECK(problem("api..openai.com") == "empty label in host name");
    CHECK(problem(".") == "empty label in host name");
    CHECK(problem("api.openai.com%2e%2e") == "empty label in host name");
    CHECK(problem("api.openai.com%25") == "'%' in host after decoding");
    CHECK(problem("api.openai.com%2") == "invalid %-escape in host");
    CHECK(problem("api.openai.com%zz") == "invalid %-escape in host");
    CHECK(problem("api.openai.com%3a443") == "character ':' in host name");
    CHECK(problem("api.openai.com%00") == "control character in host name");
    CHECK(problem("b\xc3\xbc"
                  "cher.example") == "non-ASCII host name (send it as punycode, xn--...)");
    CHECK(problem("b%C3%BCcher.example") == "non-ASCII host name (send it as punycode, xn--...)");
    CHECK(problem("ho st") == "character ' ' in host name");
    CHECK(problem("[zz]") == "'zz' is not an IPv6 address");
    CHECK(problem("[fe80::1%25eth0]") == "'fe80::1%25eth0' is not an IPv6 address");
    CHECK(problem(std::string(64, 'a') + ".com") == "host name label longer than 63 characters");
    CHECK(problem(std::string(250, 'a') + ".com") == "host name longer than 253 characters");
  }
}

TEST_CASE("request targets, host spellings") {
  SUBCASE("CONNECT") {
    for (const char* spelling : {"API.OPENAI.COM:443", "api.openai.com.:443", "Api.OpenAI.com.:443",
                                 "api%2eopenai%2ecom:443"}) {
      const auto t = proxy::parse_connect_target(spelling);
      REQUIRE_MESSAGE(t, spelling);
      CHECK(t->host == "api.openai.com");
      CHECK(t->port == 443);
    }
  }
  SUBCASE("absolute-form") {
    for (const char* uri :
         {"http://api%2eopenai%2ecom/v1/models", "http://API.OpenAI.com./v1/models",
          "http://api.openai.com.:80/v1/models"}) {
      const auto t = proxy::parse_absolute_target(uri);
      REQUIRE_MESSAGE(t, uri);
      CHECK(t->authority.host == "api.openai.com");
      CHECK(t->authority.port == 80);
      CHECK(t->origin_form == "/v1/models");
    }
  }
  SUBCASE("the reason of a refused host") {
    std::string problem;
    CHECK_FALSE(proxy::parse_connect_target("api.openai.com..:443", &problem));
    CHECK(problem == "empty label in host name");
    CHECK_FALSE(proxy::parse_absolute_target("http://api%2eopenai%2ecom%25/", &problem));
    CHECK(problem == "'%' in host after decoding");
    CHECK_FALSE(proxy::parse_connect_target("api.openai.com", &problem));
    CHECK(problem == "missing or invalid port");
  }
}

TEST_CASE("port_problem, CONNECT and plain HTTP alike") {
  const std::vector<std::uint16_t> ports{443, 8443};
  CHECK(proxy::port_problem(ports, 443, false) == "");
  CHECK(proxy::port_problem(ports, 8443, true) == "");
  CHECK(proxy::port_problem(ports, 80, true) == "");  // the port of the http scheme
  CHECK(proxy::port_problem(ports, 80, false) ==
        "CONNECT to port 80 is not allowed (tunnel.allowed_ports)");
  CHECK(proxy::port_problem(ports, 6379, true) ==
        "HTTP to port 6379 is not allowed (tunnel.allowed_ports)");
}

TEST_CASE("NetworkPolicy, private") {
  // 203.0.113.7 stands for this host's public interface address.
  const proxy::NetworkPolicy policy({"private"}, {"203.0.113.7", "2001:db8::7", "fe80::1%eth0"});
  SUBCASE("RFC 1918, CGNAT, ULA and this host's own addresses") {
    for (const char* a :
         {"10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255", "192.168.0.1", "100.64.0.1",
          "100.127.255.255", "fc00::1", "fd12::1", "::ffff:10.1.2.3", "203.0.113.7", "2001:db8::7"})
      CHECK_MESSAGE(policy.denies(a), a);
  }
  SUBCASE("neighbours pass") {
    for (const char* a :
         {"9.255.255.255", "11.0.0.0", "172.15.255.255", "172.32.0.0", "192.169.0.1",
          "100.63.255.255", "100.128.0.0", "fe00::1", "203.0.113.8", "2001:db8::8", "8.8.8.8"})
      CHECK_MESSAGE(!policy.denies(a), a);
  }
  SUBCASE("own addresses only under private") {
    const proxy::NetworkPolicy loopback({"loopback"}, {"203.0.113.7"});
    CHECK_FALSE(loopback.denies("203.0.113.7"));
  }
}
