#include "pipeline/head_stage.hpp"

#include <algorithm>

#include "pipeline/header_filter.hpp"

namespace proxy {

std::string port_problem(const std::vector<std::uint16_t>& allowed_ports, std::uint16_t port,
                         bool plain_http) {
  if (plain_http && port == 80) return "";
  if (std::find(allowed_ports.begin(), allowed_ports.end(), port) != allowed_ports.end()) return "";
  return std::string(plain_http ? "HTTP" : "CONNECT") + " to port " + std::to_string(port) +
         " is not allowed (tunnel.allowed_ports)";
}

HeadVerdict check_head(const rules::Config& config, const HeadRequest& request) {
  HeadVerdict verdict;
  // A base URL carries Proxy-Authorization only as an extra header the app sets; user:password
  // in a base URL becomes the provider's Authorization, not ours.
  const auto user = authorize_client(config.clients.users, config.clients.require_auth,
                                     request.proxy_authorization);
  if (!user) {
    HeadRefusal refusal{407, "proxy authentication required", "authentication_error", {}};
    refusal.headers.emplace_back("Proxy-Authenticate", "Basic realm=\"tollgate\"");
    verdict.refusal = std::move(refusal);
    return verdict;
  }
  verdict.user = *user;
  if (request.kind == HeadKind::base_url) return verdict;  // always the provider's port 443
  // The same port rule for both: else GET http://host:6379/ reaches what CONNECT may not.
  const bool plain = request.kind == HeadKind::plain_http;
  if (auto message = port_problem(config.tunnel.allowed_ports, request.port, plain);
      !message.empty()) {
    verdict.refusal = HeadRefusal{403, std::move(message), "forbidden", {}};
    return verdict;
  }
  if (!request.provider && !config.tunnel.allow_unknown_hosts)
    verdict.refusal = HeadRefusal{
        403,
        "host " + std::string(request.host) + " is not allowed (tunnel.unknown_hosts: deny)",
        "forbidden",
        {}};
  return verdict;
}

}  // namespace proxy
