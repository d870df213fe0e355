#include <algorithm>

#include "rules/config_sections.hpp"
#include "rules/config_values.hpp"
#include "rules/host_name.hpp"
#include "rules/web_origin.hpp"

namespace rules::detail {
namespace {

std::optional<HostPort> host_port(YamlReader& r, const YAML::Node& node, const char* key) {
  const auto text = r.string(node, key);
  if (!text) return std::nullopt;
  const auto parsed = parse_host_port(*text);
  if (!parsed) {
    r.error(node, "'" + std::string(key) + "' must be HOST:PORT, got '" + *text + "'");
    return std::nullopt;
  }
  return HostPort{parsed->host, parsed->port};
}

void set_duration(YamlReader& r, const YAML::Node& node, const char* key, Duration& into) {
  if (node[key])
    if (auto d = r.duration(node[key], key)) into = *d;
}

void apply_tls(YamlReader& r, const YAML::Node& node, TlsConfig& tls) {
  if (!r.expect_map(node, "tls", {"ca_cert", "ca_key", "upstream_trust", "leaf_validity"})) return;
  if (node["ca_cert"])
    if (auto p = r.string(node["ca_cert"], "ca_cert")) tls.ca_cert = r.path(*p);
  if (node["ca_key"])
    if (auto p = r.string(node["ca_key"], "ca_key")) tls.ca_key = r.path(*p);
  if (node["upstream_trust"])
    if (auto p = r.string(node["upstream_trust"], "upstream_trust"))
      tls.upstream_trust = *p == "system" ? *p : r.path(*p);
  set_duration(r, node, "leaf_validity", tls.leaf_validity);
}

void apply_upstream(YamlReader& r, const YAML::Node& node, UpstreamConfig& up) {
  if (!r.expect_map(node, "upstream",
                    {"resolve", "connect_timeout", "idle_timeout", "read_timeout"}))
    return;
  if (const auto& resolve = node["resolve"]) {
    if (!resolve.IsMap()) {
      r.error(resolve, "'resolve' must be a mapping of HOST:PORT to ADDRESS:PORT");
    } else {
      for (auto it = resolve.begin(); it != resolve.end(); ++it) {
        const auto from = host_port(r, it->first, "resolve");
        const auto to = host_port(r, it->second, "resolve");
        // Keys are looked up with the host as the proxy normalises request hosts.
        const bool v6 = from && from->host.find(':') != std::string::npos;
        const auto name = !from ? HostName{}
                          : v6  ? normalize_host("[" + from->host + "]")
                                : normalize_host(from->host);
        if (from && !name.host)
          r.error(it->first, "'resolve': '" + from->host + "': " + name.problem);
        else if (from && to)
          up.resolve[*name.host + ":" + std::to_string(from->port)] = *to;
      }
    }
  }
  set_duration(r, node, "connect_timeout", up.connect_timeout);
  set_duration(r, node, "idle_timeout", up.idle_timeout);
  set_duration(r, node, "read_timeout", up.read_timeout);
}

void apply_tunnel(YamlReader& r, const YAML::Node& node, TunnelConfig& t) {
  if (!r.expect_map(node, "tunnel", {"unknown_hosts", "deny_networks", "allowed_ports"})) return;
  if (node["unknown_hosts"])
    if (auto v = r.choice(node["unknown_hosts"], "unknown_hosts", {"allow", "deny"}))
      t.allow_unknown_hosts = *v == "allow";
  if (node["deny_networks"])
    if (auto v = r.strings(node["deny_networks"], "deny_networks")) t.deny_networks = *v;
  if (const auto& ports = node["allowed_ports"];
      ports && r.expect_sequence(ports, "allowed_ports")) {
    t.allowed_ports.clear();
    for (const auto& item : ports)
      if (auto port = r.integer(item, "allowed_ports", 1)) {
        if (*port > 65535)
          r.error(item,
                  "'allowed_ports' must hold ports 1-65535, got '" + std::to_string(*port) + "'");
        else
          t.allowed_ports.push_back(static_cast<std::uint16_t>(*port));
      }
  }
}

void apply_clients(YamlReader& r, const YAML::Node& node, ClientsConfig& c) {
  if (!r.expect_map(node, "clients", {"identify", "require_auth", "users", "read_timeout"})) return;
  set_duration(r, node, "read_timeout", c.read_timeout);
  if (node["identify"]) {
    const auto text = r.string(node["identify"], "identify");
    using I = ClientsConfig::Identify;
    if (!text) {
    } else if (*text == "proxy-auth")
      c.identify = I::proxy_auth;
    else if (*text == "source-ip")
      c.identify = I::source_ip;
    else if (*text == "none")
      c.identify = I::none;
    else if (text->starts_with("header:") && text->size() > 7) {
      c.identify = I::header;
      c.header_name = text->substr(7);
    } else {
      r.error(node["identify"],
              "'identify' must be proxy-auth, header:NAME, source-ip or none, "
              "got '" +
                  *text + "'");
    }
  }
  if (node["require_auth"])
    if (auto v = r.boolean(node["require_auth"], "require_auth")) c.require_auth = *v;
  if (const auto& users = node["users"]) {
    if (!users.IsMap())
      r.error(users, "'users' must be a mapping of user name to secret");
    else
      for (auto it = users.begin(); it != users.end(); ++it)
        if (auto secret = r.string(it->second, it->first.Scalar()))
          c.users[it->first.Scalar()] = *secret;
  }
}

void apply_base_url(YamlReader& r, const YAML::Node& node, BaseUrlConfig& b) {
  if (!r.expect_map(node, "base_url", {"cors_origins"})) return;
  const auto& list = node["cors_origins"];
  if (!list) return;
  if (list.IsMap()) {
    r.error(list, "'cors_origins' must be a list of origins, like [\"http://localhost:3000\"]");
    return;
  }
  // One origin may be written without the brackets.
  const auto items = list.IsSequence() ? std::vector<YAML::Node>(list.begin(), list.end())
                                       : std::vector<YAML::Node>{list};
  b.cors_origins.clear();
  for (const auto& item : items) {
    const auto text = r.string(item, "cors_origins");
    if (!text || (list.IsNull() && text->empty())) continue;
    if (*text == "*") {
      if (items.size() > 1)
        r.error(item, "'cors_origins': '*' allows every page and must stand alone");
      else
        b.cors_origins.push_back(*text);
      continue;
    }
    auto parsed = parse_web_origin(*text);
    if (!parsed.origin)
      r.error(item, "'cors_origins': '" + *text + "': " + parsed.problem);
    else if (std::find(b.cors_origins.begin(), b.cors_origins.end(), *parsed.origin) ==
             b.cors_origins.end())
      b.cors_origins.push_back(std::move(*parsed.origin));
  }
}

void apply_store(YamlReader& r, const YAML::Node& node, StoreConfig& s) {
  if (!r.expect_map(node, "store", {"type", "path", "redis", "hold_ttl"})) return;
  if (node["hold_ttl"])
    if (auto d = r.duration(node["hold_ttl"], "hold_ttl")) s.hold_ttl = *d;
  if (node["type"])
    if (auto v = r.choice(node["type"], "type", {"memory", "sqlite", "redis"}))
      s.type = *v == "memory"  ? StoreConfig::Type::memory
               : *v == "redis" ? StoreConfig::Type::redis
                               : StoreConfig::Type::sqlite;
  if (node["path"])
    if (auto p = r.string(node["path"], "path")) s.path = r.path(*p);
  if (const auto& redis = node["redis"];
      redis && r.expect_map(redis, "redis", {"url", "prefix", "on_error"})) {
    if (redis["url"])
      if (auto v = r.string(redis["url"], "url")) s.redis.url = *v;
    if (redis["prefix"])
      if (auto v = r.string(redis["prefix"], "prefix")) s.redis.prefix = *v;
    if (redis["on_error"])
      if (auto v = r.choice(redis["on_error"], "on_error", {"block", "allow"}))
        s.redis.fail_open = *v == "allow";
  }
}

void apply_records(YamlReader& r, const YAML::Node& node, RecordsConfig& records) {
  if (!r.expect_map(node, "records", {"retention", "memory"})) return;
  if (node["retention"])
    if (auto d = r.duration(node["retention"], "retention")) {
      if (*d < std::chrono::hours(1))
        r.error(node["retention"], "'retention' must be at least 1h");
      else
        records.retention = *d;
    }
  if (node["memory"])
    if (auto n = r.integer(node["memory"], "memory", 1))
      records.memory = static_cast<std::size_t>(*n);
}

void apply_receipts(YamlReader& r, const YAML::Node& node, ReceiptsConfig& receipts) {
  if (!r.expect_map(node, "receipts", {"sign"})) return;
  if (node["sign"])
    if (auto sign = r.boolean(node["sign"], "sign")) receipts.sign = *sign;
}

void apply_alerts(YamlReader& r, const YAML::Node& node, std::vector<WebhookConfig>& hooks) {
  if (!r.expect_map(node, "alerts", {"webhooks"})) return;
  const auto& list = node["webhooks"];
  if (!list || !r.expect_sequence(list, "webhooks")) return;
  for (const auto& item : list) {
    if (!r.expect_map(item, "webhook", {"url", "events"})) continue;
    WebhookConfig hook;
    if (!item["url"])
      r.error(item, "webhook needs a 'url'");
    else if (auto url = r.string(item["url"], "url"))
      hook.url = *url;
    if (const auto& events = item["events"]) {
      static const std::vector<std::string_view> k_events = {
          "threshold", "refused", "would_refuse", "balance_warning", "breaker", "admin",
          "overrun",   "reload",  "error"};
      const std::vector<YAML::Node> items =
          events.IsSequence() ? std::vector<YAML::Node>(events.begin(), events.end())
                              : std::vector<YAML::Node>{events};
      for (const auto& event : items) {
        const auto name = r.string(event, "events");
        if (!name) continue;
        if (std::find(k_events.begin(), k_events.end(), *name) == k_events.end())
          r.error(event,
                  "unknown event '" + *name +
                      "' (events: threshold, refused, "
                      "would_refuse, balance_warning, breaker, admin, overrun, reload, error)");
        else
          hook.events.push_back(*name);
      }
    }
    hooks.push_back(std::move(hook));
  }
}

}  // namespace

void apply_top_level(YamlReader& r, const YAML::Node& root, Config& c) {
  if (root["listen"])
    if (auto hp = host_port(r, root["listen"], "listen")) c.listen = *hp;
  if (const auto& admin = root["admin"];
      admin && r.expect_map(admin, "admin", {"listen", "token"})) {
    if (admin["listen"])
      if (auto hp = host_port(r, admin["listen"], "listen")) c.admin.listen = *hp;
    if (admin["token"])
      if (auto token = r.string(admin["token"], "token")) c.admin.token = *token;
  }
  if (root["data_dir"])
    if (auto dir = r.string(root["data_dir"], "data_dir")) c.data_dir = r.path(*dir);
  if (root["threads"]) {
    const auto text = r.string(root["threads"], "threads");
    if (text && *text == "auto")
      c.threads = 0;
    else if (text)
      if (auto n = r.integer(root["threads"], "threads", 1)) c.threads = static_cast<unsigned>(*n);
  }
  if (root["tls"]) apply_tls(r, root["tls"], c.tls);
  if (root["upstream"]) apply_upstream(r, root["upstream"], c.upstream);
  if (root["tunnel"]) apply_tunnel(r, root["tunnel"], c.tunnel);
  if (root["clients"]) apply_clients(r, root["clients"], c.clients);
  if (root["base_url"]) apply_base_url(r, root["base_url"], c.base_url);
  if (root["store"]) apply_store(r, root["store"], c.store);
  if (root["alerts"]) apply_alerts(r, root["alerts"], c.webhooks);
  if (root["records"]) apply_records(r, root["records"], c.records);
  if (root["receipts"]) apply_receipts(r, root["receipts"], c.receipts);
  if (root["max_body_bytes"])
    if (auto n = r.integer(root["max_body_bytes"], "max_body_bytes", 1))
      c.max_body_bytes = static_cast<std::size_t>(*n);
}

}  // namespace rules::detail
