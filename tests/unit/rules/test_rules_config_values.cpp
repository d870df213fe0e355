// The scalar forms of the config, path patterns, and model lookup.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>

#include "rules/config.hpp"
#include "rules/config_values.hpp"
#include "rules/matcher.hpp"

using namespace std::chrono_literals;

TEST_CASE("parse_duration, units and malformed text") {
  CHECK(rules::parse_duration("500ms") == 500ms);
  CHECK(rules::parse_duration("30s") == 30s);
  CHECK(rules::parse_duration("10m") == 10min);
  CHECK(rules::parse_duration("1h") == 1h);
  CHECK(rules::parse_duration("7d") == 168h);
  CHECK_FALSE(rules::parse_duration("5"));
  CHECK_FALSE(rules::parse_duration("1.5h"));
  CHECK_FALSE(rules::parse_duration("h"));
  CHECK_FALSE(rules::parse_duration("-1s"));
  CHECK_FALSE(rules::parse_duration("3w"));
}

TEST_CASE("parse_percentage, bounds") {
  CHECK(rules::parse_percentage("80%") == 80);
  CHECK(rules::parse_percentage("0%") == 0);
  CHECK(rules::parse_percentage("150%") == 150);
  CHECK_FALSE(rules::parse_percentage("80"));
  CHECK_FALSE(rules::parse_percentage("%"));
  CHECK_FALSE(rules::parse_percentage("8.5%"));
  CHECK_FALSE(rules::parse_percentage("1001%"));
}

TEST_CASE("parse_value_ref, sources") {
  using S = rules::ValueRef::Source;
  SUBCASE("body pointer") {
    const auto ref = rules::parse_value_ref("body:/usage/prompt_tokens");
    REQUIRE(ref);
    CHECK(ref->source == S::body);
    CHECK(ref->key == "/usage/prompt_tokens");
    CHECK(ref->text == "body:/usage/prompt_tokens");
  }
  SUBCASE("header names are lower-cased") {
    const auto ref = rules::parse_value_ref("header:X-Api-Key");
    REQUIRE(ref);
    CHECK(ref->source == S::header);
    CHECK(ref->key == "x-api-key");
  }
  SUBCASE("query, path and literal") {
    CHECK(rules::parse_value_ref("query:asin")->source == S::query);
    CHECK(rules::parse_value_ref("path:model")->source == S::path);
    CHECK(rules::parse_value_ref("gpt-4o")->source == S::literal);
  }
  SUBCASE("malformed") {
    CHECK_FALSE(rules::parse_value_ref("body:model"));
    CHECK_FALSE(rules::parse_value_ref("query:"));
    CHECK_FALSE(rules::parse_value_ref(""));
  }
}

TEST_CASE("parse_host_port, forms") {
  CHECK(rules::parse_host_port("127.0.0.1:8080")->port == 8080);
  CHECK(rules::parse_host_port("[::1]:9090")->host == "::1");
  CHECK_FALSE(rules::parse_host_port("localhost"));
  CHECK_FALSE(rules::parse_host_port("host:99999"));
  CHECK_FALSE(rules::parse_host_port("::1:80"));
}

TEST_CASE("protect_env_refs and expand_env, round trip") {
  ::setenv("TOLLGATE_TEST_A", "alpha", 1);
  ::setenv("TOLLGATE_TEST_EMPTY", "", 1);
  ::unsetenv("TOLLGATE_TEST_NONE");
  std::string error;
  SUBCASE("same length, only well-formed references") {
    CHECK(rules::protect_env_refs("a: ${X} b: ${X:-d} c: ${} d: $ {X} e: ${1X}") ==
          "a: $<X> b: $<X:-d> c: ${} d: $ {X} e: ${1X}");
  }
  SUBCASE("set, default, empty with default, literal text around") {
    CHECK(rules::expand_env("pre-$<TOLLGATE_TEST_A>-post", error) == "pre-alpha-post");
    CHECK(rules::expand_env("$<TOLLGATE_TEST_NONE:-x y>", error) == "x y");
    CHECK(rules::expand_env("$<TOLLGATE_TEST_EMPTY:-fallback>", error) == "fallback");
    CHECK(rules::expand_env("$<TOLLGATE_TEST_EMPTY>", error) == "");
    CHECK(rules::expand_env("cost $5", error) == "cost $5");
  }
  SUBCASE("unset without default") {
    CHECK_FALSE(rules::expand_env("$<TOLLGATE_TEST_NONE>", error));
    CHECK(error ==
          "environment variable 'TOLLGATE_TEST_NONE' is not set (write "
          "${TOLLGATE_TEST_NONE:-default} to allow that)");
  }
}

TEST_CASE("did_you_mean, closeness") {
  const std::vector<std::string_view> keys{"listen", "limit", "pricing", "period"};
  CHECK(rules::did_you_mean("lisen", keys) == "listen");
  CHECK(rules::did_you_mean("pricng", keys) == "pricing");
  CHECK(rules::did_you_mean("zzz", keys) == "");
  CHECK(rules::did_you_mean("ab", {"ax"}) == "");  // one of two letters: not a typo
}

TEST_CASE("match_path, literals, captures and rest") {
  rules::Captures captures;
  SUBCASE("a capture stops at a literal and keeps dots and dashes") {
    CHECK(rules::match_path("/{v}/models/{model}:generateContent",
                            "/v1beta/models/gemini-2.5-pro:generateContent", &captures));
    CHECK(captures == rules::Captures{{"v", "v1beta"}, {"model", "gemini-2.5-pro"}});
  }
  SUBCASE("a capture never crosses '/' and is never empty") {
    CHECK_FALSE(rules::match_path("/models/{model}:run", "/models/a/b:run", &captures));
    CHECK_FALSE(rules::match_path("/models/{model}:run", "/models/:run", &captures));
    CHECK(captures.empty());
  }
  SUBCASE("a literal path matches exactly") {
    CHECK(rules::match_path("/product", "/product", nullptr));
    CHECK_FALSE(rules::match_path("/product", "/products", nullptr));
    CHECK_FALSE(rules::match_path("/v1/messages", "/v1/messages/count_tokens", nullptr));
  }
  SUBCASE("a trailing star matches any rest") {
    CHECK(rules::match_path("/v1/files/*", "/v1/files/abc/content", nullptr));
    CHECK(rules::match_path("/v1/files/*", "/v1/files/", nullptr));
  }
}

TEST_CASE("Provider::price_for_model, aliases") {
  rules::Provider p;
  p.models["gpt-4o"].input = 1;
  p.models["claude-sonnet-4-5"].input = 2;
  SUBCASE("exact, dated and models/ prefixed names") {
    CHECK(p.price_for_model("gpt-4o")->input == 1);
    CHECK(p.price_for_model("gpt-4o-2024-08-06")->input == 1);
    CHECK(p.price_for_model("claude-sonnet-4-5-20250929")->input == 2);
    CHECK(p.price_for_model("models/gpt-4o")->input == 1);
  }
  SUBCASE("a longer family name is not its prefix's") {
    CHECK(p.price_for_model("gpt-4o-mini") == nullptr);
  }
  SUBCASE("unknown_model price") {
    p.unknown_model.policy = rules::UnknownModel::Policy::price;
    p.unknown_model.price = rules::ModelPrice{};
    p.unknown_model.price->input = 9;
    CHECK(p.price_for_model("gpt-9")->input == 9);
  }
}

TEST_CASE("Config::provider_for_host, case-insensitive exact host") {
  rules::Config c;
  for (const auto& [name, hosts] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"alpha", {"api.a.test"}}, {"beta", {"b.test", "api.b.test"}}}) {
    rules::Provider p;
    p.name = name;
    p.hosts = hosts;
    c.providers.push_back(std::move(p));
  }
  CHECK(c.provider_for_host("API.B.TEST")->name == "beta");
  CHECK(c.provider_for_host("api.a.test")->name == "alpha");
  CHECK(c.provider_for_host("a.test") == nullptr);
  CHECK(c.provider_for_host("api.a.test.evil") == nullptr);
}
