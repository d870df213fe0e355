#include "bench/loadgen_options.hpp"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

namespace bench {

Options parse_options(int argc, char** argv) {
  Options o;
  CLI::App app{"tollgate benchmark load generator"};
  const std::map<std::string, Via> vias{
      {"direct", Via::direct}, {"connect", Via::connect}, {"plain", Via::plain}};
  const std::map<std::string, Workload> workloads{{"load", Workload::load},
                                                  {"sse", Workload::sse},
                                                  {"idle", Workload::idle},
                                                  {"first", Workload::first}};
  std::string body_file;
  app.add_option("--via", o.via, "direct | connect | plain")
      ->transform(CLI::CheckedTransformer(vias, CLI::ignore_case));
  app.add_option("--workload", o.workload, "load | sse | idle | first")
      ->transform(CLI::CheckedTransformer(workloads, CLI::ignore_case));
  app.add_option("--dial", o.dial, "host:port to connect to (proxy or upstream)")->required();
  app.add_option("--target", o.target, "CONNECT authority (host:port)");
  app.add_option("--sni", o.sni, "TLS server name and Host header")->required();
  app.add_option("--cafile", o.cafile, "CA bundle that verifies the server certificate");
  app.add_option("--method", o.method);
  app.add_option("--path", o.path);
  app.add_option("--body-file", body_file);
  app.add_option("-c,--connections", o.connections)->check(CLI::Range(1u, 100000u));
  app.add_option("-n,--requests", o.requests);
  app.add_option("--open-concurrency", o.open_concurrency)->check(CLI::Range(1u, 4096u));
  app.add_option("--hold", o.hold_seconds);
  app.add_option("--hosts", o.hosts)->delimiter(',');
  app.add_option("--target-port", o.target_port);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::exit(app.exit(e));
  }
  if (!body_file.empty()) {
    std::ifstream in(body_file, std::ios::binary);
    if (!in) {
      std::cerr << "loadgen: cannot read " << body_file << "\n";
      std::exit(2);
    }
    std::ostringstream text;
    text << in.rdbuf();
    o.body = text.str();
  }
  if (o.via == Via::connect && o.target.empty() && o.workload != Workload::first) {
    std::cerr << "loadgen: --via connect needs --target\n";
    std::exit(2);
  }
  if (o.via != Via::plain && o.cafile.empty()) {
    std::cerr << "loadgen: TLS needs --cafile (the server certificate is always verified)\n";
    std::exit(2);
  }
  return o;
}

}  // namespace bench
