#include <algorithm>
#include <cctype>
#include <set>

#include "rules/config_sections.hpp"
#include "rules/config_values.hpp"
#include "rules/host_name.hpp"

namespace rules::detail {
namespace {

void parse_usage(YamlReader& r, const YAML::Node& node, UsageSpec& usage) {
  if (!r.expect_map(node, "usage",
                    {"input", "cached_input", "cache_write", "cache_write_1h", "output",
                     "reasoning", "cost", "seconds", "size", "service_tier"}))
    return;
  auto pointer = [&](const char* key, std::string& into) {
    if (!node[key]) return;
    const auto text = r.string(node[key], key);
    if (!text) return;
    if (!text->empty() && text->front() != '/') {
      r.error(node[key], "'" + std::string(key) + "' must be a JSON pointer like /usage/" + key +
                             ", got '" + *text + "'");
      return;
    }
    into = *text;
  };
  pointer("input", usage.input);
  pointer("cached_input", usage.cached_input);
  pointer("cache_write", usage.cache_write);
  pointer("cache_write_1h", usage.cache_write_1h);
  pointer("seconds", usage.seconds);
  pointer("size", usage.size);
  pointer("output", usage.output);
  pointer("reasoning", usage.reasoning);
  pointer("service_tier", usage.service_tier);
  if (node["cost"])
    if (auto ref = r.value_ref(node["cost"], "cost")) usage.cost = *ref;
}

void parse_cost(YamlReader& r, const YAML::Node& node, Endpoint& endpoint) {
  if (node.IsScalar()) {
    if (auto amount = r.amount(node, "cost")) endpoint.cost = *amount;
    return;
  }
  if (!r.expect_map(node, "cost", {"per_item", "separator", "each", "count"})) return;
  endpoint.pricing = Pricing::per_item;
  if (node["per_item"])
    if (auto ref = r.value_ref(node["per_item"], "per_item")) endpoint.per_item = *ref;
  if (node["separator"])
    if (auto text = r.string(node["separator"], "separator")) endpoint.separator = *text;
  if (node["each"])
    if (auto amount = r.amount(node["each"], "each")) endpoint.each = *amount;
  if (node["count"])
    if (auto text = r.choice(node["count"], "count", {"items", "chars"})) endpoint.count = *text;
}

// websocket: { format: openai-realtime | gemini-live, max_message: BYTES }. A websocket endpoint is
// priced per response from its model's modality prices (DESIGN §12), never by `cost`: its
// pricing is tokens, and an OpenAI Realtime endpoint reads its model from ?model= unless told.
void parse_websocket(YamlReader& r, const YAML::Node& endpoint, Endpoint& e) {
  const auto& node = endpoint["websocket"];
  if (!r.expect_map(node, "websocket", {"format", "max_message"})) return;
  if (!node["format"]) {
    r.error(node, "'websocket' needs a 'format' (openai-realtime or gemini-live)");
    return;
  }
  if (auto format = r.choice(node["format"], "format", {"openai-realtime", "gemini-live"}))
    e.websocket.format = *format;
  if (node["max_message"])
    if (auto n = r.integer(node["max_message"], "max_message", 1024))
      e.websocket.max_message = static_cast<std::uint64_t>(*n);
  if (endpoint["cost"] || (endpoint["pricing"] && endpoint["pricing"].IsScalar() &&
                           endpoint["pricing"].Scalar() != "tokens"))
    r.error(endpoint, "endpoint '" + e.name +
                          "' is a websocket endpoint: each response is priced from its model's "
                          "token prices, so it takes no 'cost' and no other 'pricing'");
  e.pricing = Pricing::tokens;
  if (e.model.empty() && e.websocket.format == "openai-realtime")
    e.model = *parse_value_ref("query:model");
}

// "output:web_search_call", "output:code_interpreter_call/container_id",
// "/usage/server_tool_use/web_search_requests", "grounded:prompts" or "grounded:queries".
bool parse_tool_count(std::string_view text, ToolCharge& tool) {
  constexpr std::string_view k_output = "output:";
  tool.count_text = std::string(text);
  if (text == "grounded:prompts") return tool.count = ToolCharge::Count::grounded_prompts, true;
  if (text == "grounded:queries") return tool.count = ToolCharge::Count::grounded_queries, true;
  if (text.size() > 1 && text.front() == '/') {
    tool.count = ToolCharge::Count::pointer;
    tool.count_key = std::string(text);
    return true;
  }
  if (!text.starts_with(k_output) || text.size() == k_output.size()) return false;
  tool.count_key = std::string(text.substr(k_output.size()));
  const auto slash = tool.count_key.find('/');
  if (slash == 0 || slash + 1 == tool.count_key.size()) return false;
  tool.count = slash == std::string::npos ? ToolCharge::Count::output_items
                                          : ToolCharge::Count::output_distinct;
  return true;
}

std::optional<ToolCharge> parse_tool(YamlReader& r, const YAML::Node& node) {
  if (!r.expect_map(node, "tool",
                    {"name", "types", "each", "variant", "reserve", "max_uses", "count"}))
    return std::nullopt;
  ToolCharge tool;
  const auto errors_before = r.errors().size();
  if (!node["name"] || !node["types"] || !node["count"]) {
    r.error(node, "a tool needs 'name', 'types' and 'count'");
    return std::nullopt;
  }
  if (auto name = r.string(node["name"], "name")) tool.name = *name;
  if (auto types = r.strings(node["types"], "types")) tool.types = *types;
  if (const auto& each = node["each"]; each && each.IsMap()) {
    // Variants: `default` prices a tool that names none.
    for (auto it = each.begin(); it != each.end(); ++it)
      if (auto value = r.amount(it->second, it->first.Scalar()))
        tool.each[it->first.Scalar() == "default" ? "" : it->first.Scalar()] = *value;
  } else if (each) {
    if (auto value = r.amount(each, "each")) tool.each[""] = *value;
  }
  auto pointer = [&](const char* key, std::string& into) {
    if (!node[key]) return;
    const auto text = r.string(node[key], key);
    if (text && (text->empty() || text->front() != '/'))
      r.error(node[key], "'" + std::string(key) +
                             "' must be a JSON pointer into the tool, like "
                             "/max_uses, got '" +
                             *text + "'");
    else if (text)
      into = *text;
  };
  pointer("variant", tool.variant);
  pointer("max_uses", tool.max_uses);
  if (node["reserve"])
    if (auto n = r.integer(node["reserve"], "reserve")) tool.reserve = *n;
  if (const auto text = r.string(node["count"], "count"); text && !parse_tool_count(*text, tool))
    r.error(node["count"],
            "'count' must be output:TYPE, output:TYPE/FIELD, a JSON pointer like "
            "/usage/server_tool_use/web_search_requests, grounded:prompts or grounded:queries, "
            "got '" +
                *text + "'");
  if (r.errors().size() != errors_before) return std::nullopt;
  return tool;
}

void parse_batch(YamlReader& r, const YAML::Node& node, BatchSpec& batch) {
  if (!r.expect_map(node, "batch", {"requests", "params", "endpoint", "file", "percent"})) return;
  if (node["requests"])
    if (auto ref = r.value_ref(node["requests"], "requests")) batch.requests = *ref;
  if (node["params"])
    if (auto text = r.string(node["params"], "params")) batch.params = *text;
  if (node["endpoint"])
    if (auto text = r.string(node["endpoint"], "endpoint")) batch.endpoint = *text;
  if (node["file"])
    if (auto ref = r.value_ref(node["file"], "file")) batch.file = *ref;
  if (node["percent"])
    if (auto percent = r.percentage(node["percent"], "percent")) batch.percent = *percent;
}

// `base`: the endpoint of the same name defined before (an include), which the keys given here
// change; nullptr for a new endpoint, which needs a path and a cost or pricing.
std::optional<Endpoint> parse_endpoint(YamlReader& r, const YAML::Node& node,
                                       const Endpoint* base) {
  if (!r.expect_map(node, "endpoint", {"name",         "method",         "path",
                                       "pricing",      "cost",           "model",
                                       "input",        "output_max",     "multiplier",
                                       "stream",       "usage",          "size",
                                       "quality",      "seconds",        "default_seconds",
                                       "audio",        "output_cap",     "default_output_max",
                                       "tools",        "max_tool_calls", "batch",
                                       "batch_input",  "default_model",  "websocket",
                                       "max_duration", "service_tier"}))
    return std::nullopt;
  // An endpoint with a problem is reported once and left out, so that the cross checks after
  // loading do not report it again under another name.
  const auto errors_before = r.errors().size();
  Endpoint e = base ? *base : Endpoint{};
  e.mark = r.mark(node);
  if (!node["name"]) {
    r.error(node, "endpoint needs a 'name'");
    return std::nullopt;
  }
  if (auto name = r.string(node["name"], "name")) e.name = *name;
  if (node["method"])
    if (auto method = r.choice(node["method"], "method",
                               {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}))
      e.method = *method;
  if (!node["path"]) {
    if (!base) r.error(node, "endpoint '" + e.name + "' needs a 'path'");
  } else if (auto path = r.string(node["path"], "path")) {
    if (path->empty() || path->front() != '/')
      r.error(node["path"], "'path' must start with '/', got '" + *path + "'");
    e.path = *path;
  }
  if (node["cost"]) parse_cost(r, node["cost"], e);
  if (node["pricing"])
    if (auto pricing = r.choice(node["pricing"], "pricing",
                                {"flat", "per_item", "tokens", "per_second", "per_image", "batch"}))
      e.pricing = *parse_pricing(*pricing);
  if (node["websocket"]) parse_websocket(r, node, e);
  if (!base && !node["pricing"] && !node["cost"] && !node["websocket"])
    r.error(node, "endpoint '" + e.name + "' needs a 'cost' or a 'pricing'");
  if (node["model"])
    if (auto ref = r.value_ref(node["model"], "model")) e.model = *ref;
  if (node["default_model"])
    if (auto model = r.string(node["default_model"], "default_model")) e.default_model = *model;
  if (node["input"]) {
    const auto& input = node["input"];
    if (r.expect_map(input, "input", {"estimate"}) && input["estimate"])
      e.input_estimate = r.value_refs(input["estimate"], "estimate");
  }
  if (node["output_max"]) e.output_max = r.value_refs(node["output_max"], "output_max");
  if (node["multiplier"])
    if (auto ref = r.value_ref(node["multiplier"], "multiplier")) e.multiplier = *ref;
  if (node["stream"] && r.expect_map(node["stream"], "stream", {"format", "include_usage"})) {
    const auto& stream = node["stream"];
    if (stream["format"])
      if (auto format =
              r.choice(stream["format"], "format",
                       {"openai-sse", "openai-responses-sse", "anthropic-sse", "gemini-sse"}))
        e.stream.format = *format;
    if (stream["include_usage"])
      if (auto mode = r.choice(stream["include_usage"], "include_usage", {"inject", "off"}))
        e.stream.inject_include_usage = *mode == "inject";
  }
  if (node["usage"]) parse_usage(r, node["usage"], e.usage);
  if (node["size"])
    if (auto ref = r.value_ref(node["size"], "size")) e.size = *ref;
  if (node["quality"])
    if (auto ref = r.value_ref(node["quality"], "quality")) e.quality = *ref;
  if (node["seconds"]) e.seconds = r.value_refs(node["seconds"], "seconds");
  if (node["default_seconds"])
    if (auto seconds = r.integer(node["default_seconds"], "default_seconds", 1))
      e.default_seconds = *seconds;
  if (node["audio"])
    if (auto ref = r.value_ref(node["audio"], "audio")) e.audio = *ref;
  if (node["tools"] && r.expect_sequence(node["tools"], "tools")) {
    e.tools.clear();
    for (const auto& item : node["tools"])
      if (auto tool = parse_tool(r, item)) e.tools.push_back(std::move(*tool));
  }
  if (node["max_tool_calls"])
    if (auto ref = r.value_ref(node["max_tool_calls"], "max_tool_calls")) e.max_tool_calls = *ref;
  if (node["service_tier"])
    if (auto ref = r.value_ref(node["service_tier"], "service_tier")) e.service_tier = *ref;
  if (node["batch"]) parse_batch(r, node["batch"], e.batch);
  if (node["batch_input"])
    if (auto on = r.boolean(node["batch_input"], "batch_input")) e.batch_input = *on;
  if (node["output_cap"])
    if (auto mode = r.choice(node["output_cap"], "output_cap", {"inject", "off"}))
      e.inject_output_cap = *mode == "inject";
  if (node["default_output_max"])
    if (auto n = r.integer(node["default_output_max"], "default_output_max", 1))
      e.default_output_max = *n;
  if (node["max_duration"])
    if (auto d = r.duration(node["max_duration"], "max_duration")) e.max_duration = *d;
  if (r.errors().size() != errors_before) return std::nullopt;
  return e;
}

void parse_balance(YamlReader& r, const YAML::Node& node, BalanceConfig& b) {
  if (!r.expect_map(node, "balance", {"body", "header", "refill_per_minute", "min", "warn_below"}))
    return;
  if (node["body"])
    if (auto text = r.string(node["body"], "body")) b.body_pointer = *text;
  if (node["header"])
    if (auto text = r.string(node["header"], "header")) b.header = *text;
  if (node["refill_per_minute"]) {
    const auto text = r.string(node["refill_per_minute"], "refill_per_minute");
    if (text && text->starts_with("body:/"))
      b.refill_body_pointer = text->substr(5);
    else if (text)
      b.refill_per_minute = r.amount(node["refill_per_minute"], "refill_per_minute");
  }
  if (node["min"])
    if (auto amount = r.amount(node["min"], "min")) b.min = *amount;
  if (node["warn_below"]) b.warn_below = r.amount(node["warn_below"], "warn_below");
}

void parse_models(YamlReader& r, const YAML::Node& node, Provider& into) {
  if (!node.IsMap()) {
    r.error(node, "'models' must be a mapping");
    return;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    const auto name = it->first.Scalar();
    if (auto price = parse_model_price(r, it->second, name)) into.models[name] = *price;
  }
}

void merge_endpoints(YamlReader& r, const YAML::Node& node, Provider& into) {
  if (!r.expect_sequence(node, "endpoints")) return;
  std::set<std::string> seen;
  for (const auto& item : node) {
    const Endpoint* base = nullptr;
    if (item.IsMap() && item["name"] && item["name"].IsScalar())
      for (const auto& e : into.endpoints)
        if (e.name == item["name"].Scalar()) base = &e;
    auto endpoint = parse_endpoint(r, item, base);
    if (!endpoint) continue;
    if (!seen.insert(endpoint->name).second) {
      r.error(item,
              "duplicate endpoint name '" + endpoint->name + "' in provider '" + into.name + "'");
      continue;
    }
    auto existing = std::find_if(into.endpoints.begin(), into.endpoints.end(),
                                 [&](const Endpoint& e) { return e.name == endpoint->name; });
    if (existing != into.endpoints.end())
      *existing = std::move(*endpoint);
    else
      into.endpoints.push_back(std::move(*endpoint));
  }
}

}  // namespace

void apply_provider(YamlReader& r, const YAML::Node& node, Provider& p) {
  if (!r.expect_map(node, "provider '" + p.name + "'",
                    {"hosts", "currency", "credential", "error_style", "refusal_status", "balance",
                     "rate_limit_headers", "usage", "default_cost", "endpoints", "models",
                     "prices_file", "unknown_model", "bytes_per_token", "message_overhead",
                     "error_cost", "base_path", "litellm_provider", "batch_estimate"}))
    return;
  if (p.mark.line == 0) p.mark = r.mark(node);
  if (node["hosts"])
    if (auto hosts = r.strings(node["hosts"], "hosts")) {
      p.hosts.clear();
      // Spelled as the proxy spells request hosts, so that the two compare equal.
      for (const auto& host : *hosts) {
        auto name = normalize_host(host);
        if (name.host)
          p.hosts.push_back(std::move(*name.host));
        else
          r.error(node["hosts"], "'hosts': '" + host + "': " + name.problem);
      }
    }
  if (node["base_path"])
    if (auto path = r.string(node["base_path"], "base_path")) {
      // One path segment of URL-safe characters: the prefix is compared byte for byte with the
      // request's, which is never percent-decoded.
      std::string segment(*path);
      if (segment.starts_with('/')) segment.erase(0, 1);
      const bool safe = !segment.empty() && std::all_of(segment.begin(), segment.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
               c == '~';
      });
      if (!safe || segment == "." || segment == "..")
        r.error(node["base_path"],
                "'base_path' must be one path segment of letters, digits and -._~ (like "
                "'openai'), got '" +
                    *path + "'");
      else
        p.base_path = std::move(segment);
    }
  if (node["currency"])
    if (auto currency = r.string(node["currency"], "currency")) p.currency = *currency;
  if (node["credential"]) p.credentials = r.value_refs(node["credential"], "credential");
  if (node["error_style"])
    if (auto style = r.choice(node["error_style"], "error_style",
                              {"openai", "anthropic", "gemini", "keepa", "plain"}))
      p.error_style = *style;
  if (node["refusal_status"])
    if (auto status = r.integer(node["refusal_status"], "refusal_status", 400))
      p.refusal_status = static_cast<int>(*status);
  if (node["balance"]) {
    BalanceConfig balance = p.balance.value_or(BalanceConfig{});
    parse_balance(r, node["balance"], balance);
    p.balance = balance;
  }
  if (const auto& h = node["rate_limit_headers"];
      h &&
      r.expect_map(h, "rate_limit_headers",
                   {"remaining_tokens", "remaining_requests", "reset_tokens", "reset_requests"})) {
    auto read = [&](const char* key, std::string& into) {
      if (h[key])
        if (auto text = r.string(h[key], key)) into = *text;
    };
    read("remaining_tokens", p.rate_limit_headers.remaining_tokens);
    read("remaining_requests", p.rate_limit_headers.remaining_requests);
    read("reset_tokens", p.rate_limit_headers.reset_tokens);
    read("reset_requests", p.rate_limit_headers.reset_requests);
  }
  if (node["usage"]) parse_usage(r, node["usage"], p.usage);
  if (node["default_cost"]) p.default_cost = r.amount(node["default_cost"], "default_cost");
  if (node["error_cost"])
    if (auto choice = r.choice(node["error_cost"], "error_cost", {"free", "estimate"}))
      p.error_costs_estimate = *choice == "estimate";
  if (node["endpoints"]) merge_endpoints(r, node["endpoints"], p);
  if (node["models"]) parse_models(r, node["models"], p);
  if (node["unknown_model"]) {
    const auto& unknown = node["unknown_model"];
    // refuse | dearest | price_as:MODEL, or (the first form, still read) a price mapping.
    using Policy = UnknownModel::Policy;
    constexpr std::string_view k_price_as = "price_as:";
    if (unknown.IsScalar() && std::string_view(unknown.Scalar()).starts_with(k_price_as)) {
      const auto model = unknown.Scalar().substr(k_price_as.size());
      if (model.empty())
        r.error(unknown, "'unknown_model': price_as: needs a model, e.g. price_as:gpt-4o");
      else
        p.unknown_model = {Policy::price_as, model, std::nullopt};
    } else if (unknown.IsScalar()) {
      if (auto choice = r.choice(unknown, "unknown_model", {"refuse", "dearest"}))
        p.unknown_model = {*choice == "dearest" ? Policy::dearest : Policy::refuse, "",
                           std::nullopt};
    } else if (auto price = parse_model_price(r, unknown, "unknown_model")) {
      p.unknown_model = {Policy::price, "", *price};
    }
  }
  if (node["bytes_per_token"])
    if (auto n = r.integer(node["bytes_per_token"], "bytes_per_token", 1))
      p.bytes_per_token = static_cast<int>(*n);
  if (node["message_overhead"])
    if (auto n = r.integer(node["message_overhead"], "message_overhead"))
      p.message_overhead = static_cast<int>(*n);
  if (node["litellm_provider"])
    if (auto names = r.strings(node["litellm_provider"], "litellm_provider"))
      p.litellm_providers = *names;
  if (node["batch_estimate"]) p.batch_estimate = r.amount(node["batch_estimate"], "batch_estimate");
  // Last: the import leaves out what the provider prices itself, models and hosts included.
  if (node["prices_file"]) {
    if (auto path = r.string(node["prices_file"], "prices_file")) {
      p.prices_file = r.path(*path);
      import_litellm_prices(p.prices_file, r.mark(node["prices_file"]), p, r.errors());
    }
  }
}

}  // namespace rules::detail
