// The mutating admin routes: reset, runtime limit, override, reload. Each one is checked, done
// through the enforcer (which persists it and emits its event), then audited exactly once.
#include <rapidjson/document.h>

#include "admin/admin_json.hpp"
#include "admin/admin_routes.hpp"
#include "rules/json_reader.hpp"
#include "rules/money.hpp"

namespace proxy {
namespace {

// Parses the body as a JSON object into `doc`; an empty body is {} unless `required`. Numbers are
// kept as their text so that 75.1 becomes exactly 75100000 micro-units through
// rules::parse_micros, never through a double.
std::optional<AdminResponse> parse_object(const std::string& body, bool required,
                                          rapidjson::Document& doc) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
    if (required) return admin_error(400, "body: expected a JSON object");
    doc.SetObject();
    return std::nullopt;
  }
  if (const auto read = rules::read_json(doc, body, {.numbers_as_strings = true}); !read.ok())
    return admin_error(400,
                       "bad JSON at offset " + std::to_string(read.offset) + ": " + read.message);
  if (!doc.IsObject()) return admin_error(400, "body: expected a JSON object");
  return std::nullopt;
}

// The string (or number text) at `key`; "" when absent; nullopt when it is another JSON type.
std::optional<std::string> text_field(const rapidjson::Document& doc, const char* key) {
  const auto it = doc.FindMember(key);
  if (it == doc.MemberEnd() || it->value.IsNull()) return std::string();
  if (!it->value.IsString()) return std::nullopt;
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

std::string quoted(const std::string& text) {
  rapidjson::StringBuffer buffer;
  JsonWriter out(buffer);
  out.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  return buffer.GetString();
}

// [{"key","spent","reserved","limit"}] of the instances of `name` (and `key` unless "").
std::string instances_json(const std::vector<budget::BudgetStanding>& all, const std::string& name,
                           const std::string& key) {
  rapidjson::StringBuffer buffer;
  JsonWriter out(buffer);
  out.StartArray();
  for (const auto& b : all) {
    if (b.name != name || (!key.empty() && b.key != key)) continue;
    out.StartObject();
    out.Key("key");
    out.String(b.key.c_str());
    for (const auto& [field, micros] : {std::pair<const char*, std::int64_t>{"spent", b.spent},
                                        {"reserved", b.reserved},
                                        {"limit", b.limit}}) {
      out.Key(field);
      out.String(rules::format_micros(micros).c_str());
    }
    out.EndObject();
  }
  out.EndArray();
  return buffer.GetString();
}

}  // namespace

AdminResponse AdminRoutes::reset_budget(const AdminRequest& request, const std::string& name) {
  rapidjson::Document doc;
  if (auto bad = parse_object(request.body, false, doc)) return *bad;
  const auto key = text_field(doc, "key");
  const auto reason = text_field(doc, "reason");
  if (!key) return admin_error(400, "key: must be a string");
  if (!reason) return admin_error(400, "reason: must be a string");
  if (!budget_configured(name)) return admin_error(404, "no such budget: " + name);
  const auto before = instances_json(enforcer_.budgets(), name, *key);
  if (!enforcer_.reset(name, *key, request.caller))
    return admin_error(404, "no such budget instance: " + name + (key->empty() ? "" : "/" + *key));
  const auto standings = enforcer_.budgets();
  audit(request, "budget.reset", key->empty() ? name : name + "/" + *key, before,
        instances_json(standings, name, *key), *reason);
  std::vector<budget::BudgetStanding> matching;
  for (const auto& b : standings)
    if (b.name == name && (key->empty() || b.key == *key)) matching.push_back(b);
  return admin_json(200, budgets_json(matching));
}

AdminResponse AdminRoutes::patch_budget(const AdminRequest& request, const std::string& name) {
  rapidjson::Document doc;
  if (auto bad = parse_object(request.body, true, doc)) return *bad;
  const auto limit_text = text_field(doc, "limit");
  const auto reason = text_field(doc, "reason");
  if (!reason) return admin_error(400, "reason: must be a string");
  if (!limit_text || limit_text->empty())
    return admin_error(400, "limit: required, a decimal amount such as 75 or \"75.5\"");
  const auto limit = rules::parse_micros(*limit_text);
  if (!limit || *limit < 0)
    return admin_error(400, "limit: '" + *limit_text +
                                "' is not a non-negative decimal amount with at most 6 decimals");
  if (*limit > rules::k_max_amount)
    return admin_error(400, "limit: '" + *limit_text + "' is above the largest amount, " +
                                rules::format_micros(rules::k_max_amount));
  if (!budget_configured(name)) return admin_error(404, "no such budget: " + name);
  std::optional<std::int64_t> old_limit;
  for (const auto& b : enforcer_.budgets())
    if (b.name == name) old_limit = b.limit;
  if (!old_limit) {
    for (const auto& b : holder_.get()->budgets)
      if (b.name == name) old_limit = b.limit;
  }
  if (!enforcer_.set_limit(name, *limit, request.caller))
    return admin_error(404, "no such budget: " + name);
  audit(request, "budget.set_limit", name,
        "{\"limit\":" + quoted(rules::format_micros(old_limit.value_or(0))) + "}",
        "{\"limit\":" + quoted(rules::format_micros(*limit)) + "}", *reason);
  return budgets(name);
}

AdminResponse AdminRoutes::add_override(const AdminRequest& request) {
  rapidjson::Document doc;
  if (auto bad = parse_object(request.body, true, doc)) return *bad;
  const auto name = text_field(doc, "budget");
  const auto key = text_field(doc, "key");
  const auto extra_text = text_field(doc, "extra");
  const auto until_text = text_field(doc, "until");
  const auto reason = text_field(doc, "reason");
  if (!name || name->empty()) return admin_error(400, "budget: required, a budget name");
  if (!key) return admin_error(400, "key: must be a string");
  if (!reason) return admin_error(400, "reason: must be a string");
  if (!extra_text || extra_text->empty())
    return admin_error(400, "extra: required, a decimal amount such as 25 or \"25.5\"");
  const auto extra = rules::parse_micros(*extra_text);
  if (!extra || *extra <= 0)
    return admin_error(400, "extra: '" + *extra_text +
                                "' is not a positive decimal amount with at most 6 decimals");
  if (*extra > rules::k_max_amount)
    return admin_error(400, "extra: '" + *extra_text + "' is above the largest amount, " +
                                rules::format_micros(rules::k_max_amount));
  if (!until_text || until_text->empty())
    return admin_error(400, "until: required, an RFC 3339 time or a duration such as \"2h\"");
  const auto now = clock_.now();
  const auto until = parse_until(*until_text, now);
  if (!until)
    return admin_error(400, "until: '" + *until_text +
                                "' is neither an RFC 3339 time nor a duration such as \"2h\"");
  if (*until <= now) return admin_error(400, "until: " + *until_text + " is in the past");
  if (!budget_configured(*name)) return admin_error(404, "no such budget: " + *name);
  budget::Override override_{*name, *key, *extra, *until, *reason};
  if (!enforcer_.add_override(override_, request.caller))
    return admin_error(404, "no such budget: " + *name);
  const std::string after = "{\"extra\":" + quoted(rules::format_micros(*extra)) +
                            ",\"until\":" + quoted(format_rfc3339(*until)) + "}";
  audit(request, "override.add", key->empty() ? *name : *name + "/" + *key, "null", after, *reason);
  return admin_json(200, "{\"ok\":true,\"budget\":" + quoted(*name) + ",\"key\":" + quoted(*key) +
                             ",\"extra\":" + quoted(rules::format_micros(*extra)) +
                             ",\"until\":" + quoted(format_rfc3339(*until)) + "}");
}

AdminResponse AdminRoutes::reload(const AdminRequest& request) {
  rapidjson::Document doc;
  if (auto bad = parse_object(request.body, false, doc)) return *bad;
  const auto reason = text_field(doc, "reason");
  if (!reason) return admin_error(400, "reason: must be a string");
  const auto before = reloader_.digest();
  const auto outcome = reloader_.reload("admin api");
  rapidjson::StringBuffer buffer;
  JsonWriter out(buffer);
  out.StartObject();
  out.Key("ok");
  out.Bool(outcome.ok);
  out.Key(outcome.ok ? "warnings" : "errors");
  out.StartArray();
  for (const auto& line : outcome.ok ? outcome.warnings : outcome.errors) out.String(line.c_str());
  out.EndArray();
  out.EndObject();
  if (!outcome.ok) return admin_json(400, buffer.GetString());
  audit(request, "config.reload", reloader_.config_path(), "{\"digest\":" + quoted(before) + "}",
        "{\"digest\":" + quoted(reloader_.digest()) + "}", *reason);
  return admin_json(200, buffer.GetString());
}

}  // namespace proxy
