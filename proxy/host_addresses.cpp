#include "proxy/host_addresses.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>

namespace proxy {
namespace {

std::vector<std::string> read_interfaces() {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (const ifaddrs* it = list; it; it = it->ifa_next) {
    if (!it->ifa_addr) continue;
    char text[INET6_ADDRSTRLEN] = {};
    const auto family = it->ifa_addr->sa_family;
    const void* bytes = nullptr;
    if (family == AF_INET)
      bytes = &reinterpret_cast<const sockaddr_in*>(it->ifa_addr)->sin_addr;
    else if (family == AF_INET6)
      bytes = &reinterpret_cast<const sockaddr_in6*>(it->ifa_addr)->sin6_addr;
    if (bytes && ::inet_ntop(family, bytes, text, sizeof text)) out.emplace_back(text);
  }
  ::freeifaddrs(list);
  return out;
}

}  // namespace

const std::vector<std::string>& host_addresses() {
  static const std::vector<std::string> addresses = read_interfaces();
  return addresses;
}

}  // namespace proxy
