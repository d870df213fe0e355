#include "proxy/forwarded_heads.hpp"

#include <algorithm>
#include <iterator>

#include "pipeline/cors_policy.hpp"
#include "pipeline/header_filter.hpp"
#include "util/text.hpp"

namespace proxy {

using namespace net;

bool states_length(const Exchange& ex) {
  return !ex.request_body.empty() || ex.method == "POST" || ex.method == "PUT" ||
         ex.method == "PATCH";
}

http::request<http::buffer_body> beast_request(const Exchange& ex) {
  http::request<http::buffer_body> req;
  req.method_string(ex.method);
  req.target(ex.target);
  req.version(11);
  for (const auto& [name, value] : ex.request_headers) req.insert(name, value);
  req.erase(http::field::content_length);
  if (states_length(ex)) req.content_length(ex.request_body.size());
  req.body().data = const_cast<char*>(ex.request_body.data());
  req.body().size = ex.request_body.size();
  req.body().more = false;
  return req;
}

void flat_request(const Exchange& ex, std::string& out) {
  std::size_t size = ex.method.size() + ex.target.size() + 64 + ex.request_body.size();
  for (const auto& [name, value] : ex.request_headers) size += name.size() + value.size() + 4;
  out.clear();
  out.reserve(std::max<std::size_t>(size, 4096));
  out.append(ex.method).append(" ").append(ex.target).append(" HTTP/1.1\r\n");
  for (const auto& [name, value] : ex.request_headers)
    if (!util::iequals(name, "content-length"))
      out.append(name).append(": ").append(value).append("\r\n");
  if (states_length(ex))
    out.append("Content-Length: ").append(std::to_string(ex.request_body.size())).append("\r\n");
  out.append("\r\n").append(ex.request_body);
}

std::string take_response_head(Exchange& ex, http::response<http::buffer_body, HeadFields>& res,
                               ExchangeHooks& hooks, bool upgraded) {
  ex.status = res.result_int();
  ex.response_headers.clear();
  // Room for the upstream's fields and the few the hooks add (Via, x-tollgate-*): one allocation.
  ex.response_headers.reserve(std::distance(res.begin(), res.end()) + 8);
  for (const auto& field : res)
    ex.response_headers.emplace_back(field.name_string(), field.value());
  std::string content_encoding(rules::find_header(ex.response_headers, "content-encoding"));
  remove_hop_by_hop(ex.response_headers, upgraded);
  const std::size_t kept = ex.response_headers.size();
  ex.response_headers.emplace_back("Via", "1.1 tollgate");
  hooks.on_response_head(ex);
  if (ex.mode == ExchangeMode::base_url)  // after the hooks: their x-tollgate-* are exposed too
    CorsPolicy(ex.config->base_url).mark(ex.cors_origin, ex.response_headers);
  // The head goes out as the list now says. Usually that is the upstream's fields less the
  // hop-by-hop ones, then ours: those are dropped from the parsed head and ours added, instead of
  // every field being allocated again; when the hooks changed any upstream field, it is rebuilt.
  std::size_t matched = 0;
  const auto& list = ex.response_headers;
  for (auto it = res.begin(); it != res.end();) {
    if (matched < kept && matched < list.size() &&
        util::iequals(it->name_string(), list[matched].first) &&
        it->value() == list[matched].second) {
      ++it;
      ++matched;
    } else {
      it = res.erase(it);
    }
  }
  if (matched < kept) {
    res.clear();
    matched = 0;
  }
  for (std::size_t i = matched; i < list.size(); ++i) res.insert(list[i].first, list[i].second);
  res.version(11);
  return content_encoding;
}

}  // namespace proxy
