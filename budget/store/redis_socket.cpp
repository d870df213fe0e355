#include "budget/store/redis_socket.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "util/url.hpp"

namespace budget {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A password may hold any byte, written %XX in a URL.
std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    const int hi = i + 1 < text.size() ? hex_digit(text[i + 1]) : -1;
    const int lo = i + 2 < text.size() ? hex_digit(text[i + 2]) : -1;
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

int remaining_ms(RedisSocket::Deadline deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

std::string openssl_error(const char* what) {
  const unsigned long e = ERR_get_error();
  char text[256] = "";
  if (e) ERR_error_string_n(e, text, sizeof text);
  ERR_clear_error();
  return std::string(what) + (e ? std::string(": ") + text : "");
}

}  // namespace

std::optional<RedisEndpoint> parse_redis_url(std::string_view text, std::string* problem) {
  const auto fail = [&](std::string why) -> std::optional<RedisEndpoint> {
    if (problem) *problem = std::move(why);
    return std::nullopt;
  };
  std::string url_problem;
  const auto url = util::parse_url(text, &url_problem);
  if (!url) return fail(url_problem);
  RedisEndpoint out;
  if (url->scheme == "rediss")
    out.tls = true;
  else if (url->scheme != "redis")
    return fail("the scheme must be redis:// or rediss://");
  out.host = url->authority.host;
  out.port = url->port_or(6379);
  if (url->path != "/") {
    const std::string_view db = std::string_view(url->path).substr(1);
    int value = 0;
    const auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), value);
    if (ec != std::errc{} || end != db.data() + db.size() || value < 0)
      return fail("the path must be a database number (/0)");
    out.db = value;
  }
  std::string shown_userinfo;
  if (!url->userinfo.empty()) {
    const auto colon = url->userinfo.find(':');
    const auto user = percent_decode(std::string_view(url->userinfo).substr(0, colon));
    const auto password = colon == std::string::npos
                              ? std::optional<std::string>{}
                              : percent_decode(std::string_view(url->userinfo).substr(colon + 1));
    if (!user || (colon != std::string::npos && !password))
      return fail("a bad %-escape in the user or password");
    // redis://password@host is how some clients write a password alone.
    if (colon == std::string::npos) {
      out.password = *user;
      shown_userinfo = "***@";
    } else {
      out.user = *user;
      out.password = *password;
      shown_userinfo = url->userinfo.substr(0, colon) + ":***@";
    }
  }
  if (url->has_query) {
    for (std::string_view rest = url->query; !rest.empty();) {
      const auto amp = rest.find('&');
      const std::string_view param = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
      if (param.starts_with("ca=") && out.tls) {
        const auto ca = percent_decode(param.substr(3));
        if (!ca || ca->empty()) return fail("ca= needs a file name");
        out.tls_ca = *ca;
      } else {
        return fail("unknown parameter \"" + std::string(param.substr(0, param.find('='))) +
                    "\" (rediss:// takes ca=FILE)");
      }
    }
  }
  const bool v6 = url->authority.bracketed;
  out.shown = url->scheme + "://" + shown_userinfo + (v6 ? "[" : "") + out.host + (v6 ? "]" : "") +
              ":" + std::to_string(out.port) + "/" + std::to_string(out.db);
  return out;
}

RedisSocket::~RedisSocket() {
  if (ssl_) SSL_free(ssl_);
  if (ctx_) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

bool RedisSocket::wait(short events, Deadline deadline) const {
  for (;;) {
    pollfd p{fd_, events, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n > 0) return (p.revents & (events | POLLHUP | POLLERR)) != 0;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

std::optional<std::string> RedisSocket::connect(const RedisEndpoint& endpoint, Deadline deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(endpoint.port);
  if (const int e = ::getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &found); e != 0)
    return std::string("cannot resolve ") + endpoint.host + ": " + gai_strerror(e);
  std::string failure = "no address";
  for (addrinfo* a = found; a && fd_ < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    fd_ = fd;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      failure = std::string("connect: ") + strerror(errno);
    } else {
      int error = 0;
      socklen_t len = sizeof error;
      if (!wait(POLLOUT, deadline))
        failure = "connect: timed out";
      else if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0)
        failure = std::string("connect: ") + strerror(error);
      else
        continue;  // connected: the loop ends with fd_ set
    }
    ::close(fd);
    fd_ = -1;
  }
  ::freeaddrinfo(found);
  if (fd_ < 0) return failure;
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!endpoint.tls) return std::nullopt;

  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ctx_) return openssl_error("TLS");
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  const bool trusted = endpoint.tls_ca.empty() ? SSL_CTX_set_default_verify_paths(ctx_) == 1
                                               : SSL_CTX_load_verify_locations(
                                                     ctx_, endpoint.tls_ca.c_str(), nullptr) == 1;
  if (!trusted) return openssl_error("cannot load the trusted CAs");
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_);
  SSL_set_tlsext_host_name(ssl_, endpoint.host.c_str());
  // The certificate must name the host (or the IP address) the URL names.
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
  if (X509_VERIFY_PARAM_set1_ip_asc(param, endpoint.host.c_str()) != 1)
    SSL_set1_host(ssl_, endpoint.host.c_str());
  for (;;) {
    const int r = SSL_connect(ssl_);
    if (r == 1) return std::nullopt;
    const int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ ? wait(POLLIN, deadline)
                                 : e == SSL_ERROR_WANT_WRITE && wait(POLLOUT, deadline))
      continue;
    const long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK)
      return std::string("TLS: certificate not trusted: ") + X509_verify_cert_error_string(verify);
    return openssl_error("TLS handshake");
  }
}

bool RedisSocket::write(std::string_view data, Deadline deadline) {
  while (!data.empty()) {
    if (ssl_) {
      std::size_t n = 0;
      const int r = SSL_write_ex(ssl_, data.data(), data.size(), &n);
      if (r == 1) {
        data.remove_prefix(n);
        continue;
      }
      const int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_WANT_READ ? wait(POLLIN, deadline)
                                   : e == SSL_ERROR_WANT_WRITE && wait(POLLOUT, deadline))
        continue;
      return false;
    }
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait(POLLOUT, deadline)) continue;
    return false;
  }
  return true;
}

std::size_t RedisSocket::read(char* buffer, std::size_t size, Deadline deadline) {
  for (;;) {
    if (ssl_) {
      std::size_t n = 0;
      const int r = SSL_read_ex(ssl_, buffer, size, &n);
      if (r == 1) return n;
      const int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_WANT_READ ? wait(POLLIN, deadline)
                                   : e == SSL_ERROR_WANT_WRITE && wait(POLLOUT, deadline))
        continue;
      return 0;
    }
    const ssize_t n = ::recv(fd_, buffer, size, 0);
    if (n > 0) return static_cast<std::size_t>(n);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait(POLLIN, deadline)) continue;
    return 0;
  }
}

}  // namespace budget
