#pragma once
// The validated configuration: plain structs, parsed once from YAML (rules/config_loader), shared
// read-only as std::shared_ptr<const Config>. A reload builds a new Config and swaps the pointer.
//
// Field names follow ../shared/DESIGN.md §4. Defaults here are the documented defaults.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/money.hpp"
#include "rules/pricing_model.hpp"

namespace rules {

using Duration = std::chrono::milliseconds;

struct Endpoint;  // rules/pricing_model.hpp
struct ModelPrice;

struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};

struct AdminConfig {
  HostPort listen{"127.0.0.1", 9090};
  std::string token;  // empty: every mutating call is refused
};

struct TlsConfig {
  std::string ca_cert;                    // absolute after load
  std::string ca_key;                     // absolute after load
  std::string upstream_trust = "system";  // "system" or an absolute PEM bundle path
  Duration leaf_validity = std::chrono::hours(24 * 7);
};

struct UpstreamConfig {
  // "host:port" -> address:port, like curl --connect-to. Addresses named here are trusted
  // by the tunnel's deny_networks check (the operator wrote them).
  std::map<std::string, HostPort> resolve;
  Duration connect_timeout = std::chrono::seconds(5);
  Duration idle_timeout = std::chrono::seconds(90);
  Duration read_timeout = std::chrono::seconds(600);  // between two reads of one response
};

struct TunnelConfig {
  bool allow_unknown_hosts = true;                                   // unknown_hosts: allow | deny
  std::vector<std::string> deny_networks{"loopback", "link-local"};  // names or CIDRs
  std::vector<std::uint16_t> allowed_ports{443};                     // CONNECT targets
};

struct ClientsConfig {
  enum class Identify { proxy_auth, header, source_ip, none };
  Identify identify = Identify::proxy_auth;
  std::string header_name;  // for identify: header:NAME
  bool require_auth = false;
  std::map<std::string, std::string> users;          // user -> secret
  Duration read_timeout = std::chrono::seconds(60);  // longest silence within a request body (408)
};

// Base-URL mode (DESIGN §14) for apps in a browser: the web pages that may call the base URLs.
struct BaseUrlConfig {
  // Origins as a browser sends them ("http://localhost:3000", rules::parse_web_origin), or the
  // one entry "*" for any page. Empty (the default): no page may; tollgate answers preflights 403
  // and refuses every base-URL request that carries an Origin (pipeline/cors_policy.hpp).
  std::vector<std::string> cors_origins;
};

struct RedisConfig {
  std::string url = "redis://127.0.0.1:6379/0";
  std::string prefix = "tollgate:";
  bool fail_open = false;  // on_error: block (false) | allow (true)
};

struct StoreConfig {
  enum class Type { memory, sqlite, redis };
  Type type = Type::sqlite;
  std::string path;  // absolute after load; default <data_dir>/ledger.db
  RedisConfig redis;
  // How long a hold may stay open before whoever finds it settles it at its estimate (its owner
  // crashed or lost track of it). Longer than any request: upstream.read_timeout bounds those.
  std::chrono::milliseconds hold_ttl{std::chrono::hours(1)};
};

// Cost records (DESIGN §13): one per settled exchange and per refusal.
struct RecordsConfig {
  Duration retention = std::chrono::hours(24 * 30);  // older records are pruned in the background
  std::size_t memory = 20000;  // records the memory store keeps (a ring: the oldest go first)
};

// Receipts: the records' hash chain, signed with Ed25519 when `sign` (key:
// <data_dir>/receipts.key).
struct ReceiptsConfig {
  bool sign = false;
};

// Provider-reported balance (Keepa tokensLeft): see DESIGN §6.
struct BalanceConfig {
  std::string body_pointer;                       // "/tokensLeft"
  std::string header;                             // "tokens-left"
  std::string refill_body_pointer;                // refill_per_minute: body:/refillRate
  std::optional<std::int64_t> refill_per_minute;  // or a fixed amount, micro-units
  std::int64_t min = 0;                           // micro-units
  std::optional<std::int64_t> warn_below;         // micro-units
};

struct RateLimitHeaders {
  std::string remaining_tokens, remaining_requests, reset_tokens, reset_requests;
};

// unknown_model: what a model missing from a provider's `models` is priced as.
struct UnknownModel {
  enum class Policy {
    refuse,    // a 400 naming the model (the default for a provider of your own)
    dearest,   // the dearest entry of `models` that fits the endpoint (the shipped catalog's)
    price_as,  // the entry named in `model`
    price,     // the explicit `price` (unknown_model: { input: .., output: .. })
  };
  Policy policy = Policy::refuse;
  std::string model;                // price_as
  std::optional<ModelPrice> price;  // price
};

// What a request's model is priced at (Provider::price_model).
struct ModelPricing {
  const ModelPrice* price = nullptr;  // nullptr: refuse
  std::string entry;                  // the entry of `models` used ("" for unknown_model's price)
  bool listed = false;                // false: the model is not in `models`; unknown_model applied
};

struct Provider {
  std::string name;
  std::vector<std::string> hosts;  // lower case
  // Base-URL mode (DESIGN §14): the first path segment that, besides the name, sends an
  // origin-form request to hosts.front() ("" = the name only).
  std::string base_path;
  std::string currency;
  // What tells one account from another: the first of these present in a request (hashed by
  // rules::key_id, never logged).
  std::vector<ValueRef> credentials;
  std::string error_style = "openai";  // openai | anthropic | gemini | keepa | plain
  int refusal_status = 429;
  std::optional<BalanceConfig> balance;
  RateLimitHeaders rate_limit_headers;
  UsageSpec usage;  // provider-level usage (e.g. Keepa cost: body:/tokensConsumed)
  std::optional<std::int64_t> default_cost;  // micro-units; a path no endpoint matches
  // error_cost: what an answer with an error status (>= 400) and no usage costs: free (false,
  // the default: providers do not bill failed requests) or estimate (true).
  bool error_costs_estimate = false;
  std::vector<Endpoint> endpoints;
  std::map<std::string, ModelPrice> models;
  UnknownModel unknown_model;
  int bytes_per_token = 3;   // input estimate: bytes at the input pointers per token (low = safe)
  int message_overhead = 4;  // input estimate: framing tokens per message / array element
  std::string prices_file;   // absolute; LiteLLM model_prices_and_context_window.json
  // The `litellm_provider` values of prices_file entries that price this provider (empty: the
  // defaults of its hosts, else its name; see rules/litellm_prices.hpp).
  std::vector<std::string> litellm_providers;
  // What a batch costs when tollgate did not see the upload of its input file (pricing: batch
  // with a file); nullopt: such a batch is refused.
  std::optional<std::int64_t> batch_estimate;
  Mark mark;

  // The entry of `models` a request's model name is billed as, resolved as the provider resolves
  // it: Gemini's "models/" prefix dropped; then the exact name; then without a snapshot date
  // (gpt-4o-2024-08-06, claude-sonnet-4-5-20250929, gpt-3.5-turbo-0125), without "-latest"
  // (claude-3-5-haiku-latest) or without a version number (gemini-2.0-flash-001). nullopt: none.
  std::optional<std::string> resolve_model(std::string_view model) const;
  // The price of resolve_model's entry, else what unknown_model says for `endpoint` (which the
  // dearest is chosen for; nullptr: among every model).
  ModelPricing price_model(std::string_view model, const Endpoint* endpoint) const;
  // The price only (nullptr = refuse).
  const ModelPrice* price_for_model(std::string_view model,
                                    const Endpoint* endpoint = nullptr) const {
    return price_model(model, endpoint).price;
  }
  // The dearest entry of `models` among those that fit how `endpoint` prices (nullptr: tokens):
  // tokens -> models without image, second or item prices, ranked by input + output price per
  // 1M tokens (then max_output); an endpoint that reads no output tokens (embeddings) considers
  // only models without an output price. per_image -> the dearest image, per_second -> the
  // dearest second, per_item -> the dearest item. Ties go to the first name. nullopt: none fits.
  std::optional<std::string> dearest_model(const Endpoint* endpoint) const;
};

struct Match {  // a filter: empty vector = any
  std::vector<std::string> provider, endpoint, model, client;
};

struct Period {
  enum class Kind { hour, day, week, month, total, rolling };
  Kind kind = Kind::day;
  Duration rolling{0};  // for rolling:<duration>
};

struct BudgetConfig {
  std::string name;
  std::string currency;
  std::int64_t limit = 0;  // micro-units
  Period period;
  std::string timezone = "UTC";  // IANA name
  Match match;
  // one instance per: "" (single), "client", "credential", "model", "session" (a realtime
  // WebSocket session; requests outside one do not fall in the budget), "header:NAME"
  std::string per;
  std::vector<int> alerts;  // percentages, ascending, e.g. {80, 90, 100}
  bool shadow = false;      // mode: shadow
  // output_cap: inject — requests in this budget get an output maximum written into them, as
  // with an endpoint's output_cap (rules/output_cap.hpp).
  bool inject_output_cap = false;
  std::optional<Duration> idle_expiry;  // per: session defaults to 1h
  // warn_client: realtime sessions spending from an instance also tell their client when one of
  // its alerts fires ({"type":"tollgate.budget_warning",...}).
  bool warn_client = false;
  Mark mark;
};

struct RateLimitConfig {
  std::string name;
  Match match;
  std::string per;                       // as BudgetConfig::per
  std::optional<std::int64_t> requests;  // per window
  std::optional<std::int64_t> tokens;    // per window (estimated tokens)
  Duration window = std::chrono::minutes(1);
  // Kept in the shared store (store.type: redis), so that every sidecar on it draws from the
  // same buckets; otherwise each process keeps its own.
  bool shared = false;
  Mark mark;
};

struct BreakerConfig {
  std::string name;
  enum class Kind { spend, upstream_failures };
  Kind kind = Kind::spend;
  // spend breaker
  std::string currency;
  std::int64_t limit = 0;  // micro-units within window
  Duration window = std::chrono::hours(1);
  Duration cooldown = std::chrono::minutes(10);
  // upstream-failure breaker (per provider host)
  int failures = 5;
  int successes = 2;
  Duration open_for = std::chrono::seconds(60);
  // A spend breaker kept in the shared store (store.type: redis): its window, its open state and
  // its one half-open trial are the same for every sidecar on it. Otherwise each process keeps
  // its own.
  bool shared = false;
  Mark mark;
};

struct WebhookConfig {
  std::string url;
  std::vector<std::string> events;  // empty = all
};

struct Config {
  std::string source_file;  // absolute path of the main file; "<embedded>" for the defaults
  std::vector<std::string> included_files;  // absolute; watched for reload
  HostPort listen{"127.0.0.1", 8080};
  AdminConfig admin;
  std::string data_dir;  // absolute after load
  unsigned threads = 0;  // 0 = auto (hardware concurrency)
  TlsConfig tls;
  UpstreamConfig upstream;
  TunnelConfig tunnel;
  ClientsConfig clients;
  BaseUrlConfig base_url;
  StoreConfig store;
  RecordsConfig records;
  ReceiptsConfig receipts;
  std::vector<Provider> providers;
  std::vector<BudgetConfig> budgets;
  std::vector<RateLimitConfig> rate_limits;
  std::vector<BreakerConfig> breakers;
  std::vector<WebhookConfig> webhooks;
  std::size_t max_body_bytes = 32u << 20;  // priced request bodies; 413 past it
  // The oldest `checked:` date among the rule files loaded (the day their prices were last
  // compared with the providers'), and the file that states it; nullopt when none states one.
  std::optional<std::chrono::sys_days> catalog_checked;
  std::string catalog_checked_file;

  // The provider that owns this host (lower case, no port), or nullptr.
  const Provider* provider_for_host(std::string_view host) const;
  // The provider whose name or base_path is `segment` (the first segment of an origin-form
  // request in base-URL mode); nullptr when none.
  const Provider* provider_for_base_path(std::string_view segment) const;
  // Whole days from catalog_checked to `now` (tollgate_catalog_age_days, and `tollgate check`
  // warns past k_catalog_max_age_days); nullopt when no file states a date.
  std::optional<std::int64_t> catalog_age_days(std::chrono::system_clock::time_point now) const;
};

// Prices older than this are likely to have changed: `tollgate check` says so.
constexpr std::int64_t k_catalog_max_age_days = 90;

}  // namespace rules
