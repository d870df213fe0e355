#pragma once
// The heads of an exchange as they are forwarded (DESIGN §1, steps 4-5): the request as it goes
// upstream, built from the exchange's header list, and the response head as the client gets it
// (hop-by-hop fields removed, Via and the hooks' fields added).

#include <string>

#include "pipeline/exchange_hooks.hpp"
#include "proxy/arena_parser.hpp"
#include "proxy/net.hpp"

namespace proxy {

// Whether the forwarded request states its body's length: it has a body, or its method is one
// whose empty body an upstream may wait for.
bool states_length(const Exchange& ex);

// The request as Beast sends a large one (its body in pieces, pointing into ex.request_body).
net::http::request<net::http::buffer_body> beast_request(const Exchange& ex);

// A request of ordinary size as it goes out in one write, into `out`: head and body, the head
// written straight from ex.request_headers (the same bytes Beast writes, without a heap
// allocation for every field of a Beast head made first). Any Content-Length of the list is
// replaced by the body's.
void flat_request(const Exchange& ex, std::string& out);

// Step 5, the response head: into `ex` (hop-by-hop fields removed, Via added), through the
// hooks, and back into `res` as the client gets it. Returns the upstream's Content-Encoding.
std::string take_response_head(Exchange& ex,
                               net::http::response<net::http::buffer_body, HeadFields>& res,
                               ExchangeHooks& hooks, bool upgraded);

}  // namespace proxy
