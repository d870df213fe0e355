#pragma once
// The per-exchange hook pipeline (DESIGN §1): the session calls these hooks in the life order
// of one decrypted (or plain-HTTP) exchange; policy lives in the hooks, protocol in the session.
// Plain types only: no Asio, so hooks are tested by calling them directly.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/realtime_relay.hpp"
#include "rules/config.hpp"
#include "rules/request_view.hpp"

namespace proxy {

// How the request reached tollgate, which decides how it goes on: plain HTTP to the host it
// names, or verified TLS to a provider host (a decrypted CONNECT, or base-URL mode, DESIGN §14:
// an origin-form request whose first path segment names the provider).
enum class ExchangeMode { plain_http, intercept, base_url };

// What the hooks decided about the money of one exchange, for its access-log line and its cost
// record (DESIGN §13). Empty for hosts no provider owns.
struct Billing {
  std::string endpoint, model, currency;
  std::optional<std::int64_t> estimate;  // micro-units, once priced
  std::optional<std::int64_t> cost;      // micro-units charged, once settled (0: released)
  std::vector<std::string> budgets;      // instances held: "daily", "per-key/3f9a1c…"
  std::string refused_by;                // "" unless refused: budget | balance | … | price
  std::string record;                    // the id of its cost record, once admitted or refused
};

// One request/response exchange as the hooks see it. Owned by the session.
struct Exchange {
  std::shared_ptr<const rules::Config> config;  // snapshot taken when the exchange started
  const rules::Provider* provider = nullptr;    // nullptr: not a provider host (plain HTTP)
  std::string client_address;                   // "127.0.0.1:53412"
  std::string client_user;                      // Proxy-Authorization basic user, if any
  ExchangeMode mode = ExchangeMode::plain_http;
  // Base-URL mode: the page origin (Origin field) that base_url.cors_origins allowed, "" for a
  // request without one; every response of a base-URL exchange goes through CorsPolicy::mark.
  std::string cors_origin;

  // Request, as it will be forwarded (hooks may rewrite body and headers in on_request; the
  // session fixes Content-Length after). Hop-by-hop headers are already removed.
  std::string method, host, target;  // target = origin-form "/path?query"
  std::uint16_t port = 443;
  rules::HeaderList request_headers;
  std::string request_body;  // complete before on_request for priced exchanges

  // Response head, filled before on_response_head.
  int status = 0;
  rules::HeaderList response_headers;

  // Set by hooks in on_request: ask the upstream for an uncompressed body (needed when the
  // hook rewrites the response stream, e.g. to strip an injected usage chunk).
  bool want_identity_encoding = false;
  bool rewrite_response = false;  // route client-bound body bytes through rewrite_response_body

  // Set by the session: true once any byte of the request went to the upstream (a failure
  // before that means the provider never saw the request, so nothing can have been charged).
  bool request_sent = false;

  std::chrono::steady_clock::time_point started{};
  std::chrono::nanoseconds upstream_time{0};  // time spent waiting on the upstream

  Billing billing;  // filled by the hooks

  rules::RequestView view() const;  // points into this object; valid while it is unchanged
};

struct LocalReply {
  int status = 429;
  rules::HeaderList headers;
  std::string body;  // JSON
};

enum class Outcome {
  complete,        // the response was relayed in full
  upstream_error,  // connect, TLS or read failure before or during the response
  client_gone,     // the client went away; upstream was read on (bounded) for usage
};

class ExchangeHooks {
 public:
  virtual ~ExchangeHooks() = default;

  // Steps 1-3 (match, estimate, admit). `done` runs exactly once, possibly on another thread:
  // nullopt = forward, a reply = answer locally and never forward.
  virtual void on_request(Exchange&, std::function<void(std::optional<LocalReply>)> done) {
    done(std::nullopt);
  }

  // Step 5, response head: read balance/rate-limit headers; may add headers for the client.
  virtual void on_response_head(Exchange&) {}

  // Step 5, body: each piece of the response body, decompressed (gzip/deflate), in order.
  virtual void on_response_body(Exchange&, std::string_view /*decoded*/) {}

  // Only when exchange.rewrite_response: the bytes to send the client for this raw piece.
  virtual std::string rewrite_response_body(Exchange&, std::string_view piece) {
    return std::string(piece);
  }

  // Only when exchange.rewrite_response: called once after the last piece; returns the bytes
  // the rewriter still held (an incomplete trailing event).
  virtual std::string finish_response_body(Exchange&) { return {}; }

  // A 101 answered a websocket upgrade (and is about to go to the client): the relay that meters
  // the session (DESIGN §12), or nullptr to relay its bytes blind. At most once, before
  // on_complete, which comes when the session has ended.
  virtual std::unique_ptr<RealtimeRelay> on_upgraded(Exchange&) { return nullptr; }

  // Step 6, exactly once for every exchange whose on_request said forward. `done` may run on
  // another thread, after the settlement is durable.
  virtual void on_complete(Exchange&, Outcome, std::function<void()> done) { done(); }
};

// Creates the hooks of one exchange. Shared by all workers: must be thread-safe.
class HookFactory {
 public:
  virtual ~HookFactory() = default;
  virtual std::unique_ptr<ExchangeHooks> create(const Exchange&) {
    return std::make_unique<ExchangeHooks>();
  }
};

}  // namespace proxy
