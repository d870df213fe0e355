#include "rules/yaml_reader.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "rules/config_values.hpp"
#include "rules/money.hpp"

namespace rules {
namespace {

std::string quoted(std::string_view key) {
  std::string out;
  out.reserve(key.size() + 2);
  out.push_back('\'');
  out.append(key);
  out.push_back('\'');
  return out;
}

std::string join_choices(std::initializer_list<std::string_view> choices) {
  std::string out;
  std::size_t i = 0;
  for (const auto choice : choices) {
    if (i > 0) out += (i + 1 == choices.size()) ? " or " : ", ";
    out += choice;
    ++i;
  }
  return out;
}

}  // namespace

Mark YamlReader::mark(const YAML::Node& node) const {
  const auto m = node.Mark();
  if (m.is_null()) return Mark{file_, 0, 0};
  return Mark{file_, m.line + 1, m.column + 1};
}

void YamlReader::error(const YAML::Node& node, std::string message) {
  error(mark(node), std::move(message));
}

void YamlReader::error(const Mark& mark, std::string message) {
  errors_.push_back(Diagnostic{mark.file, mark.line, mark.col, std::move(message)});
}

bool YamlReader::expect_map(const YAML::Node& node, std::string_view what,
                            std::initializer_list<std::string_view> allowed) {
  if (!node.IsMap()) {
    error(node, quoted(what) + " must be a mapping");
    return false;
  }
  const std::vector<std::string_view> candidates(allowed);
  std::vector<std::string> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const auto key = it->first.Scalar();
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      error(it->first, "duplicate key '" + key + "' in " + std::string(what));
      continue;
    }
    seen.push_back(key);
    if (std::find(candidates.begin(), candidates.end(), key) != candidates.end()) continue;
    std::string message = "unknown key '" + key + "' in " + std::string(what);
    if (const auto close = did_you_mean(key, candidates); !close.empty())
      message += " (did you mean '" + close + "'?)";
    error(it->first, std::move(message));
  }
  return true;
}

bool YamlReader::expect_sequence(const YAML::Node& node, std::string_view what) {
  if (node.IsSequence()) return true;
  error(node, quoted(what) + " must be a list");
  return false;
}

std::optional<std::string> YamlReader::string(const YAML::Node& node, std::string_view key) {
  if (node.IsNull()) return std::string();
  if (!node.IsScalar()) {
    error(node, quoted(key) + " must be a single value");
    return std::nullopt;
  }
  std::string problem;
  auto expanded = expand_env(node.Scalar(), problem);
  if (!expanded) error(node, problem);
  return expanded;
}

std::optional<std::int64_t> YamlReader::integer(const YAML::Node& node, std::string_view key,
                                                std::int64_t min) {
  const auto text = string(node, key);
  if (!text) return std::nullopt;
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (text->empty() || ec != std::errc{} || ptr != text->data() + text->size() || value < min) {
    error(node, quoted(key) + " must be a whole number" +
                    (min == 0 ? std::string(" >= 0") : " >= " + std::to_string(min)) + ", got '" +
                    *text + "'");
    return std::nullopt;
  }
  return value;
}

std::optional<std::int64_t> YamlReader::amount(const YAML::Node& node, std::string_view key) {
  const auto text = string(node, key);
  if (!text) return std::nullopt;
  const auto micros = parse_micros(*text);
  if (!micros || *micros < 0) {
    error(node, quoted(key) + " must be a decimal amount >= 0 with at most 6 decimals, got '" +
                    *text + "'");
    return std::nullopt;
  }
  if (*micros > k_max_amount) {
    error(node, quoted(key) + " must be at most " + format_micros(k_max_amount) + ", got '" +
                    *text + "'");
    return std::nullopt;
  }
  return micros;
}

std::optional<bool> YamlReader::boolean(const YAML::Node& node, std::string_view key) {
  const auto text = string(node, key);
  if (!text) return std::nullopt;
  if (*text == "true") return true;
  if (*text == "false") return false;
  error(node, quoted(key) + " must be true or false, got '" + *text + "'");
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> YamlReader::duration(const YAML::Node& node,
                                                              std::string_view key) {
  const auto text = string(node, key);
  if (!text) return std::nullopt;
  const auto value = parse_duration(*text);
  if (!value)
    error(node,
          quoted(key) + " must be a duration like 500ms, 30s, 10m, 1h or 7d, got '" + *text + "'");
  return value;
}

std::optional<int> YamlReader::percentage(const YAML::Node& node, std::string_view key) {
  const auto text = string(node, key);
  if (!text) return std::nullopt;
  const auto value = parse_percentage(*text);
  if (!value) error(node, quoted(key) + " must be a percentage like 80%, got '" + *text + "'");
  return value;
}

std::optional<ValueRef> YamlReader::value_ref(const YAML::Node& node, std::string_view key) {
  const auto text = string(node, key);
  if (!text) return std::nullopt;
  auto ref = parse_value_ref(*text);
  if (!ref)
    error(node, quoted(key) +
                    " must be body:/json/pointer, query:NAME, header:NAME, path:NAME or a value, "
                    "got '" +
                    *text + "'");
  return ref;
}

std::optional<std::vector<std::string>> YamlReader::strings(const YAML::Node& node,
                                                            std::string_view key) {
  std::vector<std::string> out;
  if (node.IsSequence()) {
    bool ok = true;
    for (const auto& item : node) {
      auto text = string(item, key);
      if (text)
        out.push_back(std::move(*text));
      else
        ok = false;
    }
    if (!ok) return std::nullopt;
    return out;
  }
  auto text = string(node, key);
  if (!text) return std::nullopt;
  out.push_back(std::move(*text));
  return out;
}

std::vector<ValueRef> YamlReader::value_refs(const YAML::Node& node, std::string_view key) {
  std::vector<ValueRef> out;
  if (node.IsSequence()) {
    for (const auto& item : node)
      if (auto ref = value_ref(item, key)) out.push_back(std::move(*ref));
  } else if (auto ref = value_ref(node, key)) {
    out.push_back(std::move(*ref));
  }
  return out;
}

std::optional<std::string> YamlReader::choice(const YAML::Node& node, std::string_view key,
                                              std::initializer_list<std::string_view> choices) {
  auto text = string(node, key);
  if (!text) return std::nullopt;
  for (const auto choice : choices)
    if (*text == choice) return text;
  error(node, quoted(key) + " must be " + join_choices(choices) + ", got '" + *text + "'");
  return std::nullopt;
}

std::string YamlReader::path(const std::string& path) const {
  if (path.empty()) return path;
  std::filesystem::path p(path);
  if (p.is_absolute()) return p.lexically_normal().string();
  return (std::filesystem::path(dir_) / p).lexically_normal().string();
}

}  // namespace rules
