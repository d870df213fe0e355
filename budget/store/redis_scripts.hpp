#pragma once
// The Lua scripts of the Redis ledger: each runs atomically in Redis, so that a reservation across
// several budgets, or a settlement, is all or nothing for every sidecar at once.
// Lua numbers are doubles: amounts are exact up to 2^53 micro-units (9 billion in the currency);
// hold ids (64-bit) stay strings. Every expiry is relative and every deadline is read from Redis's
// own clock (TIME): a sidecar whose clock runs ahead must never make Redis drop counters or settle
// other sidecars' holds. Keys: counters PREFIX{budget}:KEY:PERIOD (hash: s spent, r reserved),
// holds PREFIX hold:ID (hash: est, keys), their deadlines in the sorted set PREFIX holds, and
// PREFIX seen:ID, the mark a hold closed without its reservation leaves for two days, so that a
// close sent again (after a lost reply, from the outbox) or a reservation arriving after its own
// release does nothing. (A hold closed with its reservation needs no mark: it is gone, and a close
// sent again finds nothing to close.)

namespace budget::redis_scripts {

// KEYS: one counter per part, then the deadline set, the hold, its seen mark.
// ARGV: estimate, hold ttl (ms), part count, hold id, then per part: limit, enforce, ttl (s).
// Returns {1, 0, s1, r1, ...} reserved; {0, i, s1, r1, ...} part i refused (counters as found up
// to it); {2} the hold was closed before it arrived.
inline constexpr const char* k_reserve = R"lua(
local est = tonumber(ARGV[1])
local n = tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[n + 3]) == 1 then return {2} end
local found = {}
local fresh = {}
for i = 1, n do
  local c = redis.call('HMGET', KEYS[i], 's', 'r')
  fresh[i] = not c[1] and not c[2]
  local s = tonumber(c[1] or '0')
  local r = tonumber(c[2] or '0')
  found[#found + 1] = s
  found[#found + 1] = r
  local base = 4 + (i - 1) * 3
  if ARGV[base + 2] == '1' and s + r + est > tonumber(ARGV[base + 1]) then
    local out = {0, i}
    for _, v in ipairs(found) do out[#out + 1] = v end
    return out
  end
end
local out = {1, 0}
local names = {}
for i = 1, n do
  out[#out + 1] = found[2 * i - 1]
  out[#out + 1] = redis.call('HINCRBY', KEYS[i], 'r', est)
  -- The TTL ends a day after the period: set once, when the counter is made.
  local ttl = tonumber(ARGV[4 + (i - 1) * 3 + 3])
  if fresh[i] and ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) end
  names[#names + 1] = KEYS[i]
end
redis.call('HSET', KEYS[n + 2], 'est', est, 'keys', table.concat(names, '\n'))
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[n + 1], now_ms + tonumber(ARGV[2]), ARGV[4])
return out
)lua";

// KEYS: the deadline set, the hold, its seen mark, then the counters to charge when Redis holds
// no reservation (the hold was admitted while Redis could not be reached).
// ARGV: hold id, actual ("-1": release), seen mark ttl (s), then per counter its ttl (s).
// Returns {0} when the hold was closed already, else {1, s1, s2, ...}: spent after the close.
inline constexpr const char* k_close = R"lua(
if redis.call('EXISTS', KEYS[3]) == 1 then return {0} end
local actual = tonumber(ARGV[2])
local out = {1}
local hold = redis.call('HMGET', KEYS[2], 'est', 'keys')
if hold[1] then
  local est = tonumber(hold[1])
  for k in string.gmatch(hold[2], '[^\n]+') do
    redis.call('HINCRBY', k, 'r', -est)
    if actual >= 0 then
      out[#out + 1] = redis.call('HINCRBY', k, 's', actual)
    else
      out[#out + 1] = tonumber(redis.call('HGET', k, 's') or '0')
    end
  end
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[1], ARGV[1])
  -- Gone with the hold, it cannot close twice; a close that may be charged without one (its
  -- counters given) marks it.
  if #KEYS == 3 then return out end
else
  for i = 4, #KEYS do
    local s = tonumber(redis.call('HGET', KEYS[i], 's') or '0')
    if actual > 0 then
      s = redis.call('HINCRBY', KEYS[i], 's', actual)
      local ttl = tonumber(ARGV[i])
      if ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) end
    end
    out[#out + 1] = s
  end
end
redis.call('SET', KEYS[3], '1', 'EX', ARGV[3])
return out
)lua";

// KEYS: the deadline set. ARGV: hold key prefix, seen mark prefix, seen mark ttl (s).
// Settles at their estimate up to 1000 holds whose deadline has passed; returns how many.
inline constexpr const char* k_expire = R"lua(
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, 1000)
for _, id in ipairs(ids) do
  local hk = ARGV[1] .. id
  local est = redis.call('HGET', hk, 'est')
  if est then
    for k in string.gmatch(redis.call('HGET', hk, 'keys'), '[^\n]+') do
      redis.call('HINCRBY', k, 'r', -tonumber(est))
      redis.call('HINCRBY', k, 's', tonumber(est))
    end
    redis.call('DEL', hk)
  end
  redis.call('ZREM', KEYS[1], id)
  redis.call('SET', ARGV[2] .. id, '1', 'EX', ARGV[3])
end
return #ids
)lua";

// KEYS: counters. Returns {s1, r1, s2, r2, ...}.
inline constexpr const char* k_read = R"lua(
local out = {}
for i = 1, #KEYS do
  out[#out + 1] = tonumber(redis.call('HGET', KEYS[i], 's') or '0')
  out[#out + 1] = tonumber(redis.call('HGET', KEYS[i], 'r') or '0')
end
return out
)lua";

// KEYS: the runtime limits (hash), the overrides (list). Returns {limits, overrides}.
inline constexpr const char* k_runtime = R"lua(
return {redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[2], 0, -1)}
)lua";

// Indexes of the scripts as the connection loads them.
enum Script { reserve = 0, close = 1, expire = 2, read = 3, runtime = 4 };

}  // namespace budget::redis_scripts
