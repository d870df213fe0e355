#include "proxy/tcp_stream.hpp"

#include <algorithm>

namespace proxy::net {

namespace {
using time_point = TcpStream::clock_type::time_point;
constexpr time_point k_never = time_point::max();
}  // namespace

TcpStream::Impl::Impl(socket_type&& s) : socket(std::move(s)), timer(socket.get_executor()) {}
TcpStream::Impl::Impl(const executor_type& executor) : socket(executor), timer(executor) {}

TcpStream::TcpStream(socket_type&& socket) : impl_(new Impl(std::move(socket))) {}
TcpStream::TcpStream(const executor_type& executor) : impl_(new Impl(executor)) {}

TcpStream::~TcpStream() {
  if (impl_) impl_->close();
}

void TcpStream::expires_at(clock_type::time_point at, Expiry expiry) {
  // As Beast's: a pending operation keeps the deadline it started with.
  for (Direction* d : {&impl_->read, &impl_->write}) {
    if (d->pending) continue;
    d->deadline = at;
    d->expiry = expiry;
  }
}

void TcpStream::close() {
  impl_->close();
}

void TcpStream::Impl::close() {
  error_code ignored;
  socket.close(ignored);
  if (armed != k_never) {
    armed = k_never;
    timer.cancel();
  }
}

bool TcpStream::Impl::start(Direction& d) {
  d.timed_out = false;
  if (d.deadline != k_never) {
    if (d.deadline <= clock_type::now()) {
      if (d.expiry == Expiry::close) {
        close();
      }
      return false;
    }
    // Armed for later than this deadline, or not at all: (re)arm. Armed for earlier, the wait
    // fires first and arms again for what is pending then.
    if (armed > d.deadline) arm(d.deadline);
  }
  d.pending = true;
  return true;
}

void TcpStream::Impl::arm(clock_type::time_point at) {
  armed = at;
  ++waits;
  timer.expires_at(at);  // a wait pending for another time ends with operation_aborted
  timer.async_wait([self = Ref(this)](const error_code& ec) { self->on_timer(ec); });
}

void TcpStream::Impl::on_timer(const error_code& ec) {
  // Aborted: armed again since (that wait is the one that counts), or closed.
  if (ec) return;
  armed = k_never;
  const auto now = clock_type::now();
  bool close_it = false, cancel_it = false;
  time_point next = k_never;
  for (Direction* d : {&read, &write}) {
    if (!d->pending || d->deadline == k_never) continue;
    if (d->deadline <= now) {
      d->timed_out = true;
      (d->expiry == Expiry::close ? close_it : cancel_it) = true;
    } else {
      next = std::min(next, d->deadline);
    }
  }
  if (close_it) return close();
  if (cancel_it) {
    error_code ignored;
    socket.cancel(ignored);  // both directions' operations end; the timed-out one with timeout
    return;
  }
  if (next != k_never) arm(next);
}

}  // namespace proxy::net
