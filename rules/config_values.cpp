#include "rules/config_values.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>

namespace rules {
namespace {

bool is_name_char(char c, bool first) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         (!first && std::isdigit(static_cast<unsigned char>(c)));
}

// Length of a NAME or NAME:-default reference body starting at `text` up to (excluding) `close`,
// or npos when the text there is not a well-formed reference.
std::size_t reference_length(std::string_view text, char close) {
  std::size_t i = 0;
  while (i < text.size() && is_name_char(text[i], i == 0)) ++i;
  if (i == 0) return std::string_view::npos;
  if (i < text.size() && text[i] == close) return i;
  if (text.substr(i, 2) != ":-") return std::string_view::npos;
  for (std::size_t j = i + 2; j < text.size(); ++j) {
    if (text[j] == close) return j;
    if (text[j] == '\n' || text[j] == '<' || text[j] == '>' || text[j] == '{' || text[j] == '}')
      return std::string_view::npos;
  }
  return std::string_view::npos;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 12) return std::nullopt;
  std::int64_t value = 0;
  std::from_chars(text.data(), text.data() + digits, value);
  const auto unit = text.substr(digits);
  using namespace std::chrono;
  if (unit == "ms") return milliseconds(value);
  if (unit == "s") return duration_cast<milliseconds>(seconds(value));
  if (unit == "m") return duration_cast<milliseconds>(minutes(value));
  if (unit == "h") return duration_cast<milliseconds>(hours(value));
  if (unit == "d") return duration_cast<milliseconds>(hours(24 * value));
  return std::nullopt;
}

std::optional<int> parse_percentage(std::string_view text) {
  if (text.size() < 2 || text.back() != '%' || text.size() > 5) return std::nullopt;
  int value = 0;
  const auto number = text.substr(0, text.size() - 1);
  auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc{} || ptr != number.data() + number.size() || value < 0 || value > 1000)
    return std::nullopt;
  return value;
}

std::optional<ValueRef> parse_value_ref(std::string_view text) {
  ValueRef ref;
  ref.text = std::string(text);
  struct Prefix {
    std::string_view name;
    ValueRef::Source source;
  };
  static constexpr Prefix k_prefixes[] = {{"body:", ValueRef::Source::body},
                                          {"query:", ValueRef::Source::query},
                                          {"header:", ValueRef::Source::header},
                                          {"path:", ValueRef::Source::path},
                                          {"subprotocol:", ValueRef::Source::subprotocol}};
  for (const auto& prefix : k_prefixes) {
    if (!text.starts_with(prefix.name)) continue;
    ref.source = prefix.source;
    ref.key = std::string(text.substr(prefix.name.size()));
    if (ref.key.empty()) return std::nullopt;
    if (ref.source == ValueRef::Source::body && ref.key.front() != '/') return std::nullopt;
    if (ref.source == ValueRef::Source::header)
      std::transform(ref.key.begin(), ref.key.end(), ref.key.begin(),
                     [](unsigned char c) { return std::tolower(c); });
    return ref;
  }
  if (text.empty()) return std::nullopt;
  ref.source = ValueRef::Source::literal;
  ref.key = std::string(text);
  return ref;
}

std::optional<HostPortText> parse_host_port(std::string_view text) {
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3) return std::nullopt;
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return std::nullopt;
  }
  const auto port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc{} || ptr != port_text.data() + port_text.size() ||
      port > 65535)
    return std::nullopt;
  return HostPortText{std::string(host), static_cast<std::uint16_t>(port)};
}

std::string protect_env_refs(std::string_view yaml) {
  std::string out(yaml);
  for (std::size_t i = 0; i + 1 < out.size(); ++i) {
    if (out[i] != '$' || out[i + 1] != '{') continue;
    const auto length = reference_length(std::string_view(out).substr(i + 2), '}');
    if (length == std::string_view::npos) continue;
    out[i + 1] = '<';
    out[i + 2 + length] = '>';
  }
  return out;
}

std::optional<std::string> expand_env(std::string_view scalar, std::string& error) {
  std::string out;
  std::size_t i = 0;
  while (i < scalar.size()) {
    const auto start = scalar.find("$<", i);
    if (start == std::string_view::npos) break;
    const auto body = scalar.substr(start + 2);
    const auto length = reference_length(body, '>');
    if (length == std::string_view::npos) {
      out.append(scalar.substr(i, start + 2 - i));
      i = start + 2;
      continue;
    }
    out.append(scalar.substr(i, start - i));
    const auto reference = body.substr(0, length);
    const auto split = reference.find(":-");
    const std::string name(reference.substr(0, split));
    if (const char* value = std::getenv(name.c_str());
        value && (*value || split == reference.npos)) {
      out += value;
    } else if (split != std::string_view::npos) {
      out.append(reference.substr(split + 2));
    } else {
      error = "environment variable '" + name + "' is not set (write ${" + name +
              ":-default} to allow that)";
      return std::nullopt;
    }
    i = start + 2 + length + 1;
  }
  out.append(scalar.substr(std::min(i, scalar.size())));
  return out;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string best;
  std::size_t best_distance = 3;
  for (const auto candidate : candidates) {
    const auto distance = edit_distance(word, candidate);
    if (distance < best_distance && distance * 2 < std::max(word.size(), candidate.size())) {
      best_distance = distance;
      best = std::string(candidate);
    }
  }
  return best;
}

}  // namespace rules
