#pragma once
// An AdminResponse as Beast writes it, with the headers every admin answer carries.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "admin/admin_routes.hpp"

namespace proxy {

boost::beast::http::response<boost::beast::http::string_body> to_http(const AdminResponse& r,
                                                                      unsigned version,
                                                                      bool keep_alive);

}  // namespace proxy
