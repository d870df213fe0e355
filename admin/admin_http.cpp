#include "admin/admin_http.hpp"

namespace proxy {

namespace http = boost::beast::http;

http::response<http::string_body> to_http(const AdminResponse& r, unsigned version,
                                          bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "tollgate");
  res.set(http::field::content_type, r.content_type);
  // Budgets and events change by the second: no answer is ever served from a cache.
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  for (const auto& [name, value] : r.headers) res.set(name, value);
  res.body() = r.body;
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

}  // namespace proxy
