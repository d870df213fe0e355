#include "rules/request_values.hpp"

#include <rapidjson/pointer.h>

#include <charconv>

#include "rules/multipart.hpp"
#include "rules/usage_fields.hpp"

namespace rules {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+')
      out += ' ';
    else if (in[i] == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 &&
             hex_value(in[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
      i += 2;
    } else
      out += in[i];
  }
  return out;
}

std::int64_t utf8_chars(std::string_view text) {
  std::int64_t n = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::int64_t split_count(std::string_view text, const std::string& separator) {
  if (separator.empty()) return text.empty() ? 0 : 1;
  std::int64_t n = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(separator, start);
    if (end == std::string_view::npos) end = text.size();
    auto part = text.substr(start, end - start);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (!part.empty()) ++n;
    start = end + separator.size();
  }
  return n;
}

}  // namespace

std::optional<std::string> subprotocol(std::string_view list, std::string_view prefix) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    auto item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.size() > prefix.size() && item.starts_with(prefix))
      return std::string(item.substr(prefix.size()));
  }
  return std::nullopt;
}

bool RequestValues::body_is_json() {
  if (!parsed_) {
    parsed_ = true;
    body_read_ = read_json(body_, request_.body, {.reject_duplicate_keys = true});
  }
  return body_read_.ok();
}

std::optional<std::string> RequestValues::body_refusal() {
  if (body_is_json() || !body_read_.hostile()) return std::nullopt;
  return body_read_.message + " in the request body";
}

const rapidjson::Value* RequestValues::json(const std::string& pointer) {
  if (!body_is_json()) return nullptr;
  const auto* value = json_at(body_, pointer);
  return value && !value->IsNull() ? value : nullptr;
}

std::optional<std::string> RequestValues::query_param(const std::string& name) const {
  std::string_view query = request_.query;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (percent_decode(pair.substr(0, eq)) != name) continue;
    return eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
  }
  return std::nullopt;
}

std::optional<std::string> RequestValues::form_field(const std::string& pointer) {
  // A multipart/form-data body (OpenAI's SDKs send video and image uploads so): a one-segment
  // pointer names a form field.
  if (pointer.size() < 2 || pointer.find('/', 1) != std::string::npos || body_is_json())
    return std::nullopt;
  const auto field =
      multipart_field(request_.header("content-type"), request_.body, pointer.substr(1));
  if (!field) return std::nullopt;
  return std::string(*field);
}

bool RequestValues::present(const ValueRef& ref) {
  if (ref.source == ValueRef::Source::body)
    return json(ref.key) != nullptr || form_field(ref.key).has_value();
  return text(ref).has_value();
}

std::optional<std::string> RequestValues::text(const ValueRef& ref) {
  switch (ref.source) {
    case ValueRef::Source::none:
      return std::nullopt;
    case ValueRef::Source::literal:
      return ref.key;
    case ValueRef::Source::query:
      return query_param(ref.key);
    case ValueRef::Source::header: {
      const auto value = request_.header(ref.key);
      if (value.empty()) return std::nullopt;
      return std::string(value);
    }
    case ValueRef::Source::subprotocol:
      return subprotocol(request_.header("sec-websocket-protocol"), ref.key);
    case ValueRef::Source::path:
      for (const auto& [name, value] : captures_)
        if (name == ref.key) return value;
      return std::nullopt;
    case ValueRef::Source::body: {
      const auto* value = json(ref.key);
      if (!value) return form_field(ref.key);
      if (value->IsString()) return std::string(value->GetString(), value->GetStringLength());
      return json_text(*value);
    }
  }
  return std::nullopt;
}

std::optional<std::int64_t> RequestValues::integer(const ValueRef& ref) {
  if (ref.source == ValueRef::Source::body) {
    const auto* value = json(ref.key);
    if (value && value->IsInt64()) return value->GetInt64();
    if (value && value->IsDouble()) {
      // A float where a count belongs (e.g. 8.0 seconds): round up, never under-count.
      const double d = value->GetDouble();
      if (d >= 0 && d < 1e15) {
        const auto whole = static_cast<std::int64_t>(d);
        return whole + (static_cast<double>(whole) < d ? 1 : 0);
      }
      return std::nullopt;
    }
    if (value && !value->IsString()) return std::nullopt;
  }
  const auto t = text(ref);
  if (!t) return std::nullopt;
  std::int64_t n = 0;
  auto [ptr, ec] = std::from_chars(t->data(), t->data() + t->size(), n);
  if (t->empty() || ec != std::errc{} || ptr != t->data() + t->size()) return std::nullopt;
  return n;
}

std::optional<bool> RequestValues::boolean(const ValueRef& ref) {
  if (ref.source == ValueRef::Source::body) {
    const auto* value = json(ref.key);
    if (value && value->IsBool()) return value->GetBool();
  }
  const auto t = text(ref);
  if (t == "true") return true;
  if (t == "false") return false;
  return std::nullopt;
}

std::optional<std::int64_t> RequestValues::count(const ValueRef& ref, const std::string& separator,
                                                 bool chars) {
  if (ref.source == ValueRef::Source::body) {
    const auto* value = json(ref.key);
    if (!value) return std::nullopt;
    if (value->IsArray()) return static_cast<std::int64_t>(value->Size());
    if (!value->IsString()) return 1;
  }
  const auto t = text(ref);
  if (!t) return std::nullopt;
  return chars ? utf8_chars(*t) : split_count(*t, separator);
}

std::optional<std::int64_t> RequestValues::bytes(const ValueRef& ref, std::int64_t& elements) {
  elements = 0;
  if (ref.source == ValueRef::Source::body) {
    if (const auto* value = json(ref.key)) {
      if (value->IsArray()) elements = static_cast<std::int64_t>(value->Size());
      // As text() would give it, without making the text.
      return static_cast<std::int64_t>(value->IsString() ? value->GetStringLength()
                                                         : json_size(*value));
    }
  }
  const auto t = text(ref);
  if (!t) return std::nullopt;
  return static_cast<std::int64_t>(t->size());
}

}  // namespace rules
