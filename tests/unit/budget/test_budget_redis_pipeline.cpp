// One RedisConnection under load from several threads: every command gets its own reply, in the
// order Redis ran them, while the next batch goes out before the callbacks of the one before
// run (pipelining); a call() from such a callback is refused rather than answered with a reply
// that belongs to another command (or read into the arena the batch's replies are still in).
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "budget/store/redis_connection.hpp"
#include "budget_test_support.hpp"

using namespace budget_test;

namespace {

budget::RedisEndpoint endpoint_of(const RedisServer& server) {
  auto e = budget::parse_redis_url(server.url());
  REQUIRE(e);
  return *e;
}

std::string reply_text(const budget::RedisConnection::Result& r) {
  return r.reply && r.reply->type == REDIS_REPLY_STRING ? std::string(r.reply->str, r.reply->len)
                                                        : std::string("<none>");
}

}  // namespace

TEST_CASE("Redis connection: each of many pipelined commands gets its own reply") {
  // A script, so that commands of one batch go as one call of the batch script, and plain ECHOs
  // between them, which end a run of batched commands. (The batch script's numbers come packed
  // in its first argument: the command count, then per command its op, key and argument counts.)
  const std::string echo_script = "return ARGV[1]";
  const std::string batch_script = R"lua(
local head = {struct.unpack('<' .. string.rep('i8', #ARGV[1] / 8), ARGV[1])}
local m = head[1]
local out = {}
local ap = 1
for j = 1, m do
  local na = head[3 * j + 1]
  out[j] = ARGV[ap + 1]
  ap = ap + na
end
return out
)lua";
  budget::RedisConnection connection(endpoint_of(RedisServer::shared()),
                                     {echo_script, batch_script}, {},
                                     budget::RedisConnection::Batching{1, {0, -1}, 64});
  constexpr int k_threads = 4, k_each = 2500;
  std::atomic<int> answered{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < k_each; ++i) {
        const std::string tag = std::to_string(t) + ":" + std::to_string(i);
        budget::RedisConnection::Command c;
        c.op = "test";
        c.done = [&, tag](const budget::RedisConnection::Result& r) {
          if (reply_text(r) != tag) ++wrong;
          ++answered;
        };
        if (i % 7 == 0) {
          c.args = {"ECHO", tag};
        } else {
          c.script = 0;
          c.script_args.arg(tag);
        }
        connection.send(std::move(c));
      }
    });
  for (auto& t : threads) t.join();
  // send() does not wait: the last replies arrive shortly after.
  for (int i = 0; i < 1000 && answered < k_threads * k_each; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(answered == k_threads * k_each);
  CHECK(wrong == 0);
}

TEST_CASE("Redis connection: a call() from a callback is refused, and the next batch is answered") {
  budget::RedisConnection connection(endpoint_of(RedisServer::shared()), {}, {}, {});
  // Commands queued while the first is answered go out as the next batch before its callback
  // runs; the callback's own call() must not read that batch's replies.
  std::mutex m;
  std::vector<std::string> seen;
  std::atomic<int> done{0};
  budget::RedisConnection::Command first;
  // 50 ms of work in Redis (DEBUG SLEEP is off by default).
  first.args = {"EVAL",
                "local t = redis.call('TIME') local s = t[1] * 1e6 + t[2] "
                "repeat t = redis.call('TIME') until t[1] * 1e6 + t[2] - s > 50000 return 1",
                "0"};
  first.done = [&](const budget::RedisConnection::Result&) {
    budget::RedisConnection::Command inner;
    inner.args = {"ECHO", "inner"};
    inner.done = [&](const budget::RedisConnection::Result& r) {
      std::lock_guard lock(m);
      seen.push_back("inner=" + reply_text(r));
    };
    connection.call(std::move(inner));
    ++done;
  };
  connection.send(std::move(first));
  std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the sleep is on the wire
  budget::RedisConnection::Command second;
  second.args = {"ECHO", "second"};
  second.done = [&](const budget::RedisConnection::Result& r) {
    std::lock_guard lock(m);
    seen.push_back("second=" + reply_text(r));
    ++done;
  };
  connection.send(std::move(second));
  for (int i = 0; i < 500 && done < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(done == 2);
  std::lock_guard lock(m);
  // The inner call was refused (no reply) and "second" got its own reply.
  CHECK(seen == std::vector<std::string>{"inner=<none>", "second=second"});
}

TEST_CASE("Redis connection: a script's keys and arguments as RESP") {
  budget::RedisConnection::ScriptArgs a;
  a.key("p:holds").key("p:seen:", "42").arg("x").arg(std::int64_t{-7});
  CHECK(a.keys() == 2);
  CHECK(a.args() == 2);
  CHECK(a.keys_wire() == "$7\r\np:holds\r\n$9\r\np:seen:42\r\n");
  CHECK(a.args_wire() == "$1\r\nx\r\n$2\r\n-7\r\n");
  // A key after an argument would be sent as an argument: refused.
  CHECK_THROWS_AS(a.key("late"), std::logic_error);
  // Numbers packed: one argument of 64-bit little-endian integers, negative ones included.
  const std::int64_t numbers[] = {1, -2, std::int64_t{1} << 40};
  a.packed(numbers, 3);
  CHECK(a.args() == 3);
  CHECK(a.args_wire() == std::string("$1\r\nx\r\n$2\r\n-7\r\n$24\r\n"
                                     "\x01\0\0\0\0\0\0\0"
                                     "\xfe\xff\xff\xff\xff\xff\xff\xff"
                                     "\0\0\0\0\0\x01\0\0\r\n",
                                     4 + 3 + 4 + 4 + 5 + 24 + 2));
}
