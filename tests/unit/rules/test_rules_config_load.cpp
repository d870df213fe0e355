// Includes, overrides by name, path resolution, the LiteLLM import, the shipped catalog and the
// embedded defaults.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "rules/config_loader.hpp"
#include "rules/config_sections.hpp"
#include "rules/embedded_catalog.hpp"

namespace fs = std::filesystem;

namespace {

// A fresh folder under the system temp dir, removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("tollgate-rules-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static int& counter() {
    static int n = 0;
    return n;
  }
  void write(const std::string& name, std::string_view text) const {
    fs::create_directories((path / name).parent_path());
    std::ofstream(path / name) << text;
  }
  std::string at(const std::string& name) const { return (path / name).string(); }
};

// All problems of a load, one per line: empty when the file is valid.
std::string problems(const rules::LoadResult& result) {
  std::string out;
  for (const auto& e : result.errors) out += e.str() + "\n";
  return out;
}

const rules::Provider& provider(const rules::Config& c, const std::string& name) {
  for (const auto& p : c.providers)
    if (p.name == name) return p;
  FAIL("no provider " << name);
  throw 0;
}

}  // namespace

TEST_CASE("load_config_file, includes and overrides") {
  TempDir dir;
  dir.write("main.yaml", R"(include: [rules/base.yaml]
data_dir: data
providers:
  acme:
    endpoints:
      - { name: ping, path: /ping, cost: 2 }
    models:
      m1: { input: 5, output: 6, max_output: 10 }
budgets:
  - { name: daily, currency: usd, limit: 7 }
)");
  dir.write("rules/base.yaml", R"(include: [more.yaml]
providers:
  acme:
    hosts: [API.Acme.Test]
    currency: usd
    endpoints:
      - { name: chat, path: /chat, pricing: tokens, model: body:/model }
      - { name: ping, path: /ping, cost: 1 }
    models:
      m1: { input: 1, output: 2 }
      m2: { input: 3, output: 4 }
budgets:
  - { name: daily, currency: usd, limit: 50 }
  - { name: weekly, currency: usd, limit: 100, period: week }
)");
  dir.write("rules/more.yaml", "tls: { ca_cert: certs/ca.pem }\n");

  const auto result = rules::load_config_file(dir.at("main.yaml"));
  REQUIRE(result.errors.empty());
  const auto& c = *result.config;
  SUBCASE("later definitions win by name, the rest of the included provider stays") {
    const auto& acme = provider(c, "acme");
    CHECK(acme.hosts == std::vector<std::string>{"api.acme.test"});
    REQUIRE(acme.endpoints.size() == 2);
    CHECK(acme.endpoints[0].name == "chat");
    CHECK(acme.endpoints[1].cost == 2'000'000);
    CHECK(acme.models.at("m1").input == 5'000'000);
    CHECK(acme.models.at("m2").input == 3'000'000);
    REQUIRE(c.budgets.size() == 2);
    CHECK(c.budgets[0].name == "daily");
    CHECK(c.budgets[0].limit == 7'000'000);
    CHECK(c.budgets[1].period.kind == rules::Period::Kind::week);
  }
  SUBCASE("relative paths resolve from the file that wrote them; defaults from data_dir") {
    CHECK(c.data_dir == dir.at("data"));
    CHECK(c.store.path == dir.at("data/ledger.db"));
    CHECK(c.tls.ca_cert == dir.at("rules/certs/ca.pem"));
    CHECK(c.tls.ca_key == dir.at("data/ca/ca.key"));
    CHECK(c.source_file == dir.at("main.yaml"));
    CHECK(c.included_files ==
          std::vector<std::string>{dir.at("rules/base.yaml"), dir.at("rules/more.yaml")});
  }
}

TEST_CASE("load_config_file, include problems") {
  TempDir dir;
  SUBCASE("a missing file") {
    dir.write("main.yaml", "include:\n  - nope.yaml\n");
    const auto result = rules::load_config_file(dir.at("main.yaml"));
    REQUIRE(result.errors.size() == 1);
    CHECK(result.errors[0].str() ==
          dir.at("main.yaml") + ":2:5: cannot read included file '" + dir.at("nope.yaml") + "'");
  }
  SUBCASE("a cycle") {
    dir.write("a.yaml", "include: [b.yaml]\n");
    dir.write("b.yaml", "include: [a.yaml]\n");
    const auto result = rules::load_config_file(dir.at("a.yaml"));
    REQUIRE(result.errors.size() == 1);
    CHECK(result.errors[0].str() ==
          dir.at("b.yaml") + ":1:11: include cycle: '" + dir.at("a.yaml") + "' includes itself");
  }
  SUBCASE("an unknown shipped catalog") {
    const auto result = rules::load_config_text("include: [catalog:opnai]\n", "t.yaml", "/tmp");
    REQUIRE(result.errors.size() == 1);
    CHECK(result.errors[0].str() == "t.yaml:1:11: no shipped catalog named 'opnai'");
  }
  SUBCASE("the main file itself missing") {
    const auto result = rules::load_config_file(dir.at("absent.yaml"));
    REQUIRE(result.errors.size() == 1);
    CHECK(result.errors[0].str() ==
          dir.at("absent.yaml") + ": cannot read file '" + dir.at("absent.yaml") + "'");
  }
}

TEST_CASE("litellm_price_per_million, exact decimal conversion") {
  using rules::detail::litellm_price_per_million;
  CHECK(litellm_price_per_million("3e-06") == 3'000'000);
  CHECK(litellm_price_per_million("1.5e-07") == 150'000);
  CHECK(litellm_price_per_million("0.0000025") == 2'500'000);
  CHECK(litellm_price_per_million("1E-5") == 10'000'000);
  CHECK(litellm_price_per_million("2.25e-05") == 22'500'000);
  CHECK(litellm_price_per_million("0") == 0);
  CHECK(litellm_price_per_million("1e-13") == 1);  // 0.1 micro-unit rounds up, never down
  CHECK_FALSE(litellm_price_per_million("abc"));
  CHECK_FALSE(litellm_price_per_million("-1e-6"));
}

TEST_CASE("load_config_text, prices_file imports LiteLLM's table") {
  const std::string yaml = R"(providers:
  acme:
    hosts: [api.acme.test]
    currency: usd
    endpoints:
      - { name: chat, path: /chat, pricing: tokens, model: body:/model }
    models:
      gpt-4o-mini: { input: 9, output: 9, max_output: 9 }
    prices_file: rules/litellm_prices.json
    litellm_provider: [openai, anthropic, gemini]
)";
  SUBCASE("models in YAML win, the others come from the file, exactly") {
    const auto result = rules::load_config_text(yaml, "t.yaml", TOLLGATE_TEST_DATA);
    REQUIRE(result.errors.empty());
    const auto& models = result.config->providers[0].models;
    CHECK(models.at("gpt-4o-mini").input == 9'000'000);
    const auto& sonnet = models.at("claude-sonnet-4-5");
    CHECK(sonnet.input == 3'000'000);
    CHECK(sonnet.output == 15'000'000);
    CHECK(sonnet.cache_write == 3'750'000);
    CHECK(sonnet.cached_input == 300'000);
    CHECK(sonnet.input_long == 6'000'000);
    CHECK(sonnet.output_long == 22'500'000);
    CHECK(sonnet.long_context_threshold == 200'000);
    CHECK(sonnet.max_output == 64'000);
    CHECK(models.at("gemini-2.5-flash").output == 2'500'000);  // bare name of gemini/...
    CHECK(models.at("gemini-2.5-flash").max_output == 65'535);
    CHECK(models.count("gemini/gemini-2.5-flash") == 0);
    CHECK(models.at("my-finetune").max_output == 4'096);  // from max_tokens
    CHECK(models.count("tiny-model") == 0);               // no litellm_provider: prices no provider
    CHECK(models.count("dall-e-3") == 0);                 // priced per pixel: nothing to import
    CHECK(models.count("sample_spec") == 0);
  }
  SUBCASE("without litellm_provider, a provider of no known host takes the entries of its name") {
    const auto result = rules::load_config_text(yaml.substr(0, yaml.find("    litellm_provider")),
                                                "t.yaml", TOLLGATE_TEST_DATA);
    REQUIRE(result.errors.empty());
    CHECK(result.config->providers[0].models.size() == 1);  // its own gpt-4o-mini only
  }
  SUBCASE("a missing file is reported at the key") {
    const auto result = rules::load_config_text(yaml, "t.yaml", "/nonexistent");
    REQUIRE(result.errors.size() == 1);
    CHECK(result.errors[0].str() ==
          "t.yaml:9:18: cannot read prices_file '/nonexistent/rules/litellm_prices.json'");
  }
}

TEST_CASE("embedded catalog and defaults, zero errors") {
  SUBCASE("every shipped catalog file loads on its own") {
    const auto names = rules::embedded_catalog_names();
    CHECK(names == std::vector<std::string_view>{"anthropic", "gemini", "keepa", "openai", "veo"});
    for (const auto name : names) {
      CAPTURE(name);
      const auto result = rules::load_config_text("include: [catalog:" + std::string(name) + "]\n",
                                                  "t.yaml", "/tmp");
      CHECK(problems(result) == "");
    }
  }
  SUBCASE("the catalog files in the source tree match and load by path") {
    for (const auto name : rules::embedded_catalog_names()) {
      const auto path =
          std::string(TOLLGATE_SOURCE_DIR) + "/rules/catalog/" + std::string(name) + ".yaml";
      CAPTURE(path);
      CHECK(problems(rules::load_config_file(path)) == "");
    }
  }
  SUBCASE("the embedded defaults: DESIGN §5") {
    const auto result = rules::load_embedded_defaults("/srv/app");
    REQUIRE(result.errors.empty());
    const auto& c = *result.config;
    CHECK(c.source_file == "<embedded>");
    CHECK(c.listen.host == "127.0.0.1");
    CHECK(c.listen.port == 8080);
    CHECK(c.admin.listen.port == 9090);
    CHECK(c.data_dir == "/srv/app/tollgate-data");
    CHECK(c.store.type == rules::StoreConfig::Type::sqlite);
    CHECK(c.store.path == "/srv/app/tollgate-data/ledger.db");
    CHECK(c.tls.ca_cert == "/srv/app/tollgate-data/ca/ca.crt");
    CHECK(c.tunnel.allowed_ports == std::vector<std::uint16_t>{443});
    CHECK(c.providers.size() == 5);
    REQUIRE(c.budgets.size() == 1);
    CHECK(c.budgets[0].name == "daily");
    CHECK(c.budgets[0].limit == 50'000'000);
    CHECK(c.budgets[0].currency == "usd");
    CHECK(c.budgets[0].alerts == std::vector<int>{80, 90, 100});
    CHECK(c.provider_for_host("api.openai.com")->name == "openai");
    CHECK(c.provider_for_host("API.KEEPA.COM")->name == "keepa");
    CHECK(c.provider_for_host("example.com") == nullptr);
  }
  SUBCASE("config.example.yaml at the repository root is valid") {
    const auto result =
        rules::load_config_file(std::string(TOLLGATE_SOURCE_DIR) + "/config.example.yaml");
    CHECK(problems(result) == "");
  }
}

TEST_CASE("Config::provider_for_base_path, DESIGN §14") {
  const auto result = rules::load_config_text(R"(include: [catalog:openai, catalog:gemini]
providers:
  gemini: { base_path: google }
)",
                                              "t.yaml", "/tmp");
  REQUIRE(result.errors.empty());
  const auto& c = *result.config;
  SUBCASE("a provider's name") {
    REQUIRE(c.provider_for_base_path("openai"));
    CHECK(c.provider_for_base_path("openai")->name == "openai");
  }
  SUBCASE("a declared base_path, and the name still") {
    REQUIRE(c.provider_for_base_path("google"));
    CHECK(c.provider_for_base_path("google")->name == "gemini");
    CHECK(c.provider_for_base_path("gemini")->name == "gemini");
  }
  SUBCASE("anything else, compared byte for byte") {
    CHECK(c.provider_for_base_path("") == nullptr);
    CHECK(c.provider_for_base_path("v1") == nullptr);
    CHECK(c.provider_for_base_path("OpenAI") == nullptr);
    CHECK(c.provider_for_base_path("keepa") == nullptr);
  }
}

TEST_CASE("load_config_text, base_url.cors_origins") {
  const auto load = [](std::string_view yaml) {
    auto result = rules::load_config_text(yaml, "t.yaml", "/tmp");
    REQUIRE(result.errors.empty());
    return result.config->base_url.cors_origins;
  };
  using Origins = std::vector<std::string>;
  SUBCASE("none by default") {
    CHECK(load("listen: 127.0.0.1:8080\n").empty());
  }
  SUBCASE("as a browser spells them: scheme and host lower case, each once") {
    CHECK(load(R"(base_url:
  cors_origins: ["http://localhost:3000", "HTTPS://App.Example", "http://[::1]:5173",
                 "http://localhost:3000"]
)") == Origins{"http://localhost:3000", "https://app.example", "http://[::1]:5173"});
  }
  SUBCASE("one origin without brackets, '*' alone, an empty list and an empty key") {
    CHECK(load("base_url: { cors_origins: http://127.0.0.1:8000 }\n") ==
          Origins{"http://127.0.0.1:8000"});
    CHECK(load("base_url: { cors_origins: [\"*\"] }\n") == Origins{"*"});
    CHECK(load("base_url: { cors_origins: [] }\n").empty());
    CHECK(load("base_url: { cors_origins: }\n").empty());
  }
}
