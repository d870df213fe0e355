// client_identity (enforcement_hooks.hpp): who the client is, per clients.identify.
#include "pipeline/enforcement_hooks.hpp"
#include "rules/request_view.hpp"

namespace proxy {

std::string client_identity(const rules::ClientsConfig& clients, const Exchange& exchange) {
  using Identify = rules::ClientsConfig::Identify;
  switch (clients.identify) {
    case Identify::proxy_auth:
      return exchange.client_user;
    case Identify::header:
      return std::string(rules::find_header(exchange.request_headers, clients.header_name));
    case Identify::source_ip: {
      const auto colon = exchange.client_address.rfind(':');
      return exchange.client_address.substr(0, colon);
    }
    case Identify::none:
      break;
  }
  return {};
}

}  // namespace proxy
