#pragma once
// Steps 4-6 of one exchange (DESIGN §1): send the admitted request upstream, stream the response
// to the client piece by piece while the hooks read a decoded copy, and settle through
// on_complete exactly once, whatever happens.

#include "pipeline/exchange_hooks.hpp"
#include "proxy/net.hpp"
#include "proxy/session_env.hpp"
#include "telemetry/access_log.hpp"

namespace proxy {

enum class AfterExchange { keep_alive, close };

struct ForwardContext {
  WorkerEnv& env;
  ClientInfo& info;
  AccessRecord& log;
  bool client_keep_alive = true;
  bool websocket = false;     // Upgrade: websocket requested
  bool head_request = false;  // HEAD: the response has no body whatever it says
  bool client_http10 =
      false;  // HTTP/1.0 client: no chunked encoding, a body of unknown length ends with the close
};

// `ex` is complete (hop-by-hop removed, Host/Via/Accept-Encoding set, body read, on_request said
// forward). Intercepted and base-URL exchanges go over pooled TLS, plain-HTTP ones over TCP.
template <typename ClientStream>
net::asio::awaitable<AfterExchange> forward_exchange(ClientStream& client,
                                                     net::beast::flat_buffer& client_buffer,
                                                     Exchange& ex, ExchangeHooks& hooks,
                                                     ForwardContext& ctx);

// Resumes the calling coroutine on its own executor when a hook's `done` runs, whatever thread
// calls it (budget stores commit on their own threads).
net::asio::awaitable<std::optional<LocalReply>> await_on_request(ExchangeHooks& hooks,
                                                                 Exchange& ex);
net::asio::awaitable<void> await_on_complete(ExchangeHooks& hooks, Exchange& ex, Outcome outcome);

}  // namespace proxy
