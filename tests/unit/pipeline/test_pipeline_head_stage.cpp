// The head stage decides, before any body is read, who the client is and whether the host and
// port may be reached, in the same order for a CONNECT, a plain-HTTP request and a base URL.
#include <doctest/doctest.h>

#include "pipeline/head_stage.hpp"
#include "rules/config_loader.hpp"

namespace {

std::shared_ptr<const rules::Config> load(const std::string& yaml) {
  const auto loaded =
      rules::load_config_text("include: [catalog:openai]\n" + yaml, "t.yaml", "/tmp");
  REQUIRE(loaded.errors.empty());
  return loaded.config;
}

// "Basic " + base64("team-a:s3cret")
constexpr std::string_view k_team_a = "Basic dGVhbS1hOnMzY3JldA==";

}  // namespace

TEST_CASE("head stage: authentication comes first, for every kind of head") {
  const auto config = load(
      "clients: { require_auth: true, users: { team-a: s3cret } }\n"
      "tunnel: { unknown_hosts: deny }\n");
  const auto* openai = config->provider_for_host("api.openai.com");
  REQUIRE(openai);
  for (const auto kind :
       {proxy::HeadKind::connect, proxy::HeadKind::plain_http, proxy::HeadKind::base_url}) {
    CAPTURE(static_cast<int>(kind));
    const auto anonymous = proxy::check_head(*config, {kind, "api.openai.com", 443, openai, ""});
    REQUIRE(anonymous.refusal);
    CHECK(anonymous.refusal->status == 407);
    REQUIRE(anonymous.refusal->headers.size() == 1);
    CHECK(anonymous.refusal->headers[0].first == "Proxy-Authenticate");
    // Even to a host that would be refused: nobody learns the policy without credentials.
    const auto elsewhere = proxy::check_head(*config, {kind, "example.com", 443, nullptr, ""});
    REQUIRE(elsewhere.refusal);
    CHECK(elsewhere.refusal->status == 407);
    const auto known = proxy::check_head(*config, {kind, "api.openai.com", 443, openai, k_team_a});
    CHECK_FALSE(known.refusal);
    CHECK(known.user == "team-a");
  }
}

TEST_CASE("head stage: ports and unknown hosts") {
  const auto config = load("tunnel: { unknown_hosts: deny, allowed_ports: [443, 8443] }\n");
  const auto* openai = config->provider_for_host("api.openai.com");
  using proxy::HeadKind;
  SUBCASE("a provider host on an allowed port passes, anonymous when auth is not required") {
    const auto v =
        proxy::check_head(*config, {HeadKind::connect, "api.openai.com", 443, openai, ""});
    CHECK_FALSE(v.refusal);
    CHECK(v.user.empty());
  }
  SUBCASE("a port outside tunnel.allowed_ports is refused for CONNECT and plain HTTP alike") {
    for (const auto kind : {HeadKind::connect, HeadKind::plain_http}) {
      const auto v = proxy::check_head(*config, {kind, "api.openai.com", 6379, openai, ""});
      REQUIRE(v.refusal);
      CHECK(v.refusal->status == 403);
      CHECK(v.refusal->message.find("tunnel.allowed_ports") != std::string::npos);
    }
  }
  SUBCASE("port 80 is the plain-HTTP scheme's own, not a CONNECT's") {
    CHECK_FALSE(proxy::check_head(*config, {HeadKind::plain_http, "api.openai.com", 80, openai, ""})
                    .refusal);
    CHECK(
        proxy::check_head(*config, {HeadKind::connect, "api.openai.com", 80, openai, ""}).refusal);
  }
  SUBCASE("a host no provider owns, with unknown_hosts: deny") {
    const auto v = proxy::check_head(*config, {HeadKind::connect, "example.com", 443, nullptr, ""});
    REQUIRE(v.refusal);
    CHECK(v.refusal->status == 403);
    CHECK(v.refusal->message == "host example.com is not allowed (tunnel.unknown_hosts: deny)");
  }
}

TEST_CASE("head stage: unknown hosts pass when the config allows them") {
  const auto config = load("tunnel: { unknown_hosts: allow }\n");
  CHECK_FALSE(
      proxy::check_head(*config, {proxy::HeadKind::connect, "example.com", 443, nullptr, ""})
          .refusal);
}

TEST_CASE("head stage: a wrong password is refused even when auth is optional") {
  const auto config = load("clients: { users: { team-a: s3cret } }\n");
  // "Basic " + base64("team-a:wrong")
  const auto v = proxy::check_head(*config, {proxy::HeadKind::plain_http, "api.openai.com", 80,
                                             nullptr, "Basic dGVhbS1hOndyb25n"});
  REQUIRE(v.refusal);
  CHECK(v.refusal->status == 407);
}
