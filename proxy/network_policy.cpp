#include "proxy/network_policy.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace proxy {
namespace {

// Parses an IPv4 or IPv6 literal into 16 bytes (IPv4 as ::ffff:a.b.c.d); returns the prefix
// offset (96 for IPv4, 0 for IPv6) or -1.
int parse_address(std::string_view text, std::array<std::uint8_t, 16>& out) {
  const std::string s(text);
  out.fill(0);
  in_addr v4{};
  if (::inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out[10] = out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    return 96;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return 0;
  }
  return -1;
}

bool matches(const std::array<std::uint8_t, 16>& addr, const std::array<std::uint8_t, 16>& net,
             int prefix) {
  for (int i = 0; i < 16 && prefix > 0; ++i, prefix -= 8) {
    const int bits = prefix >= 8 ? 8 : prefix;
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((addr[i] & mask) != (net[i] & mask)) return false;
  }
  return true;
}

}  // namespace

NetworkPolicy::NetworkPolicy(const std::vector<std::string>& deny_networks,
                             const std::vector<std::string>& own_addresses) {
  for (const auto& entry : deny_networks) {
    if (entry == "loopback") {
      add("127.0.0.0/8");
      add("::1/128");
      add("0.0.0.0/8");  // 0.0.0.0 reaches the local host on Linux
      add("::/128");
    } else if (entry == "link-local") {
      add("169.254.0.0/16");  // includes the cloud metadata address 169.254.169.254
      add("fe80::/10");
    } else if (entry == "private") {
      add("10.0.0.0/8");
      add("172.16.0.0/12");
      add("192.168.0.0/16");
      add("100.64.0.0/10");  // carrier-grade NAT, also used for cluster-internal ranges
      add("fc00::/7");
      for (const auto& own : own_addresses)
        if (own.find('%') == std::string::npos) add(own);  // fe80::1%eth0 is link-local anyway
    } else {
      add(entry);
    }
  }
}

void NetworkPolicy::add(std::string_view cidr) {
  const auto slash = cidr.find('/');
  Network net;
  const int base = parse_address(cidr.substr(0, slash), net.bytes);
  if (base < 0)
    throw std::invalid_argument("deny_networks: '" + std::string(cidr) +
                                "' is not loopback, link-local, private or a CIDR");
  int prefix = base == 96 ? 32 : 128;
  if (slash != std::string_view::npos) {
    const auto p = cidr.substr(slash + 1);
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (ec != std::errc{} || end != p.data() + p.size() || prefix < 0 ||
        prefix > (base == 96 ? 32 : 128))
      throw std::invalid_argument("deny_networks: '" + std::string(cidr) +
                                  "' has an invalid prefix length");
  }
  net.prefix = base + prefix;
  networks_.push_back(net);
}

bool NetworkPolicy::denies(std::string_view address) const {
  std::array<std::uint8_t, 16> addr{};
  if (parse_address(address, addr) < 0) return true;
  for (const auto& net : networks_)
    if (matches(addr, net.bytes, net.prefix)) return true;
  return false;
}

}  // namespace proxy
