#include "admin/report_command.hpp"

#include <rapidjson/document.h>

#include <map>
#include <vector>

#include "admin/admin_client.hpp"
#include "admin/text_table.hpp"
#include "rules/json_reader.hpp"
#include "rules/money.hpp"
#include "util/url.hpp"

namespace proxy {
namespace {

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    const auto comma = list.find(',', start);
    auto item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(std::move(item));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string text_of(const rapidjson::Value& object, const char* key) {
  const auto it = object.FindMember(key);
  if (it == object.MemberEnd()) return {};
  if (it->value.IsString()) return {it->value.GetString(), it->value.GetStringLength()};
  if (it->value.IsInt64()) return std::to_string(it->value.GetInt64());
  return {};
}

std::string csv_cell(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

struct Total {
  std::int64_t requests = 0, refused = 0, spent = 0, estimated = 0, input = 0, output = 0;
};

}  // namespace

std::optional<std::string> format_report(const std::string& spend_json, const std::string& by,
                                         std::size_t top, bool csv) {
  rapidjson::Document doc;
  if (!rules::read_json(doc, spend_json).ok() || !doc.IsObject() || !doc.HasMember("groups") ||
      !doc["groups"].IsArray())
    return std::nullopt;
  const auto keys = split(by);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head = keys;
  for (const char* column :
       {"currency", "requests", "refused", "spent", "estimated", "input_tokens", "output_tokens"})
    head.emplace_back(column);
  rows.push_back(head);
  std::map<std::string, Total> totals;  // per currency
  std::size_t shown = 0;
  for (const auto& g : doc["groups"].GetArray()) {
    if (!g.IsObject()) return std::nullopt;
    const auto currency = text_of(g, "currency");
    Total& t = totals[currency];
    const auto number = [&](const char* key) {
      const auto it = g.FindMember(key);
      return it != g.MemberEnd() && it->value.IsInt64() ? it->value.GetInt64() : 0;
    };
    const auto amount = [&](const char* key) {
      return rules::parse_micros(text_of(g, key)).value_or(0);
    };
    t.requests += number("requests");
    t.refused += number("refused");
    t.spent += amount("spent");
    t.estimated += amount("estimated");
    t.input += number("input_tokens");
    t.output += number("output_tokens");
    if (top && shown >= top) continue;
    ++shown;
    std::vector<std::string> row;
    for (const auto& key : keys) {
      auto value = text_of(g, key.c_str());
      row.push_back(value.empty() && !csv ? "-" : value);
    }
    for (const char* column :
         {"currency", "requests", "refused", "spent", "estimated", "input_tokens", "output_tokens"})
      row.push_back(text_of(g, column));
    rows.push_back(std::move(row));
  }
  std::string out;
  if (csv) {
    for (const auto& row : rows) {
      for (std::size_t i = 0; i < row.size(); ++i) out += (i ? "," : "") + csv_cell(row[i]);
      out += "\r\n";
    }
    return out;
  }
  if (rows.size() == 1) return std::string("no spend in this period\n");
  for (const auto& [currency, t] : totals) {
    std::vector<std::string> row(keys.size(), "");
    if (!row.empty()) row[0] = "total";
    row.insert(row.end(), {currency, std::to_string(t.requests), std::to_string(t.refused),
                           rules::format_micros(t.spent), rules::format_micros(t.estimated),
                           std::to_string(t.input), std::to_string(t.output)});
    rows.push_back(std::move(row));
  }
  format_columns(rows, out, keys.size() + 1);
  return out;
}

int report_command(const ReportOptions& options, std::ostream& out, std::ostream& err) {
  const auto base = admin_base(options.admin_url);
  if (!base) {
    err << "report: the admin URL must look like http://127.0.0.1:9090, got '" << options.admin_url
        << "'\n";
    return 2;
  }
  std::string path = "/v1/spend?group_by=" + util::percent_encode(options.by);
  if (!options.since.empty()) path += "&since=" + util::percent_encode(options.since);
  if (!options.until.empty()) path += "&until=" + util::percent_encode(options.until);
  if (!options.currency.empty()) path += "&currency=" + util::percent_encode(options.currency);
  const HttpClient client;
  const auto spend = admin_get(client, *base, path);
  if (!spend.ok) {
    if (!spend.reached)
      err << "report: cannot reach the admin API at " << options.admin_url << ": " << spend.text
          << " (is tollgate running? see admin.listen)\n";
    else
      err << "report: " << spend.text << "\n";
    return 1;
  }
  const auto text = format_report(spend.text, options.by, options.top, options.csv);
  if (!text) {
    err << "report: the admin API answered something that is not the expected JSON\n";
    return 1;
  }
  out << *text;
  return 0;
}

}  // namespace proxy
