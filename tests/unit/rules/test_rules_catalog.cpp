// The shipped catalog: today's models at their sourced prices, the date its prices were checked
// (and the warning of `tollgate check` when that is old), and every form of key a client sends.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "rules/commands.hpp"
#include "rules/config_loader.hpp"
#include "rules/credential.hpp"
#include "rules_catalog_support.hpp"

using rules_test::catalog;
using rules_test::provider;

namespace fs = std::filesystem;
using namespace std::chrono;

namespace {

const rules::ModelPrice& model(const char* provider_name, const char* name) {
  const auto& models = provider(provider_name).models;
  const auto it = models.find(name);
  REQUIRE_MESSAGE(it != models.end(), provider_name << " lists no " << name);
  return it->second;
}

std::string write_temp(const std::string& name, std::string_view text) {
  const auto path =
      fs::temp_directory_path() / ("tollgate-catalog-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(path) << text;
  return path.string();
}

system_clock::time_point at(int y, unsigned m, unsigned d) {
  return sys_days{year{y} / month{m} / day{d}} + hours{12};
}

}  // namespace

TEST_CASE("catalog, current models at LiteLLM's 2026-07-24 prices (micro-units per 1M)") {
  SUBCASE("Anthropic") {
    const auto& opus = model("anthropic", "claude-opus-4-6");
    CHECK(opus.input == 5'000'000);
    CHECK(opus.cached_input == 500'000);
    CHECK(opus.cache_write == 6'250'000);
    CHECK(opus.output == 25'000'000);
    CHECK(opus.max_output == 128'000);
    const auto& sonnet = model("anthropic", "claude-sonnet-4-6");
    CHECK(sonnet.input == 3'000'000);
    CHECK(sonnet.output == 15'000'000);
    CHECK(sonnet.max_output == 64'000);
    CHECK(model("anthropic", "claude-sonnet-4-5").input_long == 6'000'000);
    CHECK(model("anthropic", "claude-sonnet-4-5").output_long == 22'500'000);
    for (const char* name :
         {"claude-opus-4-5", "claude-opus-4-1", "claude-haiku-4-5", "claude-sonnet-4"})
      CHECK_MESSAGE(provider("anthropic").models.contains(name), name);
  }
  SUBCASE("OpenAI, with the above-272K tier") {
    const auto& gpt54 = model("openai", "gpt-5.4");
    CHECK(gpt54.input == 2'500'000);
    CHECK(gpt54.cached_input == 250'000);
    CHECK(gpt54.output == 15'000'000);
    CHECK(gpt54.long_context_threshold == 272'000);
    CHECK(gpt54.input_long == 5'000'000);
    CHECK(gpt54.output_long == 22'500'000);
    CHECK(model("openai", "gpt-5.2").input == 1'750'000);
    CHECK(model("openai", "gpt-5.2").output == 14'000'000);
    CHECK(model("openai", "gpt-5.4-mini").output == 4'500'000);
    CHECK(model("openai", "gpt-5.4-nano").input == 200'000);
    CHECK(model("openai", "gpt-5.2-pro").output == 168'000'000);
    CHECK(model("openai", "gpt-4o-2024-05-13").input == 5'000'000);
  }
  SUBCASE("Gemini, with the above-200K tier") {
    const auto& pro = model("gemini", "gemini-3.1-pro-preview");
    CHECK(pro.input == 2'000'000);
    CHECK(pro.output == 12'000'000);
    CHECK(pro.long_context_threshold == 200'000);
    CHECK(pro.input_long == 4'000'000);
    CHECK(pro.output_long == 18'000'000);
    CHECK(model("gemini", "gemini-flash-latest").cached_input == 75'000);
    CHECK(model("gemini", "gemini-pro-latest").output_long == 15'000'000);
    CHECK(model("gemini", "gemini-2.0-flash-lite").cached_input == 18'750);
  }
}

TEST_CASE("catalog, checked date") {
  SUBCASE("the shipped catalog states when its prices were checked") {
    REQUIRE(catalog().catalog_checked);
    CHECK(*catalog().catalog_checked == sys_days{2026y / December / 2});
    CHECK(catalog().catalog_age_days(at(2026, 12, 2)) == 0);
    CHECK(catalog().catalog_age_days(at(2027, 3, 2)) == 90);
  }
  SUBCASE("the oldest date of the files included wins") {
    const auto old_rules =
        write_temp("old.yaml", "checked: 2026-01-15\nproviders: { openai: { models: {} } }\n");
    const auto main = write_temp("main.yaml", "include: [catalog:openai, " + old_rules + "]\n");
    const auto loaded = rules::load_config_file(main);
    REQUIRE(loaded.errors.empty());
    CHECK(*loaded.config->catalog_checked == sys_days{2026y / January / 15});
    CHECK(loaded.config->catalog_checked_file == old_rules);
    fs::remove(old_rules);
    fs::remove(main);
  }
  SUBCASE("no file states a date") {
    const auto loaded = rules::load_config_text("include: [catalog:keepa]\n", "t.yaml", "/tmp");
    REQUIRE(loaded.errors.empty());
    CHECK_FALSE(loaded.config->catalog_checked);
    CHECK(loaded.config->catalog_age_days(at(2030, 1, 1)) == std::nullopt);
  }
  SUBCASE("errors") {
    const auto bad = write_temp("bad.yaml", "checked: 2026-02-30\nproviders: {}\n");
    const auto main = write_temp("main-bad.yaml", "include: [" + bad + "]\nchecked: 2026-12-02\n");
    const auto loaded = rules::load_config_file(main);
    REQUIRE(loaded.errors.size() == 2);
    CHECK(loaded.errors[0].str() ==
          bad + ":1:10: 'checked' must be a date like 2026-12-02, got '2026-02-30'");
    CHECK(loaded.errors[1].str() ==
          main +
              ":2:10: 'checked' dates the prices of a catalog file: this file defines no "
              "providers");
    fs::remove(bad);
    fs::remove(main);
  }
}

TEST_CASE("check_command, warns when the catalog is older than 90 days") {
  std::ostringstream out, err;
  const auto path = write_temp("check.yaml", "include: [catalog:openai]\n");
  SUBCASE("90 days: no warning") {
    CHECK(rules::check_command(path, out, err, at(2027, 3, 2)) == 0);
    CHECK(err.str() == "");
  }
  SUBCASE("91 days: a warning, still valid") {
    CHECK(rules::check_command(path, out, err, at(2027, 3, 3)) == 0);
    CHECK(out.str().starts_with(path + ": valid ("));
    CHECK(err.str() ==
          "warning: the prices in catalog:openai were checked on 2026-12-02, 91 days ago: "
          "providers change prices and add models; use a newer tollgate or update the catalog\n");
  }
  fs::remove(path);
}

TEST_CASE("key_id and credential_id, every form of key") {
  const rules::HeaderList none;
  auto view_of = [](const rules::HeaderList& headers, std::string_view query = {}) {
    rules::RequestView view;
    view.method = "POST";
    view.host = "api.anthropic.com";
    view.path = "/v1/messages";
    view.query = query;
    view.headers = &headers;
    return view;
  };
  const auto& anthropic = provider("anthropic");
  const auto& gemini = provider("gemini");
  SUBCASE("the same key as x-api-key and as Authorization: Bearer gets the same id") {
    const rules::HeaderList as_header{{"x-api-key", "sk-ant-one"}};
    const rules::HeaderList as_bearer{{"Authorization", "Bearer sk-ant-one"}};
    const auto id = rules::credential_id(anthropic, view_of(as_header));
    CHECK(id.size() == 16);
    CHECK(id == rules::credential_id(anthropic, view_of(as_bearer)));
    CHECK(id == rules::key_id("sk-ant-one"));
    CHECK(id == rules::key_id("bearer  sk-ant-one "));
  }
  SUBCASE("two keys as Authorization: Bearer get two ids") {
    const rules::HeaderList one{{"authorization", "Bearer sk-ant-one"}};
    const rules::HeaderList two{{"authorization", "Bearer sk-ant-two"}};
    const auto a = rules::credential_id(anthropic, view_of(one));
    const auto b = rules::credential_id(anthropic, view_of(two));
    CHECK_FALSE(a.empty());
    CHECK_FALSE(b.empty());
    CHECK(a != b);
  }
  SUBCASE("the first form present wins") {
    const rules::HeaderList both{{"authorization", "Bearer other"}, {"x-api-key", "sk-ant-one"}};
    CHECK(rules::credential_id(anthropic, view_of(both)) == rules::key_id("sk-ant-one"));
  }
  SUBCASE("Gemini: x-goog-api-key, ?key= and Authorization: Bearer") {
    const rules::HeaderList goog{{"x-goog-api-key", "AIza-k"}};
    const rules::HeaderList bearer{{"authorization", "Bearer AIza-k"}};
    const auto id = rules::key_id("AIza-k");
    CHECK(rules::credential_id(gemini, view_of(goog)) == id);
    CHECK(rules::credential_id(gemini, view_of(none, "alt=sse&key=AIza-k")) == id);
    CHECK(rules::credential_id(gemini, view_of(bearer)) == id);
  }
  SUBCASE("no key, an empty key, a bare Bearer") {
    const rules::HeaderList bare{{"authorization", "Bearer "}};
    CHECK(rules::credential_id(anthropic, view_of(none)) == "");
    CHECK(rules::credential_id(anthropic, view_of(bare)) == "");
    CHECK(rules::key_id("") == "");
  }
  SUBCASE("the id is SHA-256's first 8 bytes in hex") {
    // printf %s abc | sha256sum -> ba7816bf8f01cfea414140de5dae2223...
    CHECK(rules::key_id("abc") == "ba7816bf8f01cfea");
    CHECK(rules::key_id("Bearer abc") == "ba7816bf8f01cfea");
  }
}
