#include "budget/store/redis_connection.hpp"

#include <algorithm>
#include <future>

#include "budget/store/redis_wire.hpp"
#include "budget/store/store_metrics.hpp"
#include "util/thread_name.hpp"

namespace budget {
namespace {

using redis_wire::wire_command;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ReplyPtr = std::unique_ptr<redisReply, void (*)(void*)>;

// How long a connection may take to be made, and a batch to be answered (since the last bytes
// came), before Redis counts as unreachable: a stalled server fails requests after a second
// instead of holding them, and on_error decides them meanwhile.
constexpr auto k_connect_timeout = 1000ms;
constexpr auto k_reply_timeout = 1000ms;
// Reconnection attempts: at once, then after 50 ms, doubling up to 2 s.
constexpr auto k_backoff_first = 50ms;
constexpr auto k_backoff_max = 2000ms;
// How long a connection may stay idle before a PING checks it.
constexpr auto k_idle_ping = 1000ms;
// Commands per batch: bounds a batch's latency and the memory of its replies.
constexpr std::size_t k_batch_max = 1024;

void no_free(void*) {}

bool is_error(const redisReply* r, std::string_view prefix = {}) {
  return r && r->type == REDIS_REPLY_ERROR && std::string_view(r->str, r->len).starts_with(prefix);
}

}  // namespace

RedisConnection::RedisConnection(RedisEndpoint endpoint, std::vector<std::string> scripts,
                                 Hooks hooks, Batching batching)
    : endpoint_(std::move(endpoint)),
      scripts_(std::move(scripts)),
      hooks_(std::move(hooks)),
      batching_(std::move(batching)) {
  thread_ = std::thread([this] {
    util::name_thread("tg-redis");
    run();
  });
}

RedisConnection::~RedisConnection() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  std::vector<Command> rest(std::make_move_iterator(queue_.begin()),
                            std::make_move_iterator(queue_.end()));
  queue_.clear();
  fail(rest, 0, false);
  if (hooks_.after_batch) hooks_.after_batch();
  disconnect();
}

void RedisConnection::send(Command command) {
  command.queued = Clock::now();
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(command));
    wake = waiting_;
  }
  if (wake) wake_.notify_one();
}

void RedisConnection::call(Command command) {
  // From a callback, on the connection's thread: refused at once. The batch being delivered
  // still reads its replies from the connection's arena, and the next batch may be on the wire
  // already, whose replies would come first.
  if (std::this_thread::get_id() == thread_.get_id()) {
    std::vector<Command> one;
    one.push_back(std::move(command));
    fail(one, 0, false);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      std::vector<Command> one;
      one.push_back(std::move(command));
      return fail(one, 0, false);
    }
  }
  std::promise<void> answered;
  auto done = answered.get_future();
  command.done = [&answered, inner = std::move(command.done)](const Result& result) {
    if (inner) inner(result);
    answered.set_value();
  };
  send(std::move(command));
  done.wait();
}

void RedisConnection::run() {
  std::vector<Command> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      // Disconnected, the thread also wakes for the next attempt: a store that comes back is
      // seen (readiness) before any request needs it.
      const auto ready = [&] {
        return stopping_ || !queue_.empty() || (!connected() && Clock::now() >= next_attempt_);
      };
      waiting_ = true;
      // Connected and idle, a PING once a second finds a server that went away (readiness).
      const bool pinged = connected() && !wake_.wait_until(lock, Clock::now() + k_idle_ping, ready);
      if (!connected()) wake_.wait_until(lock, next_attempt_, ready);
      waiting_ = false;
      // Stopping, what is queued still goes out while the server answers (closes an exchange
      // did not wait for among it); what cannot, fails (closes to the outbox).
      if (stopping_ && (queue_.empty() || !connected())) return;
      if (pinged) batch.push_back({"ping", -1, {"PING"}, {}, nullptr, Clock::now()});
      while (!queue_.empty() && batch.size() < k_batch_max) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!connected() && Clock::now() >= next_attempt_) {
      if (connect()) {
        backoff_ = 0ms;
        if (hooks_.connected) {
          auto first = hooks_.connected();
          for (auto& c : first) c.queued = Clock::now();
          batch.insert(batch.begin(), std::make_move_iterator(first.begin()),
                       std::make_move_iterator(first.end()));
        }
      } else {
        backoff_ = backoff_ == 0ms ? k_backoff_first : std::min(backoff_ * 2, k_backoff_max);
        next_attempt_ = Clock::now() + backoff_;
      }
    }
    // While Redis cannot be reached, commands fail at once: on_error decides their requests
    // without waiting for the next attempt.
    if (!batch.empty()) {
      if (connected())
        process(batch);
      else
        fail(batch, 0, false);
    }
    batch.clear();
    if (hooks_.after_batch) hooks_.after_batch();
  }
}

void RedisConnection::report(const std::string& problem) {
  if (failing_) return;
  failing_ = true;
  if (hooks_.failed) hooks_.failed(problem);
}

bool RedisConnection::connect() {
  socket_ = std::make_unique<RedisSocket>();
  if (auto problem = socket_->connect(endpoint_, Clock::now() + k_connect_timeout)) {
    socket_.reset();
    report(*problem);
    return false;
  }
  reader_ = redis_wire::arena_reader();
  reader_->privdata = &arena_;
  std::string wire;
  std::size_t count = 0;
  if (!endpoint_.password.empty()) {
    wire += endpoint_.user.empty() ? wire_command({"AUTH", endpoint_.password})
                                   : wire_command({"AUTH", endpoint_.user, endpoint_.password});
    ++count;
  }
  if (endpoint_.db != 0) {
    wire += wire_command({"SELECT", std::to_string(endpoint_.db)});
    ++count;
  }
  std::vector<ReplyPtr> replies;
  bool ok = exchange(wire, count, replies);
  if (!ok) report("no reply to the login");
  for (const auto& r : replies)
    if (is_error(r.get())) {
      report(std::string(r->str, r->len));  // WRONGPASS, NOAUTH, a database out of range
      ok = false;
    }
  if (ok && !load_scripts()) {
    report("no reply to SCRIPT LOAD");
    ok = false;
  }
  if (!ok) {
    disconnect();
    return false;
  }
  failing_ = false;
  connected_ = true;
  return true;
}

bool RedisConnection::load_scripts() {
  std::string wire;
  for (const auto& script : scripts_) wire += wire_command({"SCRIPT", "LOAD", script});
  std::vector<ReplyPtr> replies;
  if (!exchange(wire, scripts_.size(), replies)) return false;
  shas_.clear();
  for (const auto& r : replies) {
    if (r->type != REDIS_REPLY_STRING) {
      report(is_error(r.get()) ? std::string(r->str, r->len) : "SCRIPT LOAD failed");
      return false;
    }
    shas_.emplace_back(r->str, r->len);
  }
  return true;
}

void RedisConnection::disconnect() {
  connected_ = false;
  socket_.reset();
  if (reader_) redisReaderFree(reader_);
  reader_ = nullptr;
}

bool RedisConnection::exchange(const std::string& wire, std::size_t count,
                               std::vector<ReplyPtr>& replies) {
  if (!socket_->write(wire, Clock::now() + k_reply_timeout)) return false;
  return read_replies(count, replies);
}

bool RedisConnection::read_replies(std::size_t count, std::vector<ReplyPtr>& replies) {
  // The replies of the previous batch are no longer read; a reply half read (a failed exchange
  // on a connection kept) keeps the arena as it is.
  if (reader_->ridx < 0) arena_.reset();
  auto deadline = Clock::now() + k_reply_timeout;
  char buffer[16384];
  while (replies.size() < count) {
    void* reply = nullptr;
    if (redisReaderGetReply(reader_, &reply) != REDIS_OK) return false;
    if (reply) {
      replies.emplace_back(static_cast<redisReply*>(reply), no_free);
      continue;
    }
    const std::size_t n = socket_->read(buffer, sizeof buffer, deadline);
    if (n == 0) return false;
    redisReaderFeed(reader_, buffer, n);
    deadline = Clock::now() + k_reply_timeout;
  }
  return true;
}

void RedisConnection::prepare(const std::vector<Command>& batch, std::vector<Call>& calls,
                              std::string& wire) const {
  // What goes on the wire: one command, or a run of consecutive commands the batch script can
  // run (in the order they were queued), as one call of it.
  for (std::size_t i = 0; i < batch.size();) {
    std::size_t n = 1;
    if (batch_op(batch[i]) >= 0)
      while (i + n < batch.size() && n < batching_.max_ops && batch_op(batch[i + n]) >= 0) ++n;
    const bool batched = n > 1;
    calls.push_back({i, n, batched});
    if (batched)
      format_batch(batch, i, n, wire);
    else
      format(batch[i], wire);
    i += n;
  }
}

void RedisConnection::take_queued(std::vector<Command>& into) {
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  while (!queue_.empty() && into.size() < k_batch_max) {
    into.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
}

void RedisConnection::process(std::vector<Command>& first, bool reload_scripts) {
  std::vector<Command> batch = std::move(first);
  first.clear();
  std::vector<Call> calls;
  std::string wire;
  prepare(batch, calls, wire);
  bool written = socket_->write(wire, Clock::now() + k_reply_timeout);
  for (;;) {
    std::vector<ReplyPtr> replies;
    const bool ok = written && read_replies(calls.size(), replies);
    // Pipelined: the commands queued while Redis answered go out now, before these replies are
    // delivered, so that Redis runs them while the callbacks run (and the callers queue more).
    // Not when a script has to be loaded again: its commands go again first.
    std::vector<Command> next;
    std::vector<Call> next_calls;
    bool next_written = false;
    if (ok && reload_scripts && !refused_script(batch, calls, replies)) {
      take_queued(next);
      if (!next.empty()) {
        wire.clear();
        prepare(next, next_calls, wire);
        next_written = socket_->write(wire, Clock::now() + k_reply_timeout);
      }
    }
    finish(batch, calls, replies, ok, reload_scripts);
    if (next.empty()) return;
    if (hooks_.after_batch) hooks_.after_batch();
    batch = std::move(next);
    calls = std::move(next_calls);
    written = next_written;
  }
}

bool RedisConnection::refused_script(const std::vector<Command>& batch,
                                     const std::vector<Call>& calls,
                                     const std::vector<ReplyPtr>& replies) const {
  for (std::size_t c = 0; c < replies.size(); ++c)
    if (batch[calls[c].first].script >= 0 && is_error(replies[c].get(), "NOSCRIPT")) return true;
  return false;
}

void RedisConnection::finish(std::vector<Command>& batch, const std::vector<Call>& calls,
                             std::vector<ReplyPtr>& replies, bool ok, bool reload_scripts) {
  std::vector<Command> again;
  for (std::size_t c = 0; c < replies.size(); ++c) {
    const Call& call = calls[c];
    const redisReply* reply = replies[c].get();
    // The server forgot the scripts (SCRIPT FLUSH, a restart behind a proxy): load them again
    // and send what they refused once more.
    if (reload_scripts && batch[call.first].script >= 0 && is_error(reply, "NOSCRIPT")) {
      for (std::size_t i = call.first; i < call.first + call.count; ++i)
        again.push_back(std::move(batch[i]));
      continue;
    }
    for (std::size_t i = 0; i < call.count; ++i) {
      // A batch answers each command in its array; an error instead of the array (the call
      // itself failed) answers every one of them.
      // (An array too short, which the script never sends, leaves the rest unanswered.)
      const redisReply* own = reply;
      if (call.batched && reply->type == REDIS_REPLY_ARRAY)
        own = i < reply->elements ? reply->element[i] : nullptr;
      deliver(batch[call.first + i], {own, true});
    }
  }
  if (!ok) {
    report("no reply within " + std::to_string(k_reply_timeout.count()) + " ms");
    disconnect();
    next_attempt_ = Clock::now();
    fail(batch, replies.size() < calls.size() ? calls[replies.size()].first : batch.size(), true);
  }
  if (again.empty()) return;
  if (ok && connected() && load_scripts())
    process(again, false);
  else
    fail(again, 0, false);
}

void RedisConnection::deliver(Command& command, const Result& result) {
  if (StoreMetrics* metrics = store_metrics()) {
    if (!result.reply || is_error(result.reply))
      metrics->error("redis");
    else
      metrics->observe("redis", command.op, Clock::now() - command.queued);
  }
  if (command.done) command.done(result);
}

void RedisConnection::fail(std::vector<Command>& batch, std::size_t from, bool sent) {
  for (std::size_t i = from; i < batch.size(); ++i) deliver(batch[i], {nullptr, sent});
}

}  // namespace budget
