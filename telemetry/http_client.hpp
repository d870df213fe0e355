#pragma once
// The one blocking HTTP/1.1 client, for tollgate's own calls outside the data path: webhook
// deliveries (each receiver on its own thread) and `tollgate status` against the admin API.
// One request per call on a fresh connection, http or https (verified), every step bounded.
// No Asio in this header.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace proxy {

struct HttpAnswer {
  int status = 0;     // 0 when no answer came
  std::string body;   // the answer's body
  std::string error;  // why no answer came ("" when one did)
  bool ok() const { return error.empty() && status / 100 == 2; }
};

class HttpClient {
 public:
  // https peers are verified against `trust`: "system" (or "") for the system's roots, else a
  // PEM file. Throws when the file cannot be read.
  explicit HttpClient(const std::string& trust = "system");
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `method` to `url` (http:// or https://) with `body` (sent when non-empty, as
  // application/json); each of resolve, connect, handshake, write and read within `timeout`.
  // Safe to call from several threads at once.
  HttpAnswer request(std::string_view method, const std::string& url, const std::string& body = {},
                     std::chrono::seconds timeout = std::chrono::seconds(5)) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace proxy
