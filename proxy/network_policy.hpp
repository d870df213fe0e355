#pragma once
// tunnel.deny_networks: the addresses a CONNECT may not reach after resolution (DESIGN §11), so
// that a client cannot use tollgate to reach the pod's loopback or a cloud metadata endpoint.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace proxy {

class NetworkPolicy {
 public:
  // Entries: "loopback", "link-local", "private" (RFC 1918 + fc00::/7), or CIDRs such as
  // "100.64.0.0/10", "fd00::/8". Throws std::invalid_argument naming the first bad entry.
  explicit NetworkPolicy(const std::vector<std::string>& deny_networks);

  // `address` is a numeric IPv4 or IPv6 address (IPv4-mapped IPv6 is checked as IPv4);
  // anything unparsable is denied.
  bool denies(std::string_view address) const;

 private:
  struct Network {
    std::array<std::uint8_t, 16> bytes{};  // IPv4 in the IPv4-mapped form
    int prefix = 0;                         // over the 128 bits
  };
  void add(std::string_view cidr);
  std::vector<Network> networks_;
};

}  // namespace proxy
