#include "proxy/request_head.hpp"

#include "pipeline/header_filter.hpp"
#include "proxy/replies.hpp"
#include "telemetry/access_log.hpp"

namespace proxy {
namespace {

using namespace net;
using namespace std::chrono_literals;

// Keep-alive connections with no request in this long are closed (clients reconnect).
constexpr auto k_idle_timeout = 75s;

}  // namespace

template <typename Fields>
std::string framing_problem(const http::request_header<Fields>& head) {
  const auto cl = head.count(http::field::content_length);
  const auto te = head.count(http::field::transfer_encoding);
  if (cl > 1) return "more than one Content-Length";
  if (cl && te) return "both Content-Length and Transfer-Encoding";
  // HTTP/1.0 has no chunked coding: a peer on the way may frame the body by Content-Length or
  // the close instead, and the two would disagree on where the next request starts (RFC 9112
  // §6.1: faulty framing).
  if (te && head.version() < 11) return "Transfer-Encoding in an HTTP/1.0 request";
  if (te) {
    // The last coding must be chunked, else the body length of a request is unknowable.
    std::string_view last;
    for (const auto& field : head)
      if (field.name() == http::field::transfer_encoding) last = field.value();
    const auto comma = last.rfind(',');
    auto coding = comma == std::string_view::npos ? last : last.substr(comma + 1);
    while (!coding.empty() && coding.front() == ' ') coding.remove_prefix(1);
    while (!coding.empty() && coding.back() == ' ') coding.remove_suffix(1);
    if (!util::iequals(coding, "chunked")) return "Transfer-Encoding does not end in chunked";
  }
  return "";
}

template std::string framing_problem(const http::request_header<>&);
template std::string framing_problem(const http::request_header<HeadFields>&);

template <typename Stream>
asio::awaitable<std::unique_ptr<RequestHead>> read_request_head(Stream& stream,
                                                                beast::flat_buffer& buffer,
                                                                WorkerEnv& env) {
  if (env.shared.draining.load() && buffer.size() == 0) co_return nullptr;
  auto head = std::make_unique<RequestHead>();
  head->header_limit(k_header_limit);
  // No body limit here: Beast's default for requests (1 MiB) would refuse a Content-Length past
  // it as a malformed head. The body is read by serve_exchange against max_body_bytes (413).
  head->body_limit(boost::none);
  auto& socket_layer = lowest(stream);
  socket_layer.expires_after(k_idle_timeout);
  IdleMark idle(socket_layer);
  env.idle.push_back(idle);
  auto [ec, n] = co_await http::async_read_header(stream, buffer, *head, use_tuple);
  idle.unlink();
  int status = 0;
  std::string problem;
  if (ec == http::error::header_limit) {
    status = 431;
    problem = "request header larger than 64 KiB";
  } else if (ec) {
    if (is_benign_close(ec) || !head->got_some()) co_return nullptr;
    status = 400;
    problem = "malformed request: " + ec.message();
  } else if (const auto& h = head->get();
             std::distance(h.begin(), h.end()) > static_cast<long>(k_max_fields)) {
    status = 431;
    problem = "more than 100 header fields";
  } else if (problem = framing_problem(head->get()); !problem.empty()) {
    status = 400;
    problem = "malformed request: " + problem;
  } else {
    co_return head;
  }
  // After a framing error the rest of the stream cannot be trusted: answer and close (lingering,
  // as the client may still be sending what follows the head).
  auto reply =
      make_reply(status, {}, error_json("tollgate: " + problem, "invalid_request_error"), false);
  if (co_await write_reply(stream, reply)) co_await discard_input(stream, buffer);
  co_return nullptr;
}

template asio::awaitable<std::unique_ptr<RequestHead>> read_request_head(TcpStream&,
                                                                         beast::flat_buffer&,
                                                                         WorkerEnv&);
template asio::awaitable<std::unique_ptr<RequestHead>> read_request_head(TlsStream&,
                                                                         beast::flat_buffer&,
                                                                         WorkerEnv&);

}  // namespace proxy
