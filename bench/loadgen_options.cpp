#include "bench/loadgen_options.hpp"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

namespace bench {
namespace {

// "http://host:port/prefix" -> dial "host:port", Host "host:port", base_path "/prefix" (no
// trailing slash); false for another scheme or no host.
bool set_base_url(Options& o, std::string url) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme)) return false;
  url.erase(0, scheme.size());
  const auto slash = url.find('/');
  const std::string authority = url.substr(0, slash);
  if (authority.empty()) return false;
  o.via = Via::base_url;
  o.dial = authority.find(':') == std::string::npos ? authority + ":80" : authority;
  o.sni = authority;
  o.base_path = slash == std::string::npos ? "" : url.substr(slash);
  while (o.base_path.ends_with('/')) o.base_path.pop_back();
  return true;
}

}  // namespace

Options parse_options(int argc, char** argv) {
  Options o;
  CLI::App app{"tollgate benchmark load generator"};
  const std::map<std::string, Via> vias{
      {"direct", Via::direct}, {"connect", Via::connect}, {"plain", Via::plain}};
  const std::map<std::string, Workload> workloads{{"load", Workload::load},
                                                  {"sse", Workload::sse},
                                                  {"idle", Workload::idle},
                                                  {"first", Workload::first}};
  std::string body_file, base_url;
  app.add_option("--via", o.via, "direct | connect | plain")
      ->transform(CLI::CheckedTransformer(vias, CLI::ignore_case));
  app.add_option("--workload", o.workload, "load | sse | idle | first")
      ->transform(CLI::CheckedTransformer(workloads, CLI::ignore_case));
  app.add_option("--base-url", base_url,
                 "plain HTTP, origin-form, to a base URL: http://127.0.0.1:8080/openai sends "
                 "POST /openai<path> (replaces --via, --dial and --sni)");
  app.add_option("--dial", o.dial, "host:port to connect to (proxy or upstream)");
  app.add_option("--target", o.target, "CONNECT authority (host:port)");
  app.add_option("--sni", o.sni, "TLS server name and Host header");
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
  if (!base_url.empty() && !set_base_url(o, base_url)) {
    std::cerr << "loadgen: --base-url must be http://HOST[:PORT][/PATH], got " << base_url << "\n";
    std::exit(2);
  }
  if (o.dial.empty() || o.sni.empty()) {
    std::cerr << "loadgen: --dial and --sni are required (or --base-url)\n";
    std::exit(2);
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
  if (!plain_http(o) && o.cafile.empty()) {
    std::cerr << "loadgen: TLS needs --cafile (the server certificate is always verified)\n";
    std::exit(2);
  }
  return o;
}

}  // namespace bench
