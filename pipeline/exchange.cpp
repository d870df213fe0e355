#include "pipeline/exchange_hooks.hpp"

namespace proxy {

rules::RequestView Exchange::view() const {
  rules::RequestView v;
  v.method = method;
  v.host = host;
  const std::string_view target_view = target;
  const auto q = target_view.find('?');
  v.path = target_view.substr(0, q);
  if (q != std::string_view::npos) v.query = target_view.substr(q + 1);
  v.headers = &request_headers;
  v.body = request_body;
  v.provider = provider;
  v.explain = false;  // the exchange prices without reading why
  return v;
}

}  // namespace proxy
