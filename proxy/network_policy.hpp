#pragma once
// tunnel.deny_networks: the addresses a CONNECT or a plain-HTTP request may not reach (DESIGN
// §11; the port rule is pipeline/head_stage.hpp), so that a client cannot use tollgate to reach the
// pod's loopback, a cloud metadata endpoint or a database port.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/host_addresses.hpp"

namespace proxy {

class NetworkPolicy {
 public:
  // Entries: "loopback", "link-local", "private" (RFC 1918, CGNAT 100.64.0.0/10, fc00::/7 and
  // `own_addresses`, this host's interfaces), or CIDRs such as "203.0.113.0/24", "fd00::/8".
  // Throws std::invalid_argument naming the first bad entry.
  explicit NetworkPolicy(const std::vector<std::string>& deny_networks,
                         const std::vector<std::string>& own_addresses = host_addresses());

  // `address` is a numeric IPv4 or IPv6 address (IPv4-mapped IPv6 is checked as IPv4);
  // anything unparsable is denied.
  bool denies(std::string_view address) const;

 private:
  struct Network {
    std::array<std::uint8_t, 16> bytes{};  // IPv4 in the IPv4-mapped form
    int prefix = 0;                        // over the 128 bits
  };
  void add(std::string_view cidr);
  std::vector<Network> networks_;
};

}  // namespace proxy
