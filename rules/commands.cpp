#include "rules/commands.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "rules/config_loader.hpp"
#include "rules/estimator.hpp"
#include "util/url.hpp"

namespace rules {
namespace {

LoadResult load(const std::string& path) {
  if (path.empty()) return load_embedded_defaults(std::filesystem::current_path().string());
  return load_config_file(path);
}

bool print_errors(const LoadResult& result, std::ostream& err) {
  for (const auto& e : result.errors) err << e.str() << "\n";
  if (result.errors.empty()) return false;
  err << result.errors.size() << (result.errors.size() == 1 ? " problem\n" : " problems\n");
  return true;
}

struct Url {
  std::string host, path, query;
};

// "https://api.openai.com/v1/chat/completions?x=1" (scheme optional, port dropped), the host in
// lower case as providers list their hosts.
std::optional<Url> parse_url(std::string_view text) {
  auto parsed = util::parse_url(text);
  if (!parsed) return std::nullopt;
  Url url{std::move(parsed->authority.host), std::move(parsed->path), std::move(parsed->query)};
  std::transform(url.host.begin(), url.host.end(), url.host.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return url;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

void print_json(const Priced& priced, std::ostream& out) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("provider");
  w.String(priced.provider ? priced.provider->name.c_str() : "");
  w.Key("endpoint");
  w.String(priced.provider ? priced.endpoint_name.c_str() : "");
  w.Key("model");
  w.String(priced.model.c_str());
  if (!priced.priced_as.empty()) {
    w.Key("priced_as");
    w.String(priced.priced_as.c_str());
  }
  w.Key("currency");
  w.String(priced.estimate.currency.c_str());
  w.Key("estimate");
  w.String(format_micros(priced.estimate.micros).c_str());
  w.Key("estimate_micros");
  w.Int64(priced.estimate.micros);
  w.Key("estimated_tokens");
  w.Int64(priced.estimated_tokens);
  w.Key("streaming");
  w.Bool(priced.streaming);
  w.Key("explanation");
  w.StartArray();
  for (const auto& line : lines_of(priced.explanation)) w.String(line.c_str());
  w.EndArray();
  if (priced.error) {
    w.Key("error");
    w.String(priced.error->c_str());
  }
  w.EndObject();
  out << buffer.GetString() << "\n";
}

void print_text(const Priced& priced, std::ostream& out) {
  if (!priced.provider) {
    out << "provider:  (none: this host is tunneled, not priced)\n";
  } else {
    out << "provider:  " << priced.provider->name << "\n"
        << "endpoint:  " << priced.endpoint_name << "\n"
        << "model:     " << (priced.model.empty() ? "-" : priced.model) << "\n"
        << (priced.priced_as.empty() ? "" : "priced as: " + priced.priced_as + "\n")
        << "currency:  " << priced.estimate.currency << "\n"
        << "estimate:  " << format_micros(priced.estimate.micros) << "\n"
        << "tokens:    " << priced.estimated_tokens << "\n"
        << "streaming: " << (priced.streaming ? "yes" : "no") << "\n";
  }
  out << "how:\n";
  for (const auto& line : lines_of(priced.explanation)) out << "  " << line << "\n";
}

std::string iso_date(std::chrono::sys_days day) {
  const std::chrono::year_month_day date{day};
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
  return text;
}

}  // namespace

int check_command(const std::string& config_path, std::ostream& out, std::ostream& err,
                  std::chrono::system_clock::time_point now) {
  const auto result = load(config_path);
  if (print_errors(result, err)) return 1;
  const Config& c = *result.config;
  std::size_t endpoints = 0, models = 0;
  for (const auto& p : c.providers) {
    endpoints += p.endpoints.size();
    models += p.models.size();
  }
  out << (config_path.empty() ? std::string("<embedded>") : config_path) << ": valid ("
      << c.providers.size() << " providers, " << endpoints << " endpoints, " << models
      << " models, " << c.budgets.size() << " budgets)\n";
  if (const auto age = c.catalog_age_days(now); age && *age > k_catalog_max_age_days)
    err << "warning: the prices in " << c.catalog_checked_file << " were checked on "
        << iso_date(*c.catalog_checked) << ", " << *age
        << " days ago: providers change prices and add models; use a newer tollgate or update "
           "the catalog\n";
  return 0;
}

int estimate_command(const EstimateArgs& args, std::ostream& out, std::ostream& err) {
  const auto url = parse_url(args.url);
  if (!url) {
    err << "estimate: cannot read the URL '" << args.url << "'\n";
    return 2;
  }
  std::string body = args.data;
  if (body.starts_with("@")) {
    std::ifstream in(body.substr(1), std::ios::binary);
    if (!in) {
      err << "estimate: cannot read '" << body.substr(1) << "'\n";
      return 2;
    }
    std::ostringstream text;
    text << in.rdbuf();
    body = text.str();
  }
  HeaderList headers;
  for (const auto& header : args.headers) {
    const auto colon = header.find(':');
    if (colon == std::string::npos || colon == 0) {
      err << "estimate: a header must be 'Name: value', got '" << header << "'\n";
      return 2;
    }
    auto value = header.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    headers.emplace_back(header.substr(0, colon), value);
  }
  const auto loaded = load(args.config_path);
  if (print_errors(loaded, err)) return 1;
  // Like curl: a request with data and no explicit method is a POST.
  std::string method = args.method.empty() ? "GET" : args.method;
  std::transform(method.begin(), method.end(), method.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  if (method == "GET" && !body.empty()) method = "POST";
  RequestView view;
  view.method = method;
  view.host = url->host;
  view.path = url->path;
  view.query = url->query;
  view.headers = &headers;
  view.body = body;
  const auto priced = price_request(*loaded.config, view);
  if (args.json)
    print_json(priced, out);
  else
    print_text(priced, out);
  return priced.error ? 1 : 0;
}

}  // namespace rules
