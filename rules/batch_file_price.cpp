// price_batch_file (declared in rules/estimator.hpp): an OpenAI batch input file priced line by
// line, each line as the request it stands for.
#include <rapidjson/document.h>

#include "rules/estimator.hpp"
#include "rules/json_reader.hpp"
#include "rules/money.hpp"
#include "rules/usage_fields.hpp"

namespace rules {

BatchFilePrice price_batch_file(const Config& config, const Provider& provider,
                                std::string_view jsonl) {
  BatchFilePrice out;
  std::size_t start = 0;
  for (std::int64_t number = 1; start < jsonl.size(); ++number) {
    auto end = jsonl.find('\n', start);
    if (end == std::string_view::npos) end = jsonl.size();
    std::string_view text = jsonl.substr(start, end - start);
    start = end + 1;
    while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
    if (text.empty()) continue;
    auto fail = [&](const std::string& why) {
      out.error = "line " + std::to_string(number) + " of the batch input file: " + why;
      return out;
    };
    rapidjson::Document line;
    if (!read_json(line, text, {.reject_duplicate_keys = true}).ok() || !line.IsObject())
      return fail("not a JSON object");
    const auto* url = json_at(line, "/url");
    const auto* body = json_at(line, "/body");
    if (!url || !url->IsString() || !body || !body->IsObject())
      return fail("needs a \"url\" and a \"body\" object");
    const auto* method = json_at(line, "/method");
    const std::string body_text = json_text(*body);
    std::string_view path(url->GetString(), url->GetStringLength());
    RequestView request;
    request.method = method && method->IsString() ? std::string_view(method->GetString()) : "POST";
    request.host = provider.hosts.empty() ? std::string_view() : provider.hosts.front();
    request.provider = &provider;
    request.path = path.substr(0, path.find('?'));
    request.body = body_text;
    const Priced priced = price_request(config, request);
    if (priced.error) return fail(*priced.error);
    out.micros = saturating_add(out.micros, priced.estimate.micros);
    ++out.requests;
  }
  return out;
}

}  // namespace rules
