#pragma once
// Command line of the benchmark load generator: how to reach the upstream (direct TLS, CONNECT
// through a proxy then TLS, absolute-form plain HTTP through a proxy, or origin-form plain HTTP
// to a base URL, as an SDK whose base URL names tollgate sends it) and what to measure.

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

enum class Via { direct, connect, plain, base_url };
enum class Workload { load, sse, idle, first };

struct Options {
  Via via = Via::direct;
  Workload workload = Workload::load;
  std::string dial;    // host:port the TCP connection goes to (the proxy, or the upstream)
  std::string target;  // CONNECT authority, e.g. api.openai.com:443
  std::string sni;     // TLS server name and Host header (Via::base_url: the base URL's host:port)
  std::string base_path;  // Via::base_url: the base URL's path ("/openai"), put before `path`
  std::string cafile;     // trust anchor for the server certificate seen by the client
  std::string method = "GET";
  std::string path = "/";
  std::string body;  // request body (read from --body-file)
  unsigned connections = 1;
  std::uint64_t requests = 1000;   // total over all connections (load, sse)
  unsigned open_concurrency = 64;  // idle: connections being opened at once
  double hold_seconds = 30;        // idle: how long to keep them open at most
  std::vector<std::string> hosts;  // first: fresh host names, one cold + one warm connection each
  unsigned target_port = 443;      // first: CONNECT port for every host
};

// Parses argv; prints usage and exits on error (start-up only).
Options parse_options(int argc, char** argv);

// Plain HTTP from the client (no TLS, no CONNECT): Via::plain and Via::base_url.
inline bool plain_http(const Options& o) {
  return o.via == Via::plain || o.via == Via::base_url;
}

}  // namespace bench
