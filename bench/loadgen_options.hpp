#pragma once
// Command line of the benchmark load generator: how to reach the upstream (direct TLS, CONNECT
// through a proxy then TLS, or absolute-form plain HTTP through a proxy) and what to measure.

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

enum class Via { direct, connect, plain };
enum class Workload { load, sse, idle, first };

struct Options {
  Via via = Via::direct;
  Workload workload = Workload::load;
  std::string dial;    // host:port the TCP connection goes to (the proxy, or the upstream)
  std::string target;  // CONNECT authority, e.g. api.openai.com:443
  std::string sni;     // TLS server name and Host header
  std::string cafile;  // trust anchor for the server certificate seen by the client
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

}  // namespace bench
