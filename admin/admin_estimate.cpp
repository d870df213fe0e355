// POST /v1/estimate: the same pricing engine as `tollgate estimate`, on the live config, plus the
// budgets the request would be reserved in.
#include <rapidjson/document.h>

#include <algorithm>
#include <cctype>
#include <sstream>

#include "admin/admin_json.hpp"
#include "admin/admin_routes.hpp"
#include "rules/estimator.hpp"
#include "rules/json_reader.hpp"
#include "util/url.hpp"

namespace proxy {
namespace {

struct Url {
  std::string host, path, query;
};

// "https://api.openai.com/v1/chat/completions?x=1" (scheme optional, port dropped), the host in
// lower case as providers list their hosts.
std::optional<Url> split_url(std::string_view text) {
  auto parsed = util::parse_url(text);
  if (!parsed) return std::nullopt;
  Url url{std::move(parsed->authority.host), std::move(parsed->path), std::move(parsed->query)};
  std::transform(url.host.begin(), url.host.end(), url.host.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return url;
}

bool accepts(const std::vector<std::string>& filter, const std::string& value) {
  return filter.empty() || std::find(filter.begin(), filter.end(), value) != filter.end();
}

// DESIGN §6: a request falls in every budget whose match accepts it and whose currency is the
// request's currency.
std::vector<std::string> budgets_hit(const rules::Config& config, const rules::Priced& priced,
                                     const std::string& client) {
  std::vector<std::string> names;
  if (!priced.provider) return names;
  for (const auto& b : config.budgets) {
    if (b.currency != priced.estimate.currency) continue;
    const auto& m = b.match;
    if (accepts(m.provider, priced.provider->name) && accepts(m.endpoint, priced.endpoint_name) &&
        accepts(m.model, priced.model) && accepts(m.client, client))
      names.push_back(b.name);
  }
  return names;
}

std::string string_member(const rapidjson::Value& doc, const char* key) {
  const auto it = doc.FindMember(key);
  if (it == doc.MemberEnd() || !it->value.IsString()) return {};
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

}  // namespace

AdminResponse AdminRoutes::estimate(const AdminRequest& request) {
  rapidjson::Document doc;
  if (const auto read = rules::read_json(doc, request.body); !read.ok())
    return admin_error(400,
                       "bad JSON at offset " + std::to_string(read.offset) + ": " + read.message);
  if (!doc.IsObject()) return admin_error(400, "body: expected a JSON object");
  const auto url = split_url(string_member(doc, "url"));
  if (!url) return admin_error(400, "url: required, such as \"https://api.openai.com/v1/...\"");
  std::string method = string_member(doc, "method");
  std::transform(method.begin(), method.end(), method.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  rules::HeaderList headers;
  if (auto it = doc.FindMember("headers"); it != doc.MemberEnd()) {
    if (!it->value.IsObject()) return admin_error(400, "headers: expected an object of strings");
    for (const auto& h : it->value.GetObject()) {
      if (!h.value.IsString()) return admin_error(400, "headers: expected an object of strings");
      headers.emplace_back(h.name.GetString(), h.value.GetString());
    }
  }
  std::string body;
  if (auto it = doc.FindMember("body"); it != doc.MemberEnd() && !it->value.IsNull()) {
    if (it->value.IsString()) {
      body.assign(it->value.GetString(), it->value.GetStringLength());
    } else {
      rapidjson::StringBuffer buffer;
      JsonWriter out(buffer);
      it->value.Accept(out);
      body = buffer.GetString();
    }
  }
  if (method.empty()) method = body.empty() ? "GET" : "POST";
  const auto config = holder_.get();
  rules::RequestView view;
  view.method = method;
  view.host = url->host;
  view.path = url->path;
  view.query = url->query;
  view.headers = &headers;
  view.body = body;
  const auto priced = rules::price_request(*config, view);

  rapidjson::StringBuffer buffer;
  JsonWriter out(buffer);
  auto field = [&](const char* key, const std::string& value) {
    out.Key(key);
    out.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  out.StartObject();
  field("provider", priced.provider ? priced.provider->name : "");
  field("endpoint", priced.provider ? priced.endpoint_name : "");
  field("model", priced.model);
  if (!priced.priced_as.empty()) field("priced_as", priced.priced_as);
  field("currency", priced.estimate.currency);
  field("estimate", rules::format_micros(priced.estimate.micros));
  out.Key("budgets");
  out.StartArray();
  for (const auto& name : budgets_hit(*config, priced, string_member(doc, "client")))
    out.String(name.c_str());
  out.EndArray();
  field("explanation", priced.explanation);
  if (priced.error) field("error", *priced.error);
  out.EndObject();
  return admin_json(200, buffer.GetString());
}

}  // namespace proxy
