// Every config problem is reported as FILE:LINE:COL: message, all of them, not just the first.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "rules/config_loader.hpp"

namespace doctest {
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& lines) {
    std::string out = "{";
    for (const auto& line : lines) out.append("\n  \"").append(line).append("\"");
    return String(out.append("}").c_str());
  }
};
}  // namespace doctest

namespace {

std::vector<std::string> errors_of(std::string_view yaml) {
  const auto result = rules::load_config_text(yaml, "t.yaml", "/tmp");
  std::vector<std::string> out;
  for (const auto& e : result.errors) out.push_back(e.str());
  CHECK((result.config == nullptr) == !out.empty());
  return out;
}

using Lines = std::vector<std::string>;

// A valid provider to hang budgets and endpoints on (lines 1-9).
constexpr std::string_view k_provider = R"(providers:
  acme:
    hosts: [api.acme.test]
    currency: usd
    endpoints:
      - { name: chat, method: POST, path: /v1/chat, pricing: tokens, model: body:/model }
      - { name: ping, path: /ping, cost: 0 }
    models:
      m1: { input: 1, output: 2, max_output: 100 }
)";

std::string with_provider(std::string_view rest) {
  return std::string(k_provider).append(rest);
}

}  // namespace

TEST_CASE("load_config_text, unknown keys") {
  SUBCASE("a typo gets a suggestion") {
    CHECK(errors_of("listn: 127.0.0.1:8080\n") ==
          Lines{"t.yaml:1:1: unknown key 'listn' in the config (did you mean 'listen'?)"});
  }
  SUBCASE("a word far from every key gets none") {
    CHECK(errors_of("frobnicate: 1\n") ==
          Lines{"t.yaml:1:1: unknown key 'frobnicate' in the config"});
  }
  SUBCASE("inside an endpoint, at the key's own position") {
    CHECK(errors_of(R"(providers:
  acme:
    hosts: [a.test]
    currency: usd
    endpoints:
      - { name: x, path: /x, cost: 1, pricng: flat }
)") == Lines{"t.yaml:6:39: unknown key 'pricng' in endpoint (did you mean 'pricing'?)"});
  }
  SUBCASE("in a model price") {
    CHECK(errors_of(with_provider("      m2: { input: 1, ouput: 2 }\n")) ==
          Lines{"t.yaml:10:23: unknown key 'ouput' in model 'm2' (did you mean 'output'?)"});
  }
  SUBCASE("a key written twice") {
    CHECK(errors_of("listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n") ==
          Lines{"t.yaml:2:1: duplicate key 'listen' in the config"});
  }
}

TEST_CASE("load_config_text, wrong types and bad values") {
  SUBCASE("providers must be a mapping") {
    CHECK(errors_of("providers: [a, b]\n") ==
          Lines{"t.yaml:1:12: 'providers' must be a mapping of provider name to provider"});
  }
  SUBCASE("budgets must be a list") {
    CHECK(errors_of("budgets: { name: x }\n") == Lines{"t.yaml:1:10: 'budgets' must be a list"});
  }
  SUBCASE("a mapping where a value belongs") {
    CHECK(errors_of("data_dir: { a: 1 }\n") ==
          Lines{"t.yaml:1:11: 'data_dir' must be a single value"});
  }
  SUBCASE("bad duration") {
    CHECK(errors_of("upstream: { connect_timeout: 5 seconds }\n") ==
          Lines{"t.yaml:1:30: 'connect_timeout' must be a duration like 500ms, 30s, 10m, 1h or 7d, "
                "got '5 seconds'"});
  }
  SUBCASE("bad amount, percentage, period and per in one budget: all four reported") {
    CHECK(errors_of(with_provider(R"(budgets:
  - name: daily
    currency: usd
    limit: 12.5.0
    period: daily
    per: team
    alerts: [80, 90%]
)")) == Lines{"t.yaml:13:12: 'limit' must be a decimal amount >= 0 with at most 6 decimals, got "
              "'12.5.0'",
              "t.yaml:14:13: 'period' must be hour, day, week, month, total or rolling:<duration>, "
              "got 'daily'",
              "t.yaml:15:10: 'per' must be client, credential, model, session or header:NAME, got "
              "'team'",
              "t.yaml:16:14: 'alerts' must be a percentage like 80%, got '80'"});
  }
  SUBCASE("an amount finer than a micro-unit") {
    CHECK(errors_of(with_provider("      m2: { input: 0.0000001 }\n")) ==
          Lines{"t.yaml:10:20: 'input' must be a decimal amount >= 0 with at most 6 decimals, got "
                "'0.0000001'"});
  }
  SUBCASE("a choice outside its set") {
    CHECK(errors_of("store: { type: postgres }\n") ==
          Lines{"t.yaml:1:16: 'type' must be memory, sqlite or redis, got 'postgres'"});
  }
  SUBCASE("listen without a port") {
    CHECK(errors_of("listen: localhost\n") ==
          Lines{"t.yaml:1:9: 'listen' must be HOST:PORT, got 'localhost'"});
  }
  SUBCASE("YAML syntax") {
    CHECK(errors_of("a: [1, 2\n") ==
          Lines{"t.yaml:2:1: YAML syntax: end of sequence flow not found"});
  }
  // A reload of hostile text is a config error, never a stack overflow.
  SUBCASE("100,000 nested flow sequences") {
    CHECK(errors_of("listen: " + std::string(100'000, '[')) ==
          Lines{"t.yaml:1:1: nesting deeper than 499 levels"});
  }
  SUBCASE("deep block nesting") {
    std::string yaml;
    for (int i = 0; i < 600; ++i) yaml += std::string(i, ' ') + "k:\n";
    CHECK(errors_of(yaml) == Lines{"t.yaml:499:501: nesting deeper than 499 levels"});
  }
}

TEST_CASE("load_config_text, cross checks") {
  SUBCASE("a budget in a currency no provider bills in") {
    CHECK(errors_of(with_provider("budgets:\n  - { name: eu, currency: eur, limit: 5 }\n")) ==
          Lines{"t.yaml:11:5: budget 'eu' uses currency 'eur' that no provider bills in"});
  }
  SUBCASE("a budget matching an unknown provider") {
    CHECK(
        errors_of(with_provider(
            "budgets:\n  - { name: d, currency: usd, limit: 5, match: { provider: acmee } }\n")) ==
        Lines{"t.yaml:11:5: budget 'd' matches unknown provider 'acmee'"});
  }
  SUBCASE("duplicate budget names in one file") {
    CHECK(errors_of(with_provider("budgets:\n  - { name: d, currency: usd, limit: 5 }\n"
                                  "  - { name: d, currency: usd, limit: 6 }\n")) ==
          Lines{"t.yaml:12:5: duplicate name 'd' in budgets"});
  }
  SUBCASE("duplicate endpoint names in one provider") {
    CHECK(errors_of(R"(providers:
  acme:
    hosts: [a.test]
    currency: usd
    endpoints:
      - { name: x, path: /x, cost: 1 }
      - { name: x, path: /y, cost: 1 }
)") == Lines{"t.yaml:7:9: duplicate endpoint name 'x' in provider 'acme'"});
  }
  SUBCASE("two endpoints that match the same requests") {
    CHECK(errors_of(R"(providers:
  g:
    hosts: [g.test]
    currency: usd
    endpoints:
      - { name: a, method: POST, path: "/models/{model}:run", cost: 1 }
      - { name: b, method: POST, path: "/models/{name}:run", cost: 2 }
)") == Lines{"t.yaml:7:9: endpoint 'b' matches the same requests as endpoint 'a' "
             "(POST /models/{}:run) in provider 'g'"});
  }
  SUBCASE("a host claimed by two providers") {
    CHECK(errors_of(with_provider("  other:\n    hosts: [API.acme.test]\n    currency: usd\n")) ==
          Lines{"t.yaml:11:5: host 'api.acme.test' is claimed by providers 'acme' and 'other'"});
  }
  SUBCASE("a missing price for the model an endpoint names") {
    CHECK(errors_of(R"(providers:
  one:
    hosts: [one.test]
    currency: usd
    endpoints:
      - { name: gen, path: /gen, pricing: tokens, model: big-model }
    models:
      small-model: { input: 1, output: 1 }
)") == Lines{"t.yaml:6:9: endpoint 'gen' of provider 'one' needs a price for model 'big-model' "
             "(add it under providers.one.models)"});
  }
  SUBCASE("token pricing on a provider without models") {
    CHECK(errors_of(R"(providers:
  bare:
    hosts: [bare.test]
    currency: usd
    endpoints:
      - { name: gen, path: /gen, pricing: tokens, model: body:/model }
)") == Lines{"t.yaml:6:9: endpoint 'gen' of provider 'bare' prices tokens by model but provider "
             "'bare' lists no models and no unknown_model price"});
  }
  SUBCASE("a path capture the pattern lacks") {
    CHECK(errors_of(R"(providers:
  g:
    hosts: [g.test]
    currency: usd
    unknown_model: { input: 1, output: 1 }
    endpoints:
      - { name: gen, path: /gen, pricing: tokens, model: path:model }
)") == Lines{"t.yaml:7:9: endpoint 'gen' of provider 'g' uses path:model but its path has no "
             "{model}"});
  }
  SUBCASE("a base_path that is not one URL-safe segment") {
    CHECK(errors_of("providers:\n  p: { hosts: [p.test], currency: usd, base_path: a/b }\n") ==
          Lines{"t.yaml:2:51: 'base_path' must be one path segment of letters, digits and -._~ "
                "(like 'openai'), got 'a/b'"});
    CHECK(errors_of("providers:\n  p: { hosts: [p.test], currency: usd, base_path: \"\" }\n") ==
          Lines{"t.yaml:2:51: 'base_path' must be one path segment of letters, digits and -._~ "
                "(like 'openai'), got ''"});
  }
  SUBCASE("two providers behind one base-URL prefix") {
    CHECK(errors_of(R"(providers:
  a: { hosts: [a.test], currency: usd, base_path: llm }
  b: { hosts: [b.test], currency: usd, base_path: llm }
  c: { hosts: [c.test], currency: usd, base_path: a }
)") == Lines{"t.yaml:3:6: base_path 'llm' is claimed by providers 'a' and 'b'",
             "t.yaml:2:6: provider 'c' has base_path 'a', the name of provider 'a'"});
  }
  SUBCASE("a provider without hosts or currency") {
    CHECK(errors_of("providers:\n  p: { default_cost: 1 }\n") ==
          Lines{"t.yaml:2:6: provider 'p' needs 'hosts'",
                "t.yaml:2:6: provider 'p' needs a 'currency'"});
  }
}

TEST_CASE("load_config_text, environment references") {
  ::setenv("TOLLGATE_TEST_SECRET", "s3cret", 1);
  ::unsetenv("TOLLGATE_TEST_UNSET");
  SUBCASE("set, defaulted, and inside a flow mapping") {
    const auto result = rules::load_config_text(
        "admin: { token: ${TOLLGATE_TEST_SECRET} }\n"
        "clients: { users: { team-a: ${TOLLGATE_TEST_UNSET:-fallback} } }\n"
        "listen: ${TOLLGATE_TEST_UNSET:-127.0.0.1}:${TOLLGATE_TEST_UNSET:-8181}\n",
        "t.yaml", "/tmp");
    REQUIRE(result.errors.empty());
    CHECK(result.config->admin.token == "s3cret");
    CHECK(result.config->clients.users.at("team-a") == "fallback");
    CHECK(result.config->listen.port == 8181);
  }
  SUBCASE("unset without a default is an error at the value") {
    CHECK(errors_of("admin:\n  token: ${TOLLGATE_TEST_UNSET}\n") ==
          Lines{"t.yaml:2:10: environment variable 'TOLLGATE_TEST_UNSET' is not set (write "
                "${TOLLGATE_TEST_UNSET:-default} to allow that)"});
  }
}

TEST_CASE("load_config_text, endpoint and model rules") {
  SUBCASE("problems of one endpoint list, all reported; a broken endpoint only once") {
    CHECK(errors_of(R"(providers:
  p:
    hosts: [p.test]
    currency: usd
    endpoints:
      - { name: a, path: v1/a, cost: 1 }
      - { path: /b, cost: 1 }
      - { name: c, path: /c }
      - { name: d, path: /d, pricing: flat }
      - { name: e, path: /e, pricing: tiered }
)") == Lines{"t.yaml:6:26: 'path' must start with '/', got 'v1/a'",
             "t.yaml:7:9: endpoint needs a 'name'",
             "t.yaml:8:9: endpoint 'c' needs a 'cost' or a 'pricing'",
             "t.yaml:10:39: 'pricing' must be flat, per_item, tokens, per_second, per_image or "
             "batch, "
             "got "
             "'tiered'",
             "t.yaml:9:9: endpoint 'd' of provider 'p' has pricing flat but no 'cost'"});
  }
  SUBCASE("service tier prices: each tier a mapping with an input and an output") {
    CHECK(
        errors_of(with_provider(R"(      m2: { input: 2, output: 4, tiers: { flex: { input: 1 } } }
      m3: { input: 2, output: 4, tiers: { priority: { input: 4, output: 8, batch: 1 } } }
      m4: { input: 2, output: 4, tiers: [flex] }
      m5: { input: 2, output: 4, tiers: { flex: { input: 1, output: cheap } } }
)")) == Lines{"t.yaml:10:49: tier 'flex' of model 'm2' needs an input and an output price",
              "t.yaml:11:76: unknown key 'batch' in tier 'priority' of model 'm3'",
              "t.yaml:12:41: 'tiers' must be a mapping of a service tier (flex, priority) to its "
              "prices",
              "t.yaml:13:69: 'output' must be a decimal amount >= 0 with at most 6 decimals, got "
              "'cheap'"});
  }
  SUBCASE("a flat endpoint without its cost is caught after loading") {
    CHECK(errors_of(R"(providers:
  p:
    hosts: [p.test]
    currency: usd
    endpoints:
      - { name: d, path: /d, pricing: flat }
)") == Lines{"t.yaml:6:9: endpoint 'd' of provider 'p' has pricing flat but no 'cost'"});
  }
  SUBCASE("a per-item cost without the reference") {
    CHECK(errors_of(R"(providers:
  p:
    hosts: [p.test]
    currency: usd
    endpoints:
      - { name: d, path: /d, cost: { each: 1 } }
)") == Lines{"t.yaml:6:9: endpoint 'd' of provider 'p' has pricing per_item but no 'cost: { "
             "per_item: ... }'"});
  }
  SUBCASE("a malformed value reference") {
    CHECK(errors_of(with_provider("      m2: { input: 1 }\n    credential: body:token\n")) ==
          Lines{"t.yaml:11:17: 'credential' must be body:/json/pointer, query:NAME, header:NAME, "
                "path:NAME or a value, got 'body:token'"});
  }
  SUBCASE("a long-context threshold without long prices") {
    CHECK(errors_of(with_provider("      m2: { input: 1, long_context_threshold: 1000 }\n")) ==
          Lines{"t.yaml:10:47: model 'm2' has a long_context_threshold but no input_long or "
                "output_long"});
  }
  SUBCASE("unknown_model is refuse or a price") {
    CHECK(errors_of(with_provider("    unknown_model: allow\n")) ==
          Lines{"t.yaml:10:20: 'unknown_model' must be refuse or dearest, got 'allow'"});
  }
  SUBCASE("error_cost is free or estimate") {
    CHECK(errors_of(with_provider("    error_cost: always\n")) ==
          Lines{"t.yaml:10:17: 'error_cost' must be free or estimate, got 'always'"});
  }
  SUBCASE("models must be a mapping") {
    CHECK(
        errors_of("providers:\n  p:\n    hosts: [p.test]\n    currency: usd\n    models: [a]\n") ==
        Lines{"t.yaml:5:13: 'models' must be a mapping"});
  }
}

TEST_CASE("load_config_text, settings, limits and breakers") {
  SUBCASE("ports, identify and webhook events") {
    CHECK(errors_of(R"(tunnel: { allowed_ports: [443, 70000, x] }
clients: { identify: cookie }
alerts: { webhooks: [ { url: "https://h.test", events: [threshold, paid] } ] }
)") == Lines{"t.yaml:1:32: 'allowed_ports' must hold ports 1-65535, got '70000'",
             "t.yaml:1:39: 'allowed_ports' must be a whole number >= 1, got 'x'",
             "t.yaml:2:22: 'identify' must be proxy-auth, header:NAME, source-ip or none, got "
             "'cookie'",
             "t.yaml:3:68: unknown event 'paid' (events: threshold, refused, would_refuse, "
             "balance_warning, breaker, admin, overrun, reload, error)"});
  }
  SUBCASE("a rate limit without a limit, and a window that is no duration") {
    CHECK(
        errors_of(with_provider(
            "rate_limits:\n  - { name: r, match: { provider: acme }, window: soon }\n")) ==
        Lines{
            "t.yaml:11:51: 'window' must be a duration like 500ms, 30s, 10m, 1h or 7d, got 'soon'",
            "t.yaml:11:5: rate limit 'r' needs 'requests' or 'tokens'"});
  }
  SUBCASE("a shared rate limit without a shared store") {
    CHECK(errors_of(with_provider("rate_limits:\n  - { name: r, requests: 5, shared: true }\n")) ==
          Lines{"t.yaml:11:5: rate limit 'r' is shared, which needs store.type: redis (a store "
                "several tollgates share)"});
    CHECK(errors_of(with_provider("rate_limits:\n  - { name: r, requests: 5, shared: maybe }\n"))
              .size() == 1);
  }
  SUBCASE("a breaker that is both kinds, and a spend breaker in an unknown currency") {
    CHECK(errors_of(with_provider(R"(breakers:
  - { name: both, currency: usd, limit: 1, failures: 3 }
  - { name: spend, currency: gold, limit: 1 }
)")) == Lines{
            "t.yaml:11:5: breaker 'both' must be either a spend breaker (currency, limit, window, "
            "cooldown) or an upstream-failure breaker (failures, successes, open_for)",
            "t.yaml:12:5: breaker 'spend' uses currency 'gold' that no provider bills in"});
  }
  SUBCASE("shared breakers: spend ones only, and on a shared store") {
    CHECK(errors_of(with_provider(R"(breakers:
  - { name: spike, currency: usd, limit: 1, shared: true }
  - { name: down, failures: 3, shared: true }
)")) == Lines{"t.yaml:11:5: breaker 'spike' is shared, which needs store.type: redis (a store "
              "several tollgates share)",
              "t.yaml:12:5: breaker 'down' is shared, but only spend breakers can be (an "
              "upstream-failure breaker follows the hosts this process reaches)"});
    const auto result = rules::load_config_text(
        with_provider("store: { type: redis }\nbreakers:\n  - { name: spike, currency: usd, "
                      "limit: 1, shared: true }\n"),
        "t.yaml", "/tmp");
    REQUIRE(result.errors.empty());
    CHECK(result.config->breakers.at(0).shared);
  }
  SUBCASE("a budget without currency and limit") {
    CHECK(errors_of(with_provider("budgets:\n  - { name: b }\n")) ==
          Lines{"t.yaml:11:5: budget 'b' needs a 'currency'",
                "t.yaml:11:5: budget 'b' needs a 'limit'"});
  }
  SUBCASE("a valid rolling period and sorted alerts") {
    const auto result = rules::load_config_text(
        with_provider("budgets:\n  - { name: b, currency: usd, limit: 1.5, period: rolling:6h, "
                      "alerts: [100%, 50%, 80%] }\n"),
        "t.yaml", "/tmp");
    REQUIRE(result.errors.empty());
    const auto& b = result.config->budgets.at(0);
    CHECK(b.limit == 1'500'000);
    CHECK(b.period.kind == rules::Period::Kind::rolling);
    CHECK(b.period.rolling == std::chrono::hours(6));
    CHECK(b.alerts == std::vector<int>{50, 80, 100});
  }
}

TEST_CASE("load_config_text, names and amounts that would break labels, paths or sums") {
  SUBCASE("a budget name outside the plain character set") {
    CHECK(errors_of(with_provider(R"(budgets:
  - { name: "da\"ily", currency: usd, limit: 5 }
)")) == Lines{"t.yaml:11:13: budget name 'da\"ily' must be 1 to 64 letters, digits, '-', '_', "
              "'.' or ':'"});
  }
  SUBCASE("a limit past the largest amount") {
    CHECK(errors_of(with_provider(R"(budgets:
  - { name: daily, currency: usd, limit: 9223372036853 }
)")) == Lines{"t.yaml:11:42: 'limit' must be at most 1000000000, got '9223372036853'"});
  }
}

TEST_CASE("load_config_text, base_url.cors_origins") {
  SUBCASE("an origin with a path, even a slash") {
    CHECK(errors_of("base_url: { cors_origins: [\"http://localhost:3000/\"] }\n") ==
          Lines{"t.yaml:1:28: 'cors_origins': 'http://localhost:3000/': an origin has no path "
                "(did you mean 'http://localhost:3000'?)"});
  }
  SUBCASE("a default port, which a browser leaves out") {
    CHECK(errors_of("base_url:\n  cors_origins:\n    - https://app.example:443\n") ==
          Lines{"t.yaml:3:7: 'cors_origins': 'https://app.example:443': a browser leaves the "
                "default port out (did you mean 'https://app.example'?)"});
  }
  SUBCASE("no scheme, another scheme, a bad port") {
    CHECK(errors_of(
              "base_url: { cors_origins: [localhost:3000, ftp://h.test, http://h.test:0] }\n") ==
          Lines{"t.yaml:1:28: 'cors_origins': 'localhost:3000': an origin is http:// or "
                "https://, a host and an optional port, like 'http://localhost:3000'",
                "t.yaml:1:44: 'cors_origins': 'ftp://h.test': an origin is http:// or https://, "
                "a host and an optional port, like 'http://localhost:3000'",
                "t.yaml:1:58: 'cors_origins': 'http://h.test:0': '0' is not a port"});
  }
  SUBCASE("null, which every sandboxed page sends") {
    CHECK(errors_of("base_url: { cors_origins: [\"null\"] }\n") ==
          Lines{"t.yaml:1:28: 'cors_origins': 'null': 'null' is the origin of every sandboxed "
                "page and file:// document, so any page can send it; serve the app from an "
                "http:// origin such as http://localhost:3000"});
  }
  SUBCASE("'*' beside other origins") {
    CHECK(errors_of("base_url: { cors_origins: [\"http://localhost:3000\", \"*\"] }\n") ==
          Lines{"t.yaml:1:53: 'cors_origins': '*' allows every page and must stand alone"});
  }
  SUBCASE("a mapping, and an unknown key with a suggestion") {
    CHECK(errors_of("base_url: { cors_origins: { a: b } }\n") ==
          Lines{"t.yaml:1:27: 'cors_origins' must be a list of origins, like "
                "[\"http://localhost:3000\"]"});
    CHECK(errors_of("base_url: { cors_origin: [\"http://localhost:3000\"] }\n") ==
          Lines{"t.yaml:1:13: unknown key 'cors_origin' in base_url (did you mean "
                "'cors_origins'?)"});
  }
}
