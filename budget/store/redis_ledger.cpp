#include <hiredis/hiredis.h>

#include <atomic>
#include <charconv>
#include <stdexcept>

#include "budget/store/shared_ledger.hpp"

namespace budget {
namespace {

// KEYS: one counter hash per part, then the hold sequence and the hold deadline set.
// ARGV: estimate, hold ttl (ms), part count, hold key prefix, then per part: limit, enforce, ttl.
// Lua numbers are doubles: exact up to 2^53 micro-units (9 billion in the currency).
// Every expiry is relative and every deadline is read from Redis's own clock (TIME): a sidecar
// whose clock runs ahead must never make Redis drop counters or settle other sidecars' holds.
constexpr const char* k_reserve = R"lua(
local est = tonumber(ARGV[1])
local n = tonumber(ARGV[3])
local found = {}
for i = 1, n do
  local s = tonumber(redis.call('HGET', KEYS[i], 's') or '0')
  local r = tonumber(redis.call('HGET', KEYS[i], 'r') or '0')
  found[#found + 1] = s
  found[#found + 1] = r
  local base = 4 + (i - 1) * 3
  if ARGV[base + 2] == '1' and s + r + est > tonumber(ARGV[base + 1]) then
    local out = {0, i}
    for _, v in ipairs(found) do out[#out + 1] = v end
    return out
  end
end
local id = redis.call('INCR', KEYS[n + 1])
local out = {1, id}
local names = {}
for i = 1, n do
  local r = redis.call('HINCRBY', KEYS[i], 'r', est)
  out[#out + 1] = tonumber(redis.call('HGET', KEYS[i], 's') or '0')
  out[#out + 1] = r
  local ttl = tonumber(ARGV[4 + (i - 1) * 3 + 3])
  if ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) end
  names[#names + 1] = KEYS[i]
end
redis.call('HSET', ARGV[4] .. id, 'est', est, 'keys', table.concat(names, '\n'))
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[n + 2], now_ms + tonumber(ARGV[2]), id)
return out
)lua";

// KEYS: the hold deadline set (scores: deadlines in ms on Redis's clock). Returns the ids of
// holds whose deadline has passed.
constexpr const char* k_expired = R"lua(
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, 1000)
)lua";

// KEYS: the hold deadline set. ARGV: hold key prefix, id, actual ("-1": release, "est": estimate).
constexpr const char* k_close = R"lua(
local hk = ARGV[1] .. ARGV[2]
local est = redis.call('HGET', hk, 'est')
if not est then return {0} end
local actual = tonumber(ARGV[3])
if ARGV[3] == 'est' then actual = tonumber(est) end
local out = {1}
for k in string.gmatch(redis.call('HGET', hk, 'keys'), '[^\n]+') do
  redis.call('HINCRBY', k, 'r', -tonumber(est))
  local s = tonumber(redis.call('HGET', k, 's') or '0')
  if actual >= 0 then s = redis.call('HINCRBY', k, 's', actual) end
  out[#out + 1] = s
end
redis.call('DEL', hk)
redis.call('ZREM', KEYS[1], ARGV[2])
return out
)lua";

// Separates the fields of an override record: budget names and HTTP header values never hold
// ASCII control characters.
constexpr char k_field = '\x1f';

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

std::int64_t to_int(const redisReply* r) {
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  std::int64_t v = 0;
  if (r->type == REDIS_REPLY_STRING) std::from_chars(r->str, r->str + r->len, v);
  return v;
}

class RedisLedger final : public SharedLedger {
 public:
  RedisLedger(const std::string& url, std::string prefix) : prefix_(std::move(prefix)) {
    // redis://host:port/db
    std::string rest = url.starts_with("redis://") ? url.substr(8) : url;
    if (auto slash = rest.find('/'); slash != std::string::npos) {
      db_ = std::stoi(rest.substr(slash + 1).empty() ? "0" : rest.substr(slash + 1));
      rest = rest.substr(0, slash);
    }
    if (auto colon = rest.rfind(':'); colon != std::string::npos) {
      port_ = std::stoi(rest.substr(colon + 1));
      rest = rest.substr(0, colon);
    }
    host_ = rest.empty() ? "127.0.0.1" : rest;
    if (!connect()) {
      redisFree(ctx_);  // the destructor does not run for a constructor that throws
      throw std::runtime_error("cannot connect to redis " + url);
    }
  }
  ~RedisLedger() override { redisFree(ctx_); }

  std::optional<Reservation> reserve(const std::vector<Part>& parts, std::int64_t estimate,
                                     std::int64_t hold_ttl_ms) override {
    std::vector<std::string> args{"EVALSHA", reserve_sha_, std::to_string(parts.size() + 2)};
    for (const auto& p : parts) args.push_back(counter_key(p.budget, p.key, p.period));
    args.push_back(prefix_ + "hold_seq");
    args.push_back(prefix_ + "holds");
    args.push_back(std::to_string(estimate));
    args.push_back(std::to_string(hold_ttl_ms));
    args.push_back(std::to_string(parts.size()));
    args.push_back(prefix_ + "hold:");
    for (const auto& p : parts) {
      args.push_back(std::to_string(p.limit));
      args.push_back(p.enforce ? "1" : "0");
      args.push_back(std::to_string(p.ttl));
    }
    Reply r = command(args);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2) return std::nullopt;
    Reservation out;
    out.admitted = to_int(r->element[0]) == 1;
    if (out.admitted)
      out.hold = static_cast<std::uint64_t>(to_int(r->element[1]));
    else
      out.refused_part = static_cast<std::size_t>(to_int(r->element[1]) - 1);
    for (std::size_t i = 2; i + 1 < r->elements; i += 2)
      out.counters.push_back({to_int(r->element[i]), to_int(r->element[i + 1])});
    return out;
  }

  std::optional<std::vector<std::int64_t>> close(std::uint64_t hold,
                                                 std::optional<std::int64_t> actual) override {
    return close_as(hold, actual ? std::to_string(*actual) : "-1");
  }

  void settle_expired() override {
    Reply r = command({"EVALSHA", expired_sha_, "1", prefix_ + "holds"});
    if (!r || r->type != REDIS_REPLY_ARRAY) return;
    for (std::size_t i = 0; i < r->elements; ++i)
      close_as(static_cast<std::uint64_t>(to_int(r->element[i])), "est");
  }

  std::optional<std::vector<Counters>> read(const std::vector<Part>& parts) override {
    std::vector<Counters> out;
    for (const auto& p : parts) {
      Reply r = command({"HMGET", counter_key(p.budget, p.key, p.period), "s", "r"});
      if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return std::nullopt;
      out.push_back({to_int(r->element[0]), to_int(r->element[1])});
    }
    return out;
  }

  bool reset(const std::string& budget, const std::string& key, std::int64_t period) override {
    if (!key.empty()) return command({"DEL", counter_key(budget, key, period)}) != nullptr;
    // Every instance: its counters share the budget's {hash tag} prefix.
    std::string cursor = "0";
    do {
      Reply r = command({"SCAN", cursor, "MATCH", prefix_ + "{" + budget + "}:*", "COUNT", "1000"});
      if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return false;
      cursor.assign(r->element[0]->str, r->element[0]->len);
      for (std::size_t i = 0; i < r->element[1]->elements; ++i)
        command(
            {"DEL", std::string(r->element[1]->element[i]->str, r->element[1]->element[i]->len)});
    } while (cursor != "0");
    return true;
  }

  // Limits are one hash (budget -> "limit:config_limit"), overrides one list of records: every
  // process re-reads both (runtime()) and applies them as its own.
  bool set_limit(const LimitRow& limit) override {
    return command({"HSET", prefix_ + "limits", limit.budget,
                    std::to_string(limit.limit) + ":" + std::to_string(limit.config_limit)}) !=
           nullptr;
  }

  bool add_override(const OverrideRow& o) override {
    return command({"RPUSH", prefix_ + "overrides",
                    o.budget + k_field + o.key + k_field + std::to_string(o.extra) + k_field +
                        std::to_string(o.until) + k_field + o.reason}) != nullptr;
  }

  std::optional<Runtime> runtime() override {
    Runtime out;
    Reply limits = command({"HGETALL", prefix_ + "limits"});
    if (!limits || limits->type != REDIS_REPLY_ARRAY) return std::nullopt;
    for (std::size_t i = 0; i + 1 < limits->elements; i += 2) {
      const std::string value(limits->element[i + 1]->str, limits->element[i + 1]->len);
      const auto colon = value.find(':');
      out.limits.push_back({std::string(limits->element[i]->str, limits->element[i]->len),
                            std::stoll(value.substr(0, colon)),
                            std::stoll(value.substr(colon + 1))});
    }
    Reply overrides = command({"LRANGE", prefix_ + "overrides", "0", "-1"});
    if (!overrides || overrides->type != REDIS_REPLY_ARRAY) return std::nullopt;
    for (std::size_t i = 0; i < overrides->elements; ++i) {
      const std::string v(overrides->element[i]->str, overrides->element[i]->len);
      std::vector<std::string> f;
      for (std::size_t pos = 0;;) {
        const auto end = v.find(k_field, pos);
        f.push_back(v.substr(pos, end - pos));
        if (end == std::string::npos) break;
        pos = end + 1;
      }
      if (f.size() == 5)
        out.overrides.push_back({f[0], f[1], f[4], std::stoll(f[2]), std::stoll(f[3])});
    }
    return out;
  }

  bool healthy() const override { return healthy_; }

 private:
  std::optional<std::vector<std::int64_t>> close_as(std::uint64_t hold, const std::string& actual) {
    Reply r = command({"EVALSHA", close_sha_, "1", prefix_ + "holds",
                       prefix_ + "hold:", std::to_string(hold), actual});
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1) return std::nullopt;
    std::vector<std::int64_t> spent;
    for (std::size_t i = 1; i < r->elements; ++i) spent.push_back(to_int(r->element[i]));
    return spent;
  }

  // Keys of one budget carry its name as a {hash tag}: one Redis Cluster slot per budget.
  std::string counter_key(const std::string& budget, const std::string& key,
                          std::int64_t period) const {
    return prefix_ + "{" + budget + "}:" + key + ":" + std::to_string(period);
  }

  bool connect() {
    if (ctx_) redisFree(ctx_);
    const timeval timeout{0, 500'000};
    ctx_ = redisConnectWithTimeout(host_.c_str(), port_, timeout);
    if (!ctx_ || ctx_->err) return healthy_ = false;
    redisSetTimeout(ctx_, timeval{1, 0});
    if (db_ != 0) {
      Reply r(static_cast<redisReply*>(redisCommand(ctx_, "SELECT %d", db_)));
      if (!r || r->type == REDIS_REPLY_ERROR) return healthy_ = false;
    }
    // Scripts are sent once per connection and run by their SHA afterwards (a server restart
    // forgets them; the reconnect that follows loads them again).
    reserve_sha_ = load_script(k_reserve);
    close_sha_ = load_script(k_close);
    expired_sha_ = load_script(k_expired);
    return healthy_ = !reserve_sha_.empty() && !close_sha_.empty() && !expired_sha_.empty();
  }

  std::string load_script(const char* script) {
    Reply r(static_cast<redisReply*>(redisCommand(ctx_, "SCRIPT LOAD %s", script)));
    if (!r || r->type != REDIS_REPLY_STRING) return {};
    return std::string(r->str, r->len);
  }

  // One round trip; reconnects once after a broken connection. nullptr (and unhealthy) on failure.
  Reply command(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    for (int attempt = 0; attempt < 2; ++attempt) {
      if ((!ctx_ || ctx_->err) && !connect()) return nullptr;
      Reply r(static_cast<redisReply*>(
          redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data())));
      if (r && r->type != REDIS_REPLY_ERROR) {
        healthy_ = true;
        return r;
      }
      // Scripts flushed on a live server: load them again (same SHA) and retry once.
      if (r && std::string_view(r->str, r->len).starts_with("NOSCRIPT")) {
        load_script(k_reserve);
        load_script(k_close);
        load_script(k_expired);
        continue;
      }
      if (r) break;  // a script or command error: retrying cannot help
    }
    healthy_ = false;
    return nullptr;
  }

  std::string host_;
  int port_ = 6379, db_ = 0;
  std::string prefix_;
  redisContext* ctx_ = nullptr;
  std::string reserve_sha_, close_sha_, expired_sha_;
  std::atomic<bool> healthy_{false};  // read by the admin thread
};

}  // namespace

std::unique_ptr<SharedLedger> make_redis_ledger(const std::string& url, const std::string& prefix) {
  return std::make_unique<RedisLedger>(url, prefix);
}

}  // namespace budget
