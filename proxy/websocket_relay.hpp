#pragma once
// The sockets of a metered WebSocket session (DESIGN §12): reads both connections into a
// pipeline RealtimeRelay, writes what it gives back, asks the enforcer when it waits for an
// admission, and keeps its clocks (max_duration, the drain bound, the close handshake, idle).

#include <chrono>

#include "pipeline/realtime_relay.hpp"
#include "proxy/net.hpp"
#include "proxy/splice.hpp"

namespace proxy {

// Runs the session until it is over and both connections are closed. `client_early` and
// `upstream_early`: bytes either side sent right behind the handshake (already read), the first
// of the session's frames. `idle`: the session ends after this long with no byte either way.
template <typename Client, typename Upstream>
net::asio::awaitable<SpliceBytes> relay_websocket(Client& client, Upstream& upstream,
                                                  RealtimeRelay& relay,
                                                  net::beast::flat_buffer& client_early,
                                                  net::beast::flat_buffer& upstream_early,
                                                  std::chrono::milliseconds idle);

}  // namespace proxy
