#include "proxy/tls_stream.hpp"

#include <openssl/err.h>

#include <boost/system/system_error.hpp>
#include <cstring>

namespace proxy::net {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using error_code = boost::system::error_code;

// OpenSSL's side of a TlsStream: reads take the ciphertext the stream received (a retry when
// there is none: OpenSSL then asks for more), writes append to what the stream will send.
struct TlsBio {
  static TlsStream& of(BIO* b) { return *static_cast<TlsStream*>(BIO_get_data(b)); }
  static int create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
  }
  static int read(BIO* b, char* out, std::size_t size, std::size_t* got) {
    BIO_clear_retry_flags(b);
    TlsStream& s = of(b);
    const auto left = static_cast<std::size_t>(s.in_end_ - s.in_at_);
    *got = 0;
    if (left == 0) {
      BIO_set_retry_read(b);
      return 0;
    }
    const std::size_t n = std::min(left, size);
    std::memcpy(out, s.in_at_, n);
    s.in_at_ += n;
    *got = n;
    return 1;
  }
  static int write(BIO* b, const char* data, std::size_t size, std::size_t* written) {
    BIO_clear_retry_flags(b);
    of(b).pending_.append(data, size);
    *written = size;
    return 1;
  }
  static long ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }
  static BIO_METHOD* method() {
    static BIO_METHOD* const m = [] {
      BIO_METHOD* m =
          BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tollgate TLS stream");
      BIO_meth_set_create(m, create);
      BIO_meth_set_read_ex(m, read);
      BIO_meth_set_write_ex(m, write);
      BIO_meth_set_ctrl(m, ctrl);
      return m;
    }();
    return m;
  }
};

namespace {

// What a failed OpenSSL call asks for, as Asio's engine reports it.
TlsStream::error_code ssl_error(SSL* ssl, int result, bool* wants_input) {
  *wants_input = false;
  switch (SSL_get_error(ssl, result)) {
    case SSL_ERROR_WANT_READ:
      *wants_input = true;
      return {};
    case SSL_ERROR_ZERO_RETURN:
      return asio::error::eof;
    default:
      if (const unsigned long e = ERR_get_error())
        return error_code(static_cast<int>(e), asio::error::get_ssl_category());
      return ssl::error::stream_truncated;
  }
}

// What an idle connection keeps of the ciphertext it wrote (a typical response's worth).
constexpr std::size_t k_keep_output = 4096;

}  // namespace

TlsStream::TlsStream(next_layer_type&& next, ssl::context& context) : next_(std::move(next)) {
  ssl_ = SSL_new(context.native_handle());
  if (!ssl_)
    throw boost::system::system_error(
        error_code(static_cast<int>(ERR_get_error()), asio::error::get_ssl_category()), "SSL_new");
  SSL_set_mode(ssl_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  BIO* bio = BIO_new(TlsBio::method());
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);
  // flush_now() writes without waiting.
  error_code ignored;
  next_.socket().non_blocking(true, ignored);
}

TlsStream::~TlsStream() {
  SSL_free(ssl_);
}

void TlsStream::set_role(ssl::stream_base::handshake_type type) {
  if (type == ssl::stream_base::server)
    SSL_set_accept_state(ssl_);
  else
    SSL_set_connect_state(ssl_);
}

void TlsStream::take_initial(const void* data, std::size_t size) {
  if (size == 0) return;
  const auto held = static_cast<std::size_t>(in_end_ - in_at_);
  const std::size_t need = std::max(k_big, held + size);
  auto fresh = std::make_unique<char[]>(need);
  if (held) std::memcpy(fresh.get(), in_at_, held);
  std::memcpy(fresh.get() + held, data, size);
  big_ = std::move(fresh);
  big_size_ = need;
  in_at_ = big_.get();
  in_end_ = in_at_ + held + size;
}

TlsStream::Step TlsStream::handshake_step() {
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl_);
  Step step;
  if (r == 1) return step;
  bool input = false;
  step.ec = ssl_error(ssl_, r, &input);
  if (input) step.want = Step::Want::input;
  return step;
}

TlsStream::Step TlsStream::read_step(void* data, std::size_t size) {
  ERR_clear_error();
  Step step;
  const int r = SSL_read_ex(ssl_, data, size, &step.n);
  if (r == 1) return step;
  step.n = 0;
  bool input = false;
  step.ec = ssl_error(ssl_, r, &input);
  if (input) step.want = Step::Want::input;
  return step;
}

TlsStream::error_code TlsStream::encrypt(const void* data, std::size_t size) {
  ERR_clear_error();
  std::size_t written = 0;
  const int r = SSL_write_ex(ssl_, data, size, &written);
  if (r == 1) return {};
  bool input = false;
  const error_code ec = ssl_error(ssl_, r, &input);
  // A write that needs the peer first (a renegotiation, which tollgate refuses) cannot be made.
  return input ? error_code(asio::error::operation_not_supported) : ec;
}

TlsStream::error_code TlsStream::close_notify() {
  ERR_clear_error();
  SSL_shutdown(ssl_);
  return {};
}

asio::mutable_buffer TlsStream::input_space() {
  // More came than the small buffer holds: the big one, until OpenSSL has taken all of it.
  if (more_coming_ && !big_) {
    big_ = std::make_unique<char[]>(k_big);
    big_size_ = k_big;
  }
  reading_into_ = big_ ? big_.get() : small_.data();
  return {reading_into_, big_ ? big_size_ : small_.size()};
}

void TlsStream::received(std::size_t n) {
  in_at_ = reading_into_;
  in_end_ = in_at_ + n;
  more_coming_ = n == (reading_into_ == small_.data() ? small_.size() : big_size_);
}

TlsStream::error_code TlsStream::input_failed(const error_code& ec) const {
  if (ec == asio::error::eof && !(SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN))
    return ssl::error::stream_truncated;
  return ec;
}

asio::const_buffer TlsStream::take_output() {
  wire_.swap(pending_);
  pending_.clear();
  writing_ = true;
  return asio::buffer(wire_);
}

void TlsStream::output_written() {
  writing_ = false;
  wire_.clear();
  if (wire_.capacity() > k_keep_output) wire_.shrink_to_fit();
  if (pending_.empty() && pending_.capacity() > k_keep_output) pending_.shrink_to_fit();
}

void TlsStream::flush_now() {
  if (writing_ || pending_.empty()) return;
  error_code ec;
  const std::size_t n = next_.socket().write_some(asio::buffer(pending_), ec);
  pending_.erase(0, n);  // the rest (a full socket) goes with the next write
}

void TlsStream::settle_input() {
  if (in_at_ != in_end_) return;
  in_at_ = in_end_ = nullptr;
  // Drained: the big buffer goes (a connection that waits next must not hold it); while more
  // keeps coming, the next read makes it again.
  big_.reset();
  big_size_ = 0;
}

}  // namespace proxy::net
