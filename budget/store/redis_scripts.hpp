#pragma once
// The Lua scripts of the Redis ledger: each runs atomically in Redis, so that a reservation across
// several budgets, or a settlement, is all or nothing for every sidecar at once.
// Lua numbers are doubles: amounts are exact up to 2^53 micro-units (9 billion in the currency);
// hold ids (64-bit) stay strings. Every expiry is relative and every deadline is read from Redis's
// own clock (TIME): a sidecar whose clock runs ahead must never make Redis drop counters or settle
// other sidecars' holds. Keys: counters PREFIX{budget}:KEY:PERIOD (hash: s spent, r reserved),
// rolling windows PREFIX{budget}:KEY:rolling (below), holds PREFIX hold:ID (hash: est, keys, and
// roll when a key is a window), their deadlines in the sorted set PREFIX holds, and PREFIX seen:ID,
// the mark a hold closed without its reservation leaves for two days, so that a close sent again
// (after a lost reply, from the outbox) or a reservation arriving after its own release does
// nothing. (A hold closed with its reservation needs no mark: it is gone, and a close sent again
// finds nothing to close.)

#include <string>

namespace budget::redis_scripts {

// Rolling windows, shared by the scripts that read or charge one. A window's hash holds r
// (reserved), w (the window, s), g (the bucket, s), s (the sum of its buckets), lo (the oldest
// bucket) and one field b<L> per bucket: the amounts charged in the g seconds that end with second
// L (unix seconds by Redis's TIME). An amount counts until a whole window has passed since the end
// of its bucket (while now <= L + w, in whole seconds): never for less than the window, at most g
// seconds longer. Buckets that left are dropped when the oldest one leaves (one scan of the few
// buckets left: g keeps them at most about 600), so a reservation costs a few commands however
// busy the window.
// roll_trim: drops what left; returns the sum within the window and the seconds until the oldest
// amount leaves it (0: nothing in it). roll_charge: adds an amount at `now`; returns the sum.
inline constexpr const char* k_window = R"lua(
local function roll_trim(k, w, now)
  local f = redis.call('HMGET', k, 's', 'lo')
  local s = tonumber(f[1] or '0')
  local lo = tonumber(f[2])
  if lo and lo + w < now then
    s = 0
    lo = nil
    local all = redis.call('HGETALL', k)
    for i = 1, #all, 2 do
      if string.byte(all[i], 1) == 98 then
        local last = tonumber(string.sub(all[i], 2))
        if last + w < now then
          redis.call('HDEL', k, all[i])
        else
          s = s + tonumber(all[i + 1])
          if not lo or last < lo then lo = last end
        end
      end
    end
    redis.call('HSET', k, 's', s)
    if lo then redis.call('HSET', k, 'lo', lo) else redis.call('HDEL', k, 'lo') end
  end
  if lo then return s, lo + w + 1 - now end
  return s, 0
end
local function roll_charge(k, amount, w, g, now)
  local s = roll_trim(k, w, now)
  local last = math.floor(now / g) * g + g - 1
  redis.call('HSET', k, 'w', w, 'g', g)
  if amount > 0 then
    redis.call('HINCRBY', k, 'b' .. last, amount)
    s = redis.call('HINCRBY', k, 's', amount)
    local lo = tonumber(redis.call('HGET', k, 'lo'))
    if not lo or last < lo then redis.call('HSET', k, 'lo', last) end
  end
  redis.call('EXPIRE', k, w + 86400)
  return s
end
local function roll_of(hold, i)
  if not hold then return 0, 0 end
  local n = 0
  for w, g in string.gmatch(hold, '(%d+):(%d+)') do
    n = n + 1
    if n == i then return tonumber(w), tonumber(g) end
  end
  return 0, 0
end
local function seconds()
  return tonumber(redis.call('TIME')[1])
end
)lua";

// KEYS: one counter per part, then the deadline set, the hold, its seen mark.
// ARGV: estimate, hold ttl (ms), part count, hold id, then per part: limit, enforce, ttl (s),
// window (s; 0: a calendar period), bucket (s).
// Returns {1, 0, s1, r1, l1, ...} reserved; {0, i, s1, r1, l1, ...} part i refused (counters as
// found up to it); {2} the hold was closed before it arrived. l: seconds until a window's oldest
// amount leaves it (0 for a calendar period).
inline constexpr const char* k_reserve_body = R"lua(
local est = tonumber(ARGV[1])
local n = tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[n + 3]) == 1 then return {2} end
local t = redis.call('TIME')
local now = tonumber(t[1])
local found = {}
local fresh = {}
for i = 1, n do
  local base = 4 + (i - 1) * 5
  local w = tonumber(ARGV[base + 4])
  local c = redis.call('HMGET', KEYS[i], 's', 'r')
  fresh[i] = not c[1] and not c[2]
  local s = tonumber(c[1] or '0')
  local r = tonumber(c[2] or '0')
  local left = 0
  if w > 0 then s, left = roll_trim(KEYS[i], w, now) end
  found[#found + 1] = s
  found[#found + 1] = r
  found[#found + 1] = left
  if ARGV[base + 2] == '1' and s + r + est > tonumber(ARGV[base + 1]) then
    local out = {0, i}
    for _, v in ipairs(found) do out[#out + 1] = v end
    return out
  end
end
local out = {1, 0}
local rolls = {}
local rolling = false
for i = 1, n do
  local base = 4 + (i - 1) * 5
  local w = tonumber(ARGV[base + 4])
  out[#out + 1] = found[3 * i - 2]
  out[#out + 1] = redis.call('HINCRBY', KEYS[i], 'r', ARGV[1])
  out[#out + 1] = found[3 * i]
  if w > 0 then
    -- A window lives a day past its last use.
    redis.call('HSET', KEYS[i], 'w', w, 'g', ARGV[base + 5])
    redis.call('EXPIRE', KEYS[i], w + 86400)
    rolling = true
  else
    -- The TTL ends a day after the period: set once, when the counter is made.
    local ttl = tonumber(ARGV[base + 3])
    if fresh[i] and ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) end
  end
  rolls[#rolls + 1] = ARGV[base + 4] .. ':' .. ARGV[base + 5]
end
redis.call('HSET', KEYS[n + 2], 'est', ARGV[1], 'keys', table.concat(KEYS, '\n', 1, n))
if rolling then redis.call('HSET', KEYS[n + 2], 'roll', table.concat(rolls, '\n')) end
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[n + 1], string.format('%d', now_ms + tonumber(ARGV[2])), ARGV[4])
return out
)lua";
inline const std::string k_reserve = std::string(k_window) + k_reserve_body;

// KEYS: the deadline set, the hold, its seen mark, then the counters to charge when Redis holds
// no reservation (the hold was admitted while Redis could not be reached).
// ARGV: hold id, actual ("-1": release), seen mark ttl (s), then per counter its ttl (s), window
// (s; 0: a calendar period) and bucket (s). A window is charged at the close's time (TIME).
// Returns {0} when the hold was closed already, else {1, s1, s2, ...}: spent after the close.
inline constexpr const char* k_close_body = R"lua(
if redis.call('EXISTS', KEYS[3]) == 1 then return {0} end
local actual = tonumber(ARGV[2])
-- Redis's clock, read only when a window is charged.
local now
local function clock()
  now = now or seconds()
  return now
end
local out = {1}
local hold = redis.call('HMGET', KEYS[2], 'est', 'keys', 'roll')
if hold[1] then
  -- Amounts go to Redis as the strings they came in (a number would be formatted again).
  local minus = tonumber(hold[1]) == 0 and '0' or '-' .. hold[1]
  local i = 0
  for k in string.gmatch(hold[2], '[^\n]+') do
    i = i + 1
    local w, g = roll_of(hold[3], i)
    redis.call('HINCRBY', k, 'r', minus)
    if w > 0 then
      out[#out + 1] = roll_charge(k, math.max(actual, 0), w, g, clock())
    elseif actual >= 0 then
      out[#out + 1] = redis.call('HINCRBY', k, 's', ARGV[2])
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
    local base = 4 + (i - 4) * 3
    local w = tonumber(ARGV[base + 1] or '0')
    local s
    if w > 0 then
      s = roll_charge(KEYS[i], math.max(actual, 0), w, tonumber(ARGV[base + 2]), clock())
    else
      s = tonumber(redis.call('HGET', KEYS[i], 's') or '0')
      if actual > 0 then
        s = redis.call('HINCRBY', KEYS[i], 's', ARGV[2])
        local ttl = tonumber(ARGV[base])
        if ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) end
      end
    end
    out[#out + 1] = s
  end
end
redis.call('SET', KEYS[3], '1', 'EX', ARGV[3])
return out
)lua";
inline const std::string k_close = std::string(k_window) + k_close_body;

// Many reservations and closes in one call, each as its own script above would make it, in
// order, each independent of the others: one whose script fails (a key of the wrong type) answers
// with its error, and the others go on. Redis spends most of a small script's time on the call
// itself (setting up the script's arguments and its reply), so one call for a pipelined batch's
// operations multiplies what it can take. KEYS: every operation's keys, in order. ARGV: the
// operation count m, then per operation its script (0: k_reserve, 1: k_close), key count and
// argument count, then every operation's arguments in order. Returns one reply per operation.
// Its keys are those of its operations: with a prefix that carries a hash tag they share a slot.
inline const std::string k_batch =
    std::string(k_window) + "local ops = {}\n" + "ops[1] = function(KEYS, ARGV)\n" +
    k_reserve_body + "\nend\nops[2] = function(KEYS, ARGV)\n" + k_close_body + "\nend\n" + R"lua(
local m = tonumber(ARGV[1])
local out = {}
local kp, ap = 0, 1 + 3 * m
for j = 1, m do
  local h = 3 * j - 1
  local nk, na = tonumber(ARGV[h + 1]), tonumber(ARGV[h + 2])
  local ok, r = pcall(ops[tonumber(ARGV[h]) + 1], {unpack(KEYS, kp + 1, kp + nk)},
                      {unpack(ARGV, ap + 1, ap + na)})
  kp = kp + nk
  ap = ap + na
  if ok then
    out[j] = r or false
  elseif type(r) == 'table' and r.err then
    out[j] = r
  else
    out[j] = {err = 'ERR ' .. tostring(r)}
  end
end
return out
)lua";

// KEYS: the deadline set. ARGV: hold key prefix, seen mark prefix, seen mark ttl (s).
// Settles at their estimate up to 1000 holds whose deadline has passed; returns how many.
inline const std::string k_expire = std::string(k_window) + R"lua(
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local now_s = tonumber(now[1])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, 1000)
for _, id in ipairs(ids) do
  local hk = ARGV[1] .. id
  local hold = redis.call('HMGET', hk, 'est', 'keys', 'roll')
  if hold[1] then
    local est = tonumber(hold[1])
    local i = 0
    for k in string.gmatch(hold[2], '[^\n]+') do
      i = i + 1
      local w, g = roll_of(hold[3], i)
      redis.call('HINCRBY', k, 'r', -est)
      if w > 0 then
        roll_charge(k, est, w, g, now_s)
      else
        redis.call('HINCRBY', k, 's', est)
      end
    end
    redis.call('DEL', hk)
  end
  redis.call('ZREM', KEYS[1], id)
  redis.call('SET', ARGV[2] .. id, '1', 'EX', ARGV[3])
end
return #ids
)lua";

// KEYS: counters. ARGV: per counter its window (s; 0: a calendar period).
// Returns {s1, r1, l1, s2, r2, l2, ...} (l as for k_reserve).
inline const std::string k_read = std::string(k_window) + R"lua(
local now = seconds()
local out = {}
for i = 1, #KEYS do
  local w = tonumber(ARGV[i] or '0')
  local s, left = tonumber(redis.call('HGET', KEYS[i], 's') or '0'), 0
  if w > 0 then s, left = roll_trim(KEYS[i], w, now) end
  out[#out + 1] = s
  out[#out + 1] = tonumber(redis.call('HGET', KEYS[i], 'r') or '0')
  out[#out + 1] = left
end
return out
)lua";

// KEYS: the runtime limits (hash), the overrides (list). Returns {limits, overrides}.
inline constexpr const char* k_runtime = R"lua(
return {redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[2], 0, -1)}
)lua";

// Indexes of the scripts as the connection loads them.
enum Script { reserve = 0, close = 1, expire = 2, read = 3, runtime = 4, batch = 5 };

}  // namespace budget::redis_scripts
