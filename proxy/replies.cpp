#include "proxy/replies.hpp"

#include "telemetry/access_log.hpp"

namespace proxy {

std::string error_json(std::string_view message, std::string_view type) {
  return "{\"error\":{\"message\":" + json_quote(message) + ",\"type\":" + json_quote(type) + "}}";
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
