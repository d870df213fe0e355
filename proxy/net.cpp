#include "proxy/net.hpp"

#include <boost/asio/error.hpp>

namespace proxy::net {

bool is_benign_close(const error_code& ec) {
  return ec == asio::error::eof || ec == ssl::error::stream_truncated ||
         ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::bad_descriptor ||
         ec == beast::error::timeout || ec == http::error::end_of_stream;
}

}  // namespace proxy::net
