#pragma once
// proxy::net::TcpStream — a TCP socket whose reads and writes have deadlines, in place of
// beast::tcp_stream, with one timer per connection armed lazily.
//
// beast::tcp_stream starts its timer for every read and write made while an expiry is set and
// cancels it when the operation ends: a timer operation allocated, put in and taken out of the
// timer queue, and the cancelled wait's completion run through the scheduler, for each of the
// four to six socket operations of an intercepted request. About a tenth of the worker's CPU
// went there (bench/RESULTS.md, 2026-12-04). Here a deadline is a time point kept per direction;
// an operation arms the connection's one timer only when it is not armed already for that time
// or earlier. When the timer fires before any pending operation's deadline (the deadline was
// pushed back since it was armed), it is armed again for the earliest one. A busy connection
// whose deadline moves forward with every operation sees its timer fire about once per timeout.
//
// The contract is beast::tcp_stream's, as the proxy uses it:
// - expires_after / expires_at / expires_never set the deadline of each direction (read, write)
//   that has no operation pending; a pending operation keeps the deadline it started with;
// - an operation still pending when its deadline passes ends with beast::error::timeout, and the
//   socket is closed (the other direction's operation ends too, with operation_aborted);
// - an operation started after its direction's deadline has passed closes the socket and ends
//   with beast::error::timeout at once;
// - a connect counts as a write.
// One addition: expires_after(d, Expiry::cancel) — at the deadline the pending operations are
// cancelled (the one whose deadline passed ends with timeout) and the socket stays open, so that
// the connection can still carry an answer (a request body that stalls gets its 408).
// One thread drives a stream, as with Beast: its state is not locked.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <chrono>
#include <cstddef>
#include <utility>

namespace proxy::net {

class TcpStream {
 public:
  using executor_type = boost::asio::any_io_executor;
  using socket_type = boost::asio::ip::tcp::socket;
  using endpoint_type = boost::asio::ip::tcp::endpoint;
  using clock_type = std::chrono::steady_clock;
  using error_code = boost::system::error_code;
  // What the deadline does to the connection when it passes.
  enum class Expiry { close, cancel };

  explicit TcpStream(socket_type&& socket);
  explicit TcpStream(const executor_type& executor);
  TcpStream(TcpStream&&) noexcept = default;
  TcpStream& operator=(TcpStream&&) = delete;
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;
  // Closes the socket: pending operations end with operation_aborted.
  ~TcpStream();

  executor_type get_executor() const noexcept { return impl_->socket.get_executor(); }
  socket_type& socket() noexcept { return impl_->socket; }
  const socket_type& socket() const noexcept { return impl_->socket; }

  void expires_after(clock_type::duration after, Expiry expiry = Expiry::close) {
    expires_at(clock_type::now() + after, expiry);
  }
  void expires_at(clock_type::time_point at, Expiry expiry = Expiry::close);
  void expires_never() { expires_at(clock_type::time_point::max()); }
  // Closes the socket and drops the timer.
  void close();

  // Waits the timer started since the stream was made (tests: arming is lazy).
  std::size_t timer_waits() const noexcept { return impl_->waits; }

  // void(error_code, std::size_t)
  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return transfer<true>(buffers, std::forward<Token>(token));
  }
  // void(error_code, std::size_t)
  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return transfer<false>(buffers, std::forward<Token>(token));
  }
  // void(error_code): one endpoint; the socket is opened if it is not.
  template <typename Token>
  auto async_connect(const endpoint_type& endpoint, Token&& token) {
    return boost::asio::async_initiate<Token, void(error_code)>(
        [this](auto handler, const endpoint_type& to) {
          if (!impl_->start(impl_->write))
            return boost::asio::post(
                impl_->socket.get_executor(),
                boost::asio::append(std::move(handler), error_code(boost::beast::error::timeout)));
          impl_->socket.async_connect(to, Completion<decltype(handler)>{
                                              Ref(impl_.get()), &Impl::write, std::move(handler)});
        },
        token, endpoint);
  }

 private:
  struct Direction {
    clock_type::time_point deadline = clock_type::time_point::max();
    Expiry expiry = Expiry::close;
    bool pending = false;
    bool timed_out = false;  // its pending operation's deadline passed: it ends with timeout
  };
  // Shared by the stream, its pending operations and the timer's wait, which may all outlive
  // the TcpStream object (a stream destroyed with operations pending). Counted without atomics:
  // one thread drives it.
  struct Impl {
    socket_type socket;
    boost::asio::steady_timer timer;
    clock_type::time_point armed = clock_type::time_point::max();  // max: no wait pending
    Direction read, write;
    std::size_t refs = 0;
    std::size_t waits = 0;

    explicit Impl(socket_type&& s);
    explicit Impl(const executor_type& executor);
    // Before an operation of direction `d`: arms the timer for its deadline if needed. False
    // when that deadline has passed (the socket is closed then, as at a timeout).
    bool start(Direction& d);
    // After: the operation's error, beast::error::timeout when its deadline passed.
    void finish(Direction& d, error_code& ec) {
      d.pending = false;
      if (d.timed_out) {
        d.timed_out = false;
        ec = boost::beast::error::timeout;
      }
    }
    void arm(clock_type::time_point at);
    void on_timer(const error_code& ec);
    void close();

    friend void intrusive_ptr_add_ref(Impl* p) noexcept { ++p->refs; }
    friend void intrusive_ptr_release(Impl* p) noexcept {
      if (--p->refs == 0) delete p;
    }
  };
  using Ref = boost::intrusive_ptr<Impl>;

  // A read (Read) or a write of some of `buffers` under its direction's deadline.
  template <bool Read, typename Buffers, typename Token>
  auto transfer(const Buffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto handler, const Buffers& b) {
          Direction Impl::*const direction = Read ? &Impl::read : &Impl::write;
          if (!impl_->start((*impl_).*direction))
            return boost::asio::post(
                impl_->socket.get_executor(),
                boost::asio::append(std::move(handler), error_code(boost::beast::error::timeout),
                                    std::size_t{0}));
          Completion<decltype(handler)> done{Ref(impl_.get()), direction, std::move(handler)};
          if constexpr (Read)
            impl_->socket.async_read_some(b, std::move(done));
          else
            impl_->socket.async_write_some(b, std::move(done));
        },
        token, buffers);
  }

 public:
  // The completion of a socket operation: marks its direction done and turns an operation
  // whose deadline passed into beast::error::timeout. Forwards the handler's associated
  // executor, allocator and cancellation slot (the associator below).
  template <typename Handler>
  struct Completion {
    Ref impl;
    Direction Impl::*direction;
    Handler handler;

    template <typename... More>
    void operator()(error_code ec, More&&... more) {
      impl->finish((*impl).*direction, ec);
      impl.reset();
      std::move(handler)(ec, std::forward<More>(more)...);
    }
  };

 private:
  Ref impl_;
};

}  // namespace proxy::net

namespace boost::asio {

template <template <typename, typename> class Associator, typename Handler,
          typename DefaultCandidate>
struct associator<Associator, proxy::net::TcpStream::Completion<Handler>, DefaultCandidate>
    : Associator<Handler, DefaultCandidate> {
  static typename Associator<Handler, DefaultCandidate>::type get(
      const proxy::net::TcpStream::Completion<Handler>& h) noexcept {
    return Associator<Handler, DefaultCandidate>::get(h.handler);
  }
  static auto get(const proxy::net::TcpStream::Completion<Handler>& h,
                  const DefaultCandidate& c) noexcept
      -> decltype(Associator<Handler, DefaultCandidate>::get(h.handler, c)) {
    return Associator<Handler, DefaultCandidate>::get(h.handler, c);
  }
};

}  // namespace boost::asio
