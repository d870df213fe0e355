#pragma once
// proxy::net::TlsStream — TLS over a TcpStream, driven straight through OpenSSL with a
// BIO of our own, for the many connections that mostly wait.
//
// Asio's ssl::stream keeps four 17 KiB buffers per connection for its whole life (its own input
// and output buffers and OpenSSL's BIO pair behind them): 68 KiB of the ~72 KiB an idle
// intercepted connection cost (issue 19). Here ciphertext is read into a small buffer inside the
// stream first (what a waiting connection holds), and into a 17 KiB one only while more than that
// arrives at once, given back as soon as OpenSSL has taken it; what OpenSSL writes is kept only
// until it is on the wire. OpenSSL's own record buffers go back between records
// (SSL_MODE_RELEASE_BUFFERS).
//
// A drop-in for beast::ssl_stream<TcpStream> as the proxy uses it: async_handshake (a
// server's with the bytes already read), async_read_some, async_write_some, async_shutdown (ours
// sent; the peer's not waited for), next_layer() (timeouts stay TcpStream's),
// native_handle(). One read and one write may be in flight at once (full duplex), as with Asio's:
// one thread drives the connection. A peer that closes without close_notify reads as
// ssl::error::stream_truncated, one that sends it as asio::error::eof, like Asio's.

#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <boost/asio/append.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/write.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>

#include "proxy/tcp_stream.hpp"

namespace proxy::net {

class TlsStream {
 public:
  using next_layer_type = TcpStream;
  using executor_type = next_layer_type::executor_type;
  using error_code = boost::system::error_code;

  TlsStream(next_layer_type&& next, boost::asio::ssl::context& context);
  ~TlsStream();
  // OpenSSL's BIO points at the stream: it stays where it was made.
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  executor_type get_executor() { return next_.get_executor(); }
  next_layer_type& next_layer() { return next_; }
  const next_layer_type& next_layer() const { return next_; }
  SSL* native_handle() { return ssl_; }

  // void(error_code)
  template <typename Token>
  auto async_handshake(boost::asio::ssl::stream_base::handshake_type type, Token&& token) {
    set_role(type);
    return boost::asio::async_compose<Token, void(error_code)>(HandshakeOp<false>{*this}, token,
                                                               next_);
  }
  // void(error_code, bytes of `initial` used): the bytes a server read before it knew the
  // connection was TLS (all of them are taken).
  template <typename ConstBuffers, typename Token>
  auto async_handshake(boost::asio::ssl::stream_base::handshake_type type,
                       const ConstBuffers& initial, Token&& token) {
    set_role(type);
    std::size_t used = 0;
    for (auto it = boost::asio::buffer_sequence_begin(initial);
         it != boost::asio::buffer_sequence_end(initial); ++it) {
      const boost::asio::const_buffer b(*it);
      take_initial(b.data(), b.size());
      used += b.size();
    }
    return boost::asio::async_compose<Token, void(error_code, std::size_t)>(
        HandshakeOp<true>{*this, used}, token, next_);
  }

  // void(error_code, std::size_t): plaintext into the first non-empty buffer.
  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    boost::asio::mutable_buffer target;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      target = boost::asio::mutable_buffer(*it);
      if (target.size() > 0) break;
    }
    return boost::asio::async_compose<Token, void(error_code, std::size_t)>(ReadOp{*this, target},
                                                                            token, next_);
  }

  // void(error_code, std::size_t): up to 16 KiB of the buffers' plaintext, one write(2).
  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    std::size_t taken = 0;
    error_code ec;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && taken < k_record && !ec; ++it) {
      const boost::asio::const_buffer b(*it);
      const std::size_t n = std::min(b.size(), k_record - taken);
      if (n > 0) ec = encrypt(b.data(), n);
      taken += n;
    }
    return boost::asio::async_compose<Token, void(error_code, std::size_t)>(
        WriteOp<false>{*this, ec, ec ? 0 : taken}, token, next_);
  }

  // void(error_code): sends close_notify; the peer's is not waited for.
  template <typename Token>
  auto async_shutdown(Token&& token) {
    const error_code ec = close_notify();
    return boost::asio::async_compose<Token, void(error_code)>(WriteOp<true>{*this, ec}, token,
                                                               next_);
  }

 private:
  static constexpr std::size_t k_record = 16 * 1024;
  static constexpr std::size_t k_small = 1024;     // held by every connection
  static constexpr std::size_t k_big = 17 * 1024;  // while more arrives at once

  friend struct TlsBio;

  // What one call into OpenSSL came to.
  struct Step {
    enum class Want { nothing, input } want = Want::nothing;
    error_code ec;
    std::size_t n = 0;
  };

  void set_role(boost::asio::ssl::stream_base::handshake_type type);
  void take_initial(const void* data, std::size_t size);
  Step handshake_step();
  Step read_step(void* data, std::size_t size);
  error_code encrypt(const void* data, std::size_t size);
  error_code close_notify();
  // Where the next ciphertext goes: the small buffer, or the big one when the last read filled
  // the small one.
  boost::asio::mutable_buffer input_space();
  // `n` bytes arrived in the buffer input_space() gave.
  void received(std::size_t n);
  // A read of ciphertext that failed: EOF without close_notify is a truncation.
  error_code input_failed(const error_code& ec) const;
  bool has_output() const { return !pending_.empty(); }
  // Moves what OpenSSL wrote to the buffer that goes on the wire.
  boost::asio::const_buffer take_output();
  void output_written();
  // Writes what OpenSSL wrote while reading (a rare alert or key update) now, unless a write is
  // on the wire (which then takes it along): never waits.
  void flush_now();
  // Gives the big buffer back once OpenSSL has taken all of it.
  void settle_input();

  // WithUsed: completes with the bytes of the initial buffer used (void(error_code, size_t)).
  template <bool WithUsed>
  struct HandshakeOp {
    TlsStream& s;
    std::size_t used = 0;
    error_code failed{};  // the handshake failed: its alert goes out first
    enum { start, reading, writing } state = start;
    template <typename Self>
    void operator()(Self& self, error_code ec = {}, std::size_t n = 0) {
      if (state == reading) {
        if (ec) return finish(self, s.input_failed(ec));
        s.received(n);
      } else if (state == writing) {
        s.output_written();
        if (ec || failed) return finish(self, failed ? failed : ec);
      }
      const Step step = s.handshake_step();
      // Our flight (or alert) goes out before anything more is read, and after the last step.
      if (s.has_output()) {
        failed = step.ec;
        state = writing;
        return boost::asio::async_write(s.next_, s.take_output(), std::move(self));
      }
      if (step.ec || step.want == Step::Want::nothing) return finish(self, step.ec);
      state = reading;
      s.next_.async_read_some(s.input_space(), std::move(self));
    }
    template <typename Self>
    void finish(Self& self, error_code ec) {
      s.settle_input();
      if constexpr (WithUsed)
        self.complete(ec, used);
      else
        self.complete(ec);
    }
  };

  struct ReadOp {
    TlsStream& s;
    boost::asio::mutable_buffer target;
    enum { start, reading, posted } state = start;
    template <typename Self>
    void operator()(Self& self, error_code ec = {}, std::size_t n = 0) {
      if (state == posted) return self.complete(ec, n);
      if (state == reading) {
        if (ec) return finish(self, s.input_failed(ec), 0);
        s.received(n);
      }
      if (target.size() == 0) return finish(self, {}, 0);
      const Step step = s.read_step(target.data(), target.size());
      if (s.has_output()) s.flush_now();
      if (step.want == Step::Want::nothing) return finish(self, step.ec, step.n);
      state = reading;
      s.next_.async_read_some(s.input_space(), std::move(self));
    }
    template <typename Self>
    void finish(Self& self, error_code ec, std::size_t n) {
      s.settle_input();
      if (state == start) {  // never completes inside its initiation
        state = posted;
        return boost::asio::post(s.next_.get_executor(),
                                 boost::asio::append(std::move(self), ec, n));
      }
      self.complete(ec, n);
    }
  };

  // Writes what OpenSSL wrote (all of it, including what a read added meanwhile), then
  // completes: a write with its plaintext bytes (void(error_code, std::size_t)), a shutdown
  // without (void(error_code)).
  template <bool Shutdown>
  struct WriteOp {
    TlsStream& s;
    error_code failed;
    std::size_t n = 0;
    enum { start, writing, posted } state = start;
    template <typename Self>
    void operator()(Self& self, error_code ec = {}, std::size_t = 0) {
      if (state == posted) return finish(self, ec);
      if (state == writing) {
        s.output_written();
        if (ec) return finish(self, ec);
      } else if (failed || !s.has_output() || s.writing_) {
        // Nothing to write (or a failure): completed outside its initiation. (A write while
        // another is on the wire breaks the stream's contract: refused.)
        state = posted;
        const error_code why =
            failed ? failed
                   : (s.writing_ && s.has_output() ? error_code(boost::asio::error::in_progress)
                                                   : error_code());
        return boost::asio::post(s.next_.get_executor(),
                                 boost::asio::append(std::move(self), why, std::size_t{0}));
      }
      if (!s.has_output()) return finish(self, {});
      state = writing;
      boost::asio::async_write(s.next_, s.take_output(), std::move(self));
    }
    template <typename Self>
    void finish(Self& self, error_code ec) {
      if constexpr (Shutdown)
        self.complete(ec);
      else
        self.complete(ec, ec ? 0 : n);
    }
  };

  next_layer_type next_;
  SSL* ssl_ = nullptr;
  // Ciphertext in: [in_at_, in_end_) of `small_` or of `big_` is what OpenSSL has not taken.
  std::array<char, k_small> small_;
  std::unique_ptr<char[]> big_;
  std::size_t big_size_ = 0;
  char* reading_into_ = nullptr;  // the buffer input_space() gave last
  const char* in_at_ = nullptr;
  const char* in_end_ = nullptr;
  bool more_coming_ = false;  // the last read filled its buffer
  // Ciphertext out: what OpenSSL wrote (pending_), and what is on the wire (wire_).
  std::string pending_, wire_;
  bool writing_ = false;
};

}  // namespace proxy::net
