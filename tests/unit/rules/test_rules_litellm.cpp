// LiteLLM's price table as catalog prices (rules/litellm_prices): which entries price which
// provider, how a file entry yields to the catalog, and the comparison `tollgate prices import`
// prints. The acceptance test on the real table runs the binary
// (tests/integration/test_prices_import.py).
#include <doctest/doctest.h>

#include <string>

#include "rules/config_loader.hpp"
#include "rules/cost.hpp"
#include "rules/litellm_prices.hpp"

namespace {

// A table of the shapes LiteLLM's file has, small enough to check by hand.
const std::string k_table = R"({
  "sample_spec": {"input_cost_per_token": 0.0, "litellm_provider": "one of ..."},
  "gpt-5.4": {"litellm_provider": "openai", "mode": "chat", "max_tokens": 128000,
    "max_output_tokens": 128000, "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1.5e-05,
    "cache_read_input_token_cost": 2.5e-07, "input_cost_per_token_above_272k_tokens": 5e-06,
    "output_cost_per_token_above_272k_tokens": 2.25e-05,
    "cache_read_input_token_cost_above_272k_tokens": 5e-07, "input_cost_per_token_batches": 1.25e-06,
    "input_cost_per_token_flex": 1.25e-06, "output_cost_per_token_flex": 7.5e-06,
    "cache_read_input_token_cost_flex": 1.3e-07, "input_cost_per_token_priority": 5e-06,
    "output_cost_per_token_priority": 3e-05},
  "gpt-4o": {"litellm_provider": "openai", "mode": "chat", "max_output_tokens": 16384,
    "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
    "input_cost_per_token_priority": 4.25e-06},
  "gpt-4o-2024-08-06": {"litellm_provider": "openai", "mode": "chat", "max_output_tokens": 16384,
    "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05},
  "gpt-4o-2024-05-13": {"litellm_provider": "openai", "mode": "chat",
    "input_cost_per_token": 5e-06, "output_cost_per_token": 1.5e-05},
  "gpt-3.5-turbo-instruct": {"litellm_provider": "text-completion-openai", "mode": "completion",
    "max_tokens": 4096, "input_cost_per_token": 1.5e-06, "output_cost_per_token": 2e-06},
  "text-embedding-3-small": {"litellm_provider": "openai", "mode": "embedding", "max_tokens": 8191,
    "input_cost_per_token": 2e-08, "output_cost_per_token": 0.0},
  "sora-2-pro": {"litellm_provider": "openai", "mode": "video_generation",
    "output_cost_per_video_per_second": 0.3},
  "tts-1": {"litellm_provider": "openai", "mode": "audio_speech", "input_cost_per_character": 1.5e-05},
  "low/1024-x-1024/gpt-image-1": {"litellm_provider": "openai", "input_cost_per_image": 0.011,
    "input_cost_per_pixel": 1.0490417e-08},
  "1024-x-1024/dall-e-2": {"litellm_provider": "openai", "input_cost_per_pixel": 1.9e-08},
  "claude-opus-4-6": {"litellm_provider": "anthropic", "mode": "chat", "max_output_tokens": 128000,
    "input_cost_per_token": 5e-06, "output_cost_per_token": 2.5e-05,
    "cache_creation_input_token_cost": 6.25e-06, "cache_creation_input_token_cost_above_1hr": 1e-05,
    "cache_read_input_token_cost": 5e-07,
    "search_context_cost_per_query": {"search_context_size_low": 0.01, "search_context_size_high": 0.01}},
  "deepseek-v4-pro": {"litellm_provider": "deepseek", "mode": "chat",
    "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
  "gemini-2.0-flash-001": {"litellm_provider": "vertex_ai-language-models", "mode": "chat",
    "input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07},
  "gemini/gemini-2.0-flash-001": {"litellm_provider": "gemini", "mode": "chat",
    "max_output_tokens": 8192, "input_cost_per_token": 1e-07, "output_cost_per_token": 4e-07,
    "search_context_cost_per_query": {"search_context_size_medium": 0.035}},
  "gemini-flash-latest": {"litellm_provider": "gemini", "mode": "chat",
    "input_cost_per_token": 9e-07, "output_cost_per_token": 9e-07},
  "gemini/gemini-flash-latest": {"litellm_provider": "gemini", "mode": "chat",
    "input_cost_per_token": 3e-07, "output_cost_per_token": 2.5e-06},
  "gemini/veo-3.1-lite-generate-preview": {"litellm_provider": "gemini", "mode": "video_generation",
    "max_tokens": 1024, "output_cost_per_second": 0.05, "output_cost_per_second_1080p": 0.08},
  "broken": {"litellm_provider": "openai", "input_cost_per_token": "lots"}
})";

rules::LitellmTable table_for(std::vector<std::string> providers) {
  std::string error;
  auto table = rules::read_litellm_table(k_table, providers, error);
  REQUIRE_MESSAGE(table, error);
  return *table;
}

}  // namespace

TEST_CASE("read_litellm_table, entries by litellm_provider") {
  SUBCASE("openai: its own entries and text-completion-openai, exactly") {
    const auto t = table_for({"openai", "text-completion-openai"});
    const auto& m = t.models;
    CHECK(m.count("claude-opus-4-6") == 0);
    CHECK(m.count("deepseek-v4-pro") == 0);
    CHECK(m.count("sample_spec") == 0);
    const auto& gpt = m.at("gpt-5.4");
    CHECK(gpt.input == 2'500'000);
    CHECK(gpt.cached_input == 250'000);
    CHECK(gpt.output == 15'000'000);
    CHECK(gpt.max_output == 128'000);
    CHECK(gpt.long_context_threshold == 272'000);
    CHECK(gpt.input_long == 5'000'000);
    CHECK(gpt.cached_input_long == 500'000);
    CHECK(gpt.output_long == 22'500'000);
    // Service tiers: flex and priority, the long prices scaled as their kind; a tier with an
    // input price but no output price (gpt-4o's priority here) is left out.
    REQUIRE(gpt.tiers.size() == 2);
    const auto& flex = gpt.at_tier("flex");
    CHECK(flex.input == 1'250'000);
    CHECK(flex.cached_input == 130'000);
    CHECK(flex.output == 7'500'000);
    CHECK(flex.input_long == 2'500'000);
    CHECK(flex.cached_input_long == 260'000);
    CHECK(flex.output_long == 11'250'000);
    const auto& priority = gpt.at_tier("priority");
    CHECK(priority.input == 5'000'000);
    CHECK(priority.cached_input == 500'000);  // not listed: the standard 0.25 scaled as input
    CHECK(priority.output == 30'000'000);
    CHECK(m.at("gpt-4o").tiers.empty());
    CHECK(m.at("gpt-3.5-turbo-instruct").max_output == 4096);
    // max_tokens of an embedding model bounds its input: no output maximum.
    CHECK(m.at("text-embedding-3-small").max_output == 0);
    CHECK(m.at("sora-2-pro").per_second == 300'000);
    CHECK(m.at("tts-1").per_item == 15);
    // Sized images: the per-image price; per-pixel entries are left out (LiteLLM's rounding).
    CHECK(m.at("gpt-image-1").per_image ==
          std::map<std::string, std::int64_t>{{"1024x1024/low", 11'000}});
    CHECK(m.count("dall-e-2") == 0);
    REQUIRE(t.problems.size() == 1);
    CHECK(t.problems[0] == "model 'broken' has an invalid input_cost_per_token 'lots'");
  }
  SUBCASE("anthropic: 1-hour cache writes and the web search tool") {
    const auto table = table_for({"anthropic"});
    const auto& opus = table.models.at("claude-opus-4-6");
    CHECK(opus.cache_write == 6'250'000);
    CHECK(opus.cache_write_1h == 10'000'000);
    CHECK(opus.per_call == std::map<std::string, std::int64_t>{{"web_search", 10'000}});
  }
  SUBCASE("gemini: the gemini/ entries win over the bare names, Vertex's are left out") {
    const auto table = table_for({"gemini"});
    const auto& m = table.models;
    CHECK(m.at("gemini-2.0-flash-001").input == 100'000);  // not Vertex's 0.15
    CHECK(m.at("gemini-2.0-flash-001").output == 400'000);
    CHECK(m.at("gemini-2.0-flash-001").per_call.at("google_search") == 35'000);
    CHECK(m.at("gemini-flash-latest").input == 300'000);  // gemini/ over the bare entry
    const auto& veo = m.at("veo-3.1-lite-generate-preview");
    CHECK(veo.per_second == 50'000);
    CHECK(veo.per_second_size.at("1080p") == 80'000);
    CHECK(veo.max_output == 0);
  }
  SUBCASE("not JSON") {
    std::string error;
    CHECK_FALSE(rules::read_litellm_table("[1, 2]", {"openai"}, error));
    CHECK(error == "top level is not an object");
  }
}

TEST_CASE("litellm_providers_of, by hosts, else the name") {
  rules::Provider p;
  p.name = "acme";
  CHECK(rules::litellm_providers_of(p) == std::vector<std::string>{"acme"});
  p.hosts = {"api.openai.com"};
  CHECK(rules::litellm_providers_of(p) ==
        std::vector<std::string>{"openai", "text-completion-openai"});
  p.hosts = {"us-central1-aiplatform.googleapis.com"};
  CHECK(rules::litellm_providers_of(p) == std::vector<std::string>{"vertex_ai-video-models"});
  p.litellm_providers = {"gemini"};
  CHECK(rules::litellm_providers_of(p) == std::vector<std::string>{"gemini"});
}

TEST_CASE("add_litellm_models, the catalog's own price wins") {
  std::map<std::string, rules::ModelPrice> models;
  models["gpt-4o"].input = 9;
  rules::add_litellm_models(models, table_for({"openai"}).models);
  CHECK(models.at("gpt-4o").input == 9);
  // A dated entry priced like its family never beats the catalog's family price...
  CHECK(models.count("gpt-4o-2024-08-06") == 0);
  // ...and neither does one priced apart: the catalog lists those under their own names.
  CHECK(models.count("gpt-4o-2024-05-13") == 0);
  CHECK(models.at("gpt-5.4").input == 2'500'000);
}

TEST_CASE("compare_prices, field by field as the prices apply") {
  auto table = table_for({"anthropic", "openai"}).models;
  std::map<std::string, rules::ModelPrice> catalog;
  catalog["claude-opus-4-6"] = table.at("claude-opus-4-6");
  catalog["gpt-5.4"] = table.at("gpt-5.4");
  catalog["only-here"].input = 1;
  SUBCASE("equal prices: no difference") {
    CHECK(rules::compare_prices(catalog, table).empty());
  }
  SUBCASE("a cached price left out costs input; a tool priced by the endpoint") {
    auto& opus = catalog.at("claude-opus-4-6");
    opus.per_call.clear();
    CHECK(rules::compare_prices(catalog, table, {{"web_search", 10'000}}).empty());
    opus.cached_input = -1;
    opus.max_output = 64'000;
    const auto diffs = rules::compare_prices(catalog, table);
    REQUIRE(diffs.size() == 3);
    CHECK(diffs[0].model == "claude-opus-4-6");
    CHECK(diffs[0].field == "cached_input");
    CHECK(diffs[0].catalog == "5");
    CHECK(diffs[0].litellm == "0.5");
    CHECK(diffs[1].field == "max_output");
    CHECK(diffs[1].catalog == "64000");
    CHECK(diffs[2].field == "per_call.web_search");
    CHECK(diffs[2].catalog == "-");
    CHECK(diffs[2].litellm == "0.01");
  }
  SUBCASE("service tiers: each tier's prices, a tier one side lacks") {
    auto& gpt = catalog.at("gpt-5.4");
    gpt.tiers["flex"] = std::make_shared<const rules::ModelPrice>(
        rules::tier_price(gpt, 1'250'000, 125'000, 7'500'000));
    gpt.tiers.erase("priority");
    const auto diffs = rules::compare_prices(catalog, table);
    REQUIRE(diffs.size() == 4);
    CHECK(diffs[0].field == "tiers.flex.cached_input");
    CHECK(diffs[0].catalog == "0.125");
    CHECK(diffs[0].litellm == "0.13");
    CHECK(diffs[1].field == "tiers.priority.input");
    CHECK(diffs[1].catalog == "-");
    CHECK(diffs[1].litellm == "5");
    CHECK(diffs[2].field == "tiers.priority.cached_input");
    CHECK(diffs[3].field == "tiers.priority.output");
  }
  SUBCASE("video: with and without audio") {
    rules::ModelPrice veo;
    veo.per_second_audio = 400'000;
    veo.per_second = 200'000;
    catalog = {{"veo", veo}};
    rules::ModelPrice theirs;
    theirs.per_second = 400'000;
    const auto diffs = rules::compare_prices(catalog, {{"veo", theirs}});
    REQUIRE(diffs.size() == 1);
    CHECK(diffs[0].field == "per_second");
    CHECK(diffs[0].catalog == "0.2");
    CHECK(diffs[0].litellm == "0.4");
  }
}

TEST_CASE("litellm_models_yaml, loads back as the same prices") {
  const auto models = table_for({"openai", "text-completion-openai"}).models;
  const std::string yaml = "providers:\n" + rules::litellm_models_yaml("openai", models);
  CHECK(yaml.find("gpt-4o-2024-08-06") == std::string::npos);  // priced as its family
  CHECK(yaml.find("      gpt-4o-2024-05-13: { input: 5, output: 15 }\n") != std::string::npos);
  CHECK(yaml.find("      gpt-image-1: { per_image: { 1024x1024/low: 0.011 } }\n") !=
        std::string::npos);
  const auto loaded =
      rules::load_config_text("include: [catalog:openai]\n" + yaml, "t.yaml", "/tmp");
  REQUIRE(loaded.errors.empty());
  const auto& openai = loaded.config->providers[0];
  for (const auto& [name, price] : models) {
    if (name == "gpt-4o-2024-08-06") continue;
    CAPTURE(name);
    CHECK(rules::compare_prices({{name, openai.models.at(name)}}, models).empty());
  }
}

TEST_CASE("prices_file on the real table, as a provider of the catalog loads it") {
  const std::string table =
      std::string(TOLLGATE_TEST_DATA) + "/litellm_model_prices_2026-07-24.json";
  const auto result = rules::load_config_text(
      "include: [catalog:openai, catalog:gemini]\n"
      "providers:\n"
      "  openai: { prices_file: " +
          table +
          " }\n"
          "  gemini: { prices_file: " +
          table + " }\n",
      "t.yaml", "/tmp");
  REQUIRE(result.errors.empty());
  const auto& openai = *result.config->provider_for_host("api.openai.com");
  const auto& gemini = *result.config->provider_for_host("generativelanguage.googleapis.com");
  SUBCASE("api.openai.com prices no Claude and no DeepSeek") {
    for (const auto& [name, price] : openai.models) {
      CAPTURE(name);
      CHECK(name.find("claude") == std::string::npos);
      CHECK(name.find("deepseek") == std::string::npos);
    }
    CHECK(openai.models.count("sora-2-pro-high-res") == 1);  // imported: not in the catalog
    CHECK(openai.price_model("gpt-4o-2024-08-06", nullptr).entry == "gpt-4o");
  }
  SUBCASE("the Gemini host: the catalog's family price, not Vertex's") {
    const auto pricing = gemini.price_model("gemini-2.0-flash-001", nullptr);
    CHECK(pricing.entry == "gemini-2.0-flash");
    CHECK(pricing.price->input == 100'000);
    CHECK(pricing.price->output == 400'000);
    // A model only the table lists comes from its gemini/ entry.
    CHECK(gemini.models.at("gemini-2.5-flash-image").input == 300'000);
  }
}
