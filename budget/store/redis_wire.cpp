// The Redis protocol as the connection writes and reads it (budget/store/redis_wire.hpp), and
// the parts of RedisConnection that are only that: ScriptArgs, the reply arena, and the wire
// form of a command and of a batch call.
#include "budget/store/redis_wire.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "budget/store/redis_connection.hpp"
#include "util/text.hpp"

namespace budget {
namespace redis_wire {
namespace {

// Replies are built in an arena that the next exchange starts over (nothing reads a reply after
// the batch it answered has been delivered): hiredis's reply functions, with its allocations
// replaced by bump allocation in chunks of 16 KiB that are kept, and nothing freed one by one.
constexpr std::size_t k_arena_chunk = 16384;

void* arena_allocate(void* privdata, std::size_t size) {
  return static_cast<RedisConnection::ReplyArena*>(privdata)->allocate(size);
}

redisReply* arena_reply(const redisReadTask* task, int type) {
  auto* r = static_cast<redisReply*>(arena_allocate(task->privdata, sizeof(redisReply)));
  if (!r) return nullptr;
  std::memset(r, 0, sizeof *r);
  r->type = type;
  if (task->parent) static_cast<redisReply*>(task->parent->obj)->element[task->idx] = r;
  return r;
}

void* arena_string(const redisReadTask* task, char* str, std::size_t len) {
  auto* text = static_cast<char*>(arena_allocate(task->privdata, len + 1));
  if (!text) return nullptr;
  std::memcpy(text, str, len);
  text[len] = '\0';
  redisReply* r = arena_reply(task, task->type);
  if (!r) return nullptr;
  r->str = text;
  r->len = len;
  return r;
}

void* arena_array(const redisReadTask* task, int elements) {
  redisReply** element = nullptr;
  if (elements > 0) {
    const std::size_t bytes = sizeof(redisReply*) * static_cast<std::size_t>(elements);
    element = static_cast<redisReply**>(arena_allocate(task->privdata, bytes));
    if (!element) return nullptr;
    std::memset(element, 0, bytes);
  }
  redisReply* r = arena_reply(task, REDIS_REPLY_ARRAY);
  if (!r) return nullptr;
  r->element = element;
  r->elements = static_cast<std::size_t>(elements > 0 ? elements : 0);
  return r;
}

void* arena_integer(const redisReadTask* task, long long value) {
  redisReply* r = arena_reply(task, REDIS_REPLY_INTEGER);
  if (r) r->integer = value;
  return r;
}

void* arena_nil(const redisReadTask* task) {
  return arena_reply(task, REDIS_REPLY_NIL);
}

void arena_free(void*) {}  // the arena starts over as a whole

redisReplyObjectFunctions k_arena_functions = {arena_string, arena_array, arena_integer, arena_nil,
                                               arena_free};

}  // namespace

void resp_array(std::string& wire, std::size_t n) {
  wire += '*';
  util::append_decimal(wire, n);
  wire += "\r\n";
}
void resp_bulk(std::string& wire, std::string_view s) {
  wire += '$';
  util::append_decimal(wire, s.size());
  wire += "\r\n";
  wire += s;
  wire += "\r\n";
}
void resp_bulk(std::string& wire, std::int64_t v) {
  resp_bulk(wire, util::Decimal(v).view());
}

std::string wire_command(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  const int n =
      redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()), argv.data(), lens.data());
  std::string out(cmd, n < 0 ? 0 : static_cast<std::size_t>(n));
  redisFreeCommand(cmd);
  return out;
}

redisReader* arena_reader() {
  return redisReaderCreateWithFunctions(&k_arena_functions);
}

}  // namespace redis_wire

using redis_wire::k_arena_chunk;
using redis_wire::resp_array;
using redis_wire::resp_bulk;
using redis_wire::wire_command;

namespace {

// One bulk string of 64-bit integers, little-endian whatever the host's order, as the scripts'
// struct.unpack('<i8...') reads them.
void resp_packed(std::string& out, const std::int64_t* values, std::size_t count) {
  out += '$';
  util::append_decimal(out, 8 * count);
  out += "\r\n";
  for (std::size_t i = 0; i < count; ++i) {
    auto u = static_cast<std::uint64_t>(values[i]);
    for (int b = 0; b < 8; ++b, u >>= 8) out += static_cast<char>(u & 0xff);
  }
  out += "\r\n";
}

}  // namespace

RedisConnection::ScriptArgs& RedisConnection::ScriptArgs::key(std::string_view k,
                                                              std::string_view more) {
  // The keys are the string's first part: one after an argument would be read as an argument.
  if (args_ > 0) throw std::logic_error("ScriptArgs: a key after an argument");
  wire_ += '$';
  util::append_decimal(wire_, k.size() + more.size());
  wire_ += "\r\n";
  wire_ += k;
  wire_ += more;
  wire_ += "\r\n";
  ++keys_;
  keys_bytes_ = wire_.size();
  return *this;
}

RedisConnection::ScriptArgs& RedisConnection::ScriptArgs::arg(std::string_view a) {
  resp_bulk(wire_, a);
  ++args_;
  return *this;
}

RedisConnection::ScriptArgs& RedisConnection::ScriptArgs::arg(std::int64_t v) {
  resp_bulk(wire_, v);
  ++args_;
  return *this;
}

RedisConnection::ScriptArgs& RedisConnection::ScriptArgs::packed(const std::int64_t* values,
                                                                 std::size_t count) {
  resp_packed(wire_, values, count);
  ++args_;
  return *this;
}

void* RedisConnection::ReplyArena::allocate(std::size_t size) {
  size = (size + 15) & ~std::size_t{15};
  while (chunk_ < chunks_.size()) {
    if (used_ + size <= sizes_[chunk_]) {
      void* p = chunks_[chunk_].get() + used_;
      used_ += size;
      return p;
    }
    ++chunk_;
    used_ = 0;
  }
  const std::size_t bytes = std::max(size, k_arena_chunk);
  chunks_.push_back(std::make_unique<char[]>(bytes));
  sizes_.push_back(bytes);
  chunk_ = chunks_.size() - 1;
  used_ = size;
  return chunks_.back().get();
}

void RedisConnection::ReplyArena::reset() {
  // A chunk made for one large reply is not kept.
  while (chunks_.size() > 1 && sizes_.back() > k_arena_chunk) {
    chunks_.pop_back();
    sizes_.pop_back();
  }
  chunk_ = 0;
  used_ = 0;
}

void RedisConnection::format(const Command& command, std::string& wire) const {
  if (command.script < 0) {
    wire += wire_command(command.args);
    return;
  }
  const ScriptArgs& a = command.script_args;
  resp_array(wire, 3 + a.keys() + a.args());
  resp_bulk(wire, "EVALSHA");
  resp_bulk(wire, shas_.at(static_cast<std::size_t>(command.script)));
  resp_bulk(wire, static_cast<std::int64_t>(a.keys()));
  wire += a.keys_wire();
  wire += a.args_wire();
}

int RedisConnection::batch_op(const Command& command) const {
  if (batching_.script < 0 || command.script < 0) return -1;
  const auto i = static_cast<std::size_t>(command.script);
  return i < batching_.op.size() ? batching_.op[i] : -1;
}

void RedisConnection::format_batch(const std::vector<Command>& batch, std::size_t first,
                                   std::size_t count, std::string& wire) const {
  std::size_t keys = 0, args = 0;
  for (std::size_t i = first; i < first + count; ++i) {
    keys += batch[i].script_args.keys();
    args += batch[i].script_args.args();
  }
  // EVALSHA sha numkeys, the keys, then the batch's numbers packed: m, (op, key count, argument
  // count) per command; then every command's arguments: KEYS go before ARGV.
  resp_array(wire, 4 + keys + args);
  resp_bulk(wire, "EVALSHA");
  resp_bulk(wire, shas_.at(static_cast<std::size_t>(batching_.script)));
  resp_bulk(wire, static_cast<std::int64_t>(keys));
  for (std::size_t i = first; i < first + count; ++i) wire += batch[i].script_args.keys_wire();
  thread_local std::vector<std::int64_t> head;  // the connection's thread: kept between batches
  head.assign(1, static_cast<std::int64_t>(count));
  for (std::size_t i = first; i < first + count; ++i)
    head.insert(head.end(),
                {batch_op(batch[i]), static_cast<std::int64_t>(batch[i].script_args.keys()),
                 static_cast<std::int64_t>(batch[i].script_args.args())});
  resp_packed(wire, head.data(), head.size());
  for (std::size_t i = first; i < first + count; ++i) wire += batch[i].script_args.args_wire();
}

}  // namespace budget
