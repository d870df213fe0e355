#pragma once
// budget::RedisSocket — the byte stream to one Redis server: TCP, or TLS over it (OpenSSL), with
// every wait bounded by a deadline. Used by one thread at a time (the connection's).

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace budget {

// Where Redis is and how to log in: redis://[user:password@]host[:port][/db], or rediss:// for
// TLS, whose server certificate is checked (name and chain) against the system's trust store, or
// against the CAs of the PEM file named by a `ca=` query parameter (rediss://host/0?ca=/x.pem).
struct RedisEndpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  int db = 0;
  std::string user, password;  // percent-decoded; a password with no user: AUTH password
  bool tls = false;
  std::string tls_ca;  // "" = the system's trust store
  std::string shown;   // the URL without its password, for messages
};

// nullopt, with the reason in *problem, for a URL that is not one of the above.
std::optional<RedisEndpoint> parse_redis_url(std::string_view url, std::string* problem = nullptr);

class RedisSocket {
 public:
  using Deadline = std::chrono::steady_clock::time_point;

  ~RedisSocket();

  // Connects (and, for TLS, completes the handshake) by `deadline`; nullopt, or what failed.
  std::optional<std::string> connect(const RedisEndpoint& endpoint, Deadline deadline);
  // Writes all of `data` by `deadline`; false when the connection failed or the time ran out.
  bool write(std::string_view data, Deadline deadline);
  // Reads what has arrived (waiting for something until `deadline`); 0 when the connection
  // failed, closed or the time ran out.
  std::size_t read(char* buffer, std::size_t size, Deadline deadline);

 private:
  // Waits until the socket is readable (`events` POLLIN) or writable (POLLOUT).
  bool wait(short events, Deadline deadline) const;

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

}  // namespace budget
