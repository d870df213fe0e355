#include "proxy/replies.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <set>

#include "telemetry/access_log.hpp"

namespace proxy {

std::string error_json(std::string_view message, std::string_view type) {
  return "{\"error\":{\"message\":" + json_quote(message) + ",\"type\":" + json_quote(type) + "}}";
}

std::string unknown_prefix_json(const rules::Config& config, std::string_view prefix) {
  std::set<std::string> names, prefixes;
  for (const auto& p : config.providers) {
    names.insert(p.name);
    prefixes.insert("/" + p.name + "/");
    if (!p.base_path.empty()) prefixes.insert("/" + p.base_path + "/");
  }
  std::string message =
      "tollgate: '/" + std::string(prefix) + "' names no provider; a base URL starts with one of";
  for (const auto& p : prefixes) message += " " + p;
  message += " (a forward proxy takes absolute-form http:// targets and CONNECT)";
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  const auto string = [&w](std::string_view s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Key("message");
  string(message);
  w.Key("type");
  string("not_found");
  w.Key("providers");
  w.StartArray();
  for (const auto& name : names) string(name);
  w.EndArray();
  w.EndObject();
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

net::http::response<net::http::string_body> make_reply(int status, const rules::HeaderList& headers,
                                                       std::string body, bool keep_alive) {
  net::http::response<net::http::string_body> reply;
  reply.result(static_cast<unsigned>(status));
  reply.version(11);
  bool has_type = false;
  for (const auto& [name, value] : headers) {
    reply.insert(name, value);
    has_type = has_type || net::beast::iequals(name, "content-type");
  }
  if (!has_type && !body.empty()) reply.set(net::http::field::content_type, "application/json");
  reply.set(net::http::field::via, "1.1 tollgate");
  reply.body() = std::move(body);
  reply.keep_alive(keep_alive);
  reply.prepare_payload();
  return reply;
}

}  // namespace proxy
