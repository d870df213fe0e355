#pragma once
// The addresses of this host's own interfaces, for deny_networks' `private`: a service bound to
// the pod's or node's own address is as internal as one on loopback.

#include <string>
#include <vector>

namespace proxy {

// Numeric addresses of every interface (getifaddrs), read once per process; empty when the
// system does not tell.
const std::vector<std::string>& host_addresses();

}  // namespace proxy
