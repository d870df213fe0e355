#pragma once
// Steps 1-3 of one exchange (DESIGN §1), the request side: where it goes, its headers as
// forwarded, its body read whole (priced exchanges need it before on_request), the hooks'
// verdict; then forward_exchange for the rest.

#include "proxy/forward.hpp"
#include "proxy/request_head.hpp"

namespace proxy {

template <typename ClientStream>
net::asio::awaitable<AfterExchange> serve_exchange(ClientStream& client,
                                                   net::beast::flat_buffer& buffer,
                                                   std::unique_ptr<RequestHead> head,
                                                   ClientInfo& info, WorkerEnv& env);

// The Host field for host:port (the port only when it is not the scheme's default).
std::string host_field(const std::string& host, std::uint16_t port, bool tls);

}  // namespace proxy
