#pragma once
// One client connection, owned by one coroutine: plain-HTTP exchanges (absolute-form), then maybe
// a CONNECT that becomes an intercepted TLS session (provider hosts) or a blind tunnel.

#include "proxy/net.hpp"
#include "proxy/session_env.hpp"

namespace proxy {

// Serves the connection until either side closes it; never throws on network errors.
net::asio::awaitable<void> serve_client(net::tcp::socket socket, WorkerEnv& env);

}  // namespace proxy
