#pragma once
// One worker thread: its own io_context, its own SO_REUSEPORT acceptor, its own upstream pool.
// A connection lives on one worker from accept to close, so nothing in it needs a lock.
// The acceptor runs on a small thread of its own, which registers each accepted socket with the
// worker's reactor and hands it over: Asio keeps a socket's reactor state (about 170 bytes) for
// the life of the process once it has been allocated, and allocated on the worker thread these
// states would sit between the connections' memory in its heap and keep the pages a burst used
// from being given back once it is over.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "proxy/session_env.hpp"

namespace proxy {

class Worker {
 public:
  explicit Worker(SharedEnv& shared);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Binds address:port with SO_REUSEPORT (port 0: any) and returns the bound port.
  // Throws boost::system::system_error.
  std::uint16_t listen(const std::string& address, std::uint16_t port);
  void start();
  // Stops accepting and closes the connections that are waiting for a request; busy ones
  // close after their current exchange (SharedEnv::draining).
  void drain();
  std::size_t connections() const { return env_.connections.load(); }
  // Stops the io_context (ending whatever still runs) and joins the thread.
  void stop();

 private:
  net::asio::awaitable<void> accept_loop();
  net::asio::awaitable<void> trim_loop();

  net::asio::io_context io_{1};
  net::asio::io_context accept_io_{1};
  net::tcp::acceptor acceptor_;  // used on accept_thread_ once started
  std::atomic<bool> accepting_{true};
  WorkerEnv env_;
  std::thread thread_;
  std::thread accept_thread_;
};

}  // namespace proxy
