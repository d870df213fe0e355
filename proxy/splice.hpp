#pragma once
// Copies bytes both ways between two connected streams until both directions end: blind CONNECT
// tunnels (TCP, with half-close) and websocket sessions after the 101 (TLS upstream; TLS or, in
// base-URL mode, plain TCP to the client).

#include <chrono>
#include <cstdint>

#include "proxy/net.hpp"

namespace proxy {

struct SpliceBytes {
  std::uint64_t a_to_b = 0;
  std::uint64_t b_to_a = 0;
};

// With `half_close` (plain TCP), EOF from one side shuts down sending towards the other and the
// reverse direction goes on; otherwise the first side to end closes both. The whole splice ends
// after `idle` with no byte either way.
template <typename A, typename B>
net::asio::awaitable<SpliceBytes> splice(A& a, B& b, bool half_close,
                                         std::chrono::milliseconds idle);

}  // namespace proxy
