#pragma once
// What a client connection's coroutine works with: process-wide state shared by all workers
// (config snapshot, CertStore, hooks, TLS contexts, drain flag) and its worker's own state
// (upstream pool, idle connections to close on drain). Networking translation units only.

#include <atomic>
#include <boost/intrusive/list.hpp>
#include <memory>

#include "pipeline/config_holder.hpp"
#include "pipeline/exchange_hooks.hpp"
#include "proxy/cert_store.hpp"
#include "proxy/net.hpp"
#include "proxy/upstream_pool.hpp"

namespace proxy {

struct SharedEnv {
  ConfigHolder& config;
  CertStore& certs;
  net::ssl::context& intercept_tls;
  net::ssl::context& upstream_tls;
  std::shared_ptr<HookFactory> hooks;
  std::atomic<bool> draining{false};
};

// A client connection waiting for its next request, listed in its worker's WorkerEnv::idle for
// as long as the mark lives (it is a local of the wait: no allocation per request). The mark
// leaves the list by itself when it goes, the coroutine that holds it destroyed included.
struct IdleMark
    : boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
  explicit IdleMark(net::TcpStream& s) : stream(&s) {}
  net::TcpStream* stream;
};
using IdleList = boost::intrusive::list<IdleMark, boost::intrusive::constant_time_size<false>>;

struct WorkerEnv {
  SharedEnv& shared;
  UpstreamPool pool;
  // Client connections waiting for their next request: closed at once when draining starts.
  IdleList idle;
  std::atomic<std::size_t> connections{0};  // read by the drain from the main thread
};

// What the session knows about the client connection, for every exchange on it.
struct ClientInfo {
  std::string address;       // "127.0.0.1:53412"
  std::string user;          // Proxy-Authorization basic user of the CONNECT (or request)
  bool intercepted = false;  // inside a decrypted CONNECT
  std::string connect_host;  // the CONNECT target when intercepted
  std::uint16_t connect_port = 0;
};

}  // namespace proxy
