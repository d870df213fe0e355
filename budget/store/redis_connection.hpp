#pragma once
// budget::RedisConnection — one connection to Redis, driven by a thread of its own, so that no
// caller ever waits on Redis. Commands queued from any thread go out together: everything queued
// while the previous batch was on the wire is written at once (a pipeline) and the replies are
// read in order; each command's callback then runs on that thread. Scripts are loaded once per
// connection (SCRIPT LOAD) and run by their SHA (EVALSHA); a script the server has forgotten
// (NOSCRIPT) is loaded again and its command sent again. A lost connection fails the commands it
// carried and is made again with backoff, whether or not commands are waiting.
// With a batch script, consecutive commands of scripts it can run go out as one call of it (as
// many scripts cost Redis little more than one), each command still answered with its own reply.

#include <hiredis/hiredis.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "budget/store/redis_socket.hpp"

namespace budget {

class RedisConnection {
 public:
  // What became of a command: its reply, or none (not connected, connection lost, no reply in
  // time). `sent`: it was written, so it may have run although no reply came.
  struct Result {
    const redisReply* reply = nullptr;
    bool sent = false;
  };
  // A script's keys, then its arguments, written as RESP bulk strings into one string where the
  // command is made: one allocation instead of one per argument, copied to the wire whole.
  class ScriptArgs {
   public:
    void reserve(std::size_t bytes) { wire_.reserve(bytes); }
    // A key, written as `k` followed by `more` (a prefix and the rest, without joining them
    // first). Every key goes before the first argument (std::logic_error otherwise).
    ScriptArgs& key(std::string_view k, std::string_view more = {});
    ScriptArgs& arg(std::string_view a);
    ScriptArgs& arg(std::int64_t v);
    // One argument of numbers, each a signed 64-bit little-endian integer, as the ledger's
    // scripts read an operation's numbers (struct.unpack, redis_scripts.hpp `nums`).
    ScriptArgs& packed(const std::int64_t* values, std::size_t count);
    std::size_t keys() const { return keys_; }
    std::size_t args() const { return args_; }
    std::string_view keys_wire() const { return std::string_view(wire_).substr(0, keys_bytes_); }
    std::string_view args_wire() const { return std::string_view(wire_).substr(keys_bytes_); }

   private:
    std::string wire_;
    std::size_t keys_ = 0, args_ = 0, keys_bytes_ = 0;
  };
  struct Command {
    const char* op = "";            // for the store metrics: reserve, close, ...
    int script = -1;                // an index into the scripts: EVALSHA <sha> <script_args>
    std::vector<std::string> args;  // a plain command (script < 0): its words
    ScriptArgs script_args;         // a script's
    std::function<void(const Result&)> done;  // on the connection's thread
    std::chrono::steady_clock::time_point queued{};
  };
  struct Hooks {
    // On the connection's thread once a connection is made (logged in, scripts loaded): commands
    // that go first on it.
    std::function<std::vector<Command>()> connected;
    // On the connection's thread after the callbacks of each batch.
    std::function<void()> after_batch;
    // On the connection's thread when Redis cannot be reached: the first failure of a spell,
    // what failed ("connect: Connection refused", "no reply within 1000 ms").
    std::function<void(const std::string& problem)> failed;
  };

  // A script that runs several commands of other scripts in one call: EVALSHA <sha> with the
  // commands' keys (each command's args: key count, keys, arguments) concatenated as its KEYS, and
  // as ARGV the command count, then per command its `op` (below), key count and argument count,
  // then every command's arguments; it returns an array of one reply per command, in order.
  struct Batching {
    int script = -1;          // the batch script's index; -1: none
    std::vector<int> op;      // per script index: its op number in the batch script, or -1
    std::size_t max_ops = 0;  // commands per call at most
  };

  RedisConnection(RedisEndpoint endpoint, std::vector<std::string> scripts, Hooks hooks,
                  Batching batching);
  // Fails whatever is still queued (callbacks run before it returns) and stops the thread.
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Queues a command; safe from any thread, never blocks on Redis.
  void send(Command command);

  // Sends `command` and returns once its callback has run. Not under a lock that a callback
  // takes; from a callback (the connection's thread) it fails at once, unsent.
  void call(Command command);

  bool connected() const { return connected_.load(std::memory_order_relaxed); }
  const RedisEndpoint& endpoint() const { return endpoint_; }

  // Where the reader builds replies: hiredis's own reply functions make one heap allocation per
  // reply and per string and array in it (about 23 per reserve + settle). Bump allocation in
  // chunks kept from one exchange to the next, started over by reset().
  class ReplyArena {
   public:
    void* allocate(std::size_t size);
    void reset();

   private:
    std::vector<std::unique_ptr<char[]>> chunks_;
    std::vector<std::size_t> sizes_;
    std::size_t chunk_ = 0;  // the chunk in use
    std::size_t used_ = 0;   // bytes of it used
  };

 private:
  void run();
  bool connect();
  void disconnect();
  // Consecutive commands of a batch as they go out: one command, or a run of them as one call
  // of the batch script.
  struct Call {
    std::size_t first, count;
    bool batched;
  };
  // Sends `batch` and delivers its replies; then, as long as commands were queued meanwhile,
  // the next batch, each written before the replies of the one before are delivered.
  void process(std::vector<Command>& batch, bool reload_scripts = true);
  void prepare(const std::vector<Command>& batch, std::vector<Call>& calls,
               std::string& wire) const;
  void take_queued(std::vector<Command>& into);
  // True when a reply says the server does not know a script (NOSCRIPT).
  bool refused_script(
      const std::vector<Command>& batch, const std::vector<Call>& calls,
      const std::vector<std::unique_ptr<redisReply, void (*)(void*)>>& replies) const;
  // Delivers the replies, fails what has none (disconnecting when `ok` is false) and sends
  // again, once the scripts are loaded, what NOSCRIPT refused.
  void finish(std::vector<Command>& batch, const std::vector<Call>& calls,
              std::vector<std::unique_ptr<redisReply, void (*)(void*)>>& replies, bool ok,
              bool reload_scripts);
  // Reads `count` replies (the bytes before them having been written).
  bool read_replies(std::size_t count,
                    std::vector<std::unique_ptr<redisReply, void (*)(void*)>>& replies);
  void fail(std::vector<Command>& batch, std::size_t from, bool sent);
  // Writes `wire` and reads `count` replies into `replies`; false when the connection failed
  // (replies then holds those that came).
  bool exchange(const std::string& wire, std::size_t count,
                std::vector<std::unique_ptr<redisReply, void (*)(void*)>>& replies);
  bool load_scripts();
  // Appends `command` to `wire` (RESP).
  void format(const Command& command, std::string& wire) const;
  // The op number of `command` in the batch script, or -1.
  int batch_op(const Command& command) const;
  // Appends one call of the batch script for batch[first, first + count) to `wire`.
  void format_batch(const std::vector<Command>& batch, std::size_t first, std::size_t count,
                    std::string& wire) const;
  void deliver(Command& command, const Result& result);
  void report(const std::string& problem);

  const RedisEndpoint endpoint_;
  const std::vector<std::string> scripts_;
  std::vector<std::string> shas_;
  const Hooks hooks_;
  const Batching batching_;
  std::unique_ptr<RedisSocket> socket_;
  redisReader* reader_ = nullptr;
  ReplyArena arena_;
  bool failing_ = false;  // a failure was reported and no connection made since
  std::atomic<bool> connected_{false};
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point next_attempt_{};

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Command> queue_;
  bool waiting_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace budget
