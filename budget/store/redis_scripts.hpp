#pragma once
// The Lua scripts of the Redis ledger: each runs atomically in Redis, so that a reservation across
// several budgets, or a settlement, is all or nothing for every sidecar at once.
// Lua numbers are doubles: amounts are exact up to 2^53 micro-units (9 billion in the currency);
// hold ids (64-bit) stay strings. Every expiry is relative and every deadline is read from Redis's
// own clock (TIME): a sidecar whose clock runs ahead must never make Redis drop counters or settle
// other sidecars' holds.
// Keys:
// - PREFIX{budget}:KEY:PERIOD — a calendar period's counters: a string of two signed 64-bit
//   fields, s (spent) at #0 and r (reserved) at #1, each read and changed with one BITFIELD (one
//   command per budget for a reservation and one for a close);
// - PREFIX{budget}:KEY:rolling — a rolling window (a hash, below);
// - PREFIX holds — the open holds: a sorted set by deadline (ms, Redis's clock) whose member
//   carries the hold itself, "ID\nESTIMATE\nROLLS\nKEY1\nKEY2...", ROLLS being "window:bucket"
//   per key (0:0 for a calendar period); the close names the member, so that one ZREM both finds
//   the hold and ends it;
// - PREFIX seen:ID — the mark a hold closed without its reservation leaves for two days, so that a
//   close sent again (after a lost reply, from the outbox) or a reservation arriving after its own
//   release does nothing. (A hold closed with its reservation needs no mark: it is gone, and a
//   close sent again finds nothing to close.)
// Earlier versions kept a calendar counter as a hash (fields s and r) and a hold as a hash
// (PREFIX hold:ID, its member in `holds` the bare id): a counter becomes a string the first time a
// script touches it, and the sweep settles such a hold as it did.

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
// roll_trim: drops what left; returns the sum within the window, the seconds until the oldest
// amount leaves it (0: nothing in it), the oldest bucket and the bucket length the hash records
// for this window (false: none, or another window's). roll_charge: adds an amount at `now`;
// returns the sum.
inline constexpr const char* k_window = R"lua(
-- Redis's clock, read once per call (a batch's operations share it: a call is atomic).
local time_now
local function time()
  if not time_now then time_now = redis.call('TIME') end
  return time_now
end
local function seconds()
  return tonumber(time()[1])
end
local function millis()
  local t = time()
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- A reservation's or a close's numbers come in one argument, packed: each a signed 64-bit
-- little-endian integer, read by struct.unpack in one call. As decimal arguments each cost Redis
-- a string to parse from the request, a Lua string to make and a strtod to read it (a fifth of
-- the script's time). Returns them in a table.
local formats = {}
local function nums(packed)
  local n = #packed / 8
  local f = formats[n]
  if not f then
    f = '<' .. string.rep('i8', n)
    formats[n] = f
  end
  local v = {struct.unpack(f, packed)}
  v[n + 1] = nil  -- struct.unpack's last result: where it stopped
  return v
end
-- A calendar counter's BITFIELD; one kept as a hash by an earlier version becomes a string first
-- (its TTL kept).
local function counter(k, ...)
  local v = redis.pcall('BITFIELD', k, ...)
  if type(v) == 'table' and v.err then
    local old = redis.call('HMGET', k, 's', 'r')
    local ttl = redis.call('PTTL', k)
    redis.call('DEL', k)
    redis.call('BITFIELD', k, 'SET', 'i64', '#0', old[1] or '0', 'SET', 'i64', '#1', old[2] or '0')
    if ttl > 0 then redis.call('PEXPIRE', k, ttl) end
    v = redis.call('BITFIELD', k, ...)
  end
  return v
end
-- Within one call of the batch script (k_batch sets `batched`), a calendar counter is read from
-- Redis once and written back once, as the net change to each field, and the holds added to a
-- deadline set after the first go in by one ZADD: the operations of a batch over the same budgets
-- then cost Redis a few commands in all rather than a few each. The call is atomic, so nobody sees
-- the counters between its operations. Outside a batch every change is written at once.
-- batched: k -> {s, r, ds, dr, ttl} per counter; adds: k -> {score, member, ...} per deadline set;
-- added: member -> its deadline set's list and the member's index in it (until the close removes
-- it).
local batched, adds, added
-- Adds ds to a calendar counter's spent and dr to its reserved; returns the new spent and reserved.
local function bump(k, ds, dr)
  if not batched then
    local v = counter(k, 'INCRBY', 'i64', '#0', string.format('%d', ds), 'INCRBY', 'i64', '#1',
                      string.format('%d', dr))
    return v[1], v[2]
  end
  local c = batched[k]
  if not c then
    local v = counter(k, 'GET', 'i64', '#0', 'GET', 'i64', '#1')
    c = {v[1], v[2], 0, 0, false}
    batched[k] = c
  end
  c[1], c[2], c[3], c[4] = c[1] + ds, c[2] + dr, c[3] + ds, c[4] + dr
  return c[1], c[2]
end
-- Sets a calendar counter's TTL (after its change is written).
local function counter_ttl(k, ttl)
  if batched and batched[k] then batched[k][5] = ttl else redis.call('EXPIRE', k, ttl) end
end
-- Adds a hold to a deadline set. The first of a batch for each set is added at once (a key of
-- the wrong type fails that operation alone); the rest when the batch ends.
local function hold_add(k, score, member)
  if not batched or not adds[k] then
    redis.call('ZADD', k, score, member)
    if batched then adds[k] = {} end
    return
  end
  local list = adds[k]
  list[#list + 1] = score
  list[#list + 1] = member
  added[member] = {list, #list}
end
-- Removes a hold from a deadline set; true when it was there.
local function hold_remove(k, member)
  local a = batched and added[member]
  if a and a[1] == adds[k] then
    a[1][a[2]] = false
    added[member] = nil
    return true
  end
  return redis.call('ZREM', k, member) == 1
end
-- Writes what the batch left to write.
local function batch_end()
  for k, c in pairs(batched) do
    if c[3] ~= 0 or c[4] ~= 0 then
      counter(k, 'INCRBY', 'i64', '#0', string.format('%d', c[3]), 'INCRBY', 'i64', '#1',
              string.format('%d', c[4]))
    end
    if c[5] then redis.call('EXPIRE', k, c[5]) end
  end
  for k, list in pairs(adds) do
    local args = {}
    for i = 1, #list, 2 do
      if list[i + 1] then
        args[#args + 1] = list[i]
        args[#args + 1] = list[i + 1]
      end
    end
    if #args > 0 then redis.call('ZADD', k, unpack(args)) end
  end
end
local function roll_trim(k, w, now)
  local f = redis.call('HMGET', k, 's', 'lo', 'w', 'g')
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
  return s, lo and lo + w + 1 - now or 0, lo, tonumber(f[3]) == w and tonumber(f[4])
end
-- Records the window's length and bucket in its hash, unless `known` (roll_trim's fourth result,
-- the bucket it holds when its window is w) says they are there already.
local function roll_shape(k, w, g, known)
  if known ~= tonumber(g) then redis.call('HSET', k, 'w', w, 'g', g) end
end
-- The TTL is renewed by each reservation and by the first amount charged to a bucket: never less
-- than the window plus a day less a bucket after the last use (so never before an amount leaves).
local function roll_charge(k, amount, w, g, now)
  local s, _, lo, known = roll_trim(k, w, now)
  local last = math.floor(now / g) * g + g - 1
  roll_shape(k, w, g, known)
  if amount > 0 then
    local fresh = redis.call('HINCRBY', k, 'b' .. last, amount) == amount
    s = redis.call('HINCRBY', k, 's', amount)
    if not lo or last < lo then redis.call('HSET', k, 'lo', last) end
    if not fresh then return s end
  end
  redis.call('EXPIRE', k, w + 86400)
  return s
end
-- Shared spend breakers: a state hash per breaker (open "1", until: the cooldown's end, trial: the
-- hold that is its half-open trial, tu: when that trial is given up; ms by Redis's clock), there
-- only while the breaker is open, and a rolling window (above) of settled spend at KEY:w.
-- breakers_close charges a close's `actual` to the windows of the breakers whose keys follow the
-- hold's counters (c from 6 + 3 * nc: limit, window, bucket, cooldown per breaker), opening a
-- breaker whose window goes over its limit (the window then starts afresh), and closes the
-- breaker whose trial this hold is when it settled (a release frees the trial for the next
-- hold). Appends per breaker {change (0 none, 1 opened, 2 closed), the window's spend}. (KEYS,
-- the member and c, the numbers, are the close's: in a batch, not the call's.)
local function breakers_close(KEYS, ko, member, c, nc, nb, actual, out)
  if nb == 0 then return end
  local id = string.match(member, '^[^\n]*')
  for k = 1, nb do
    local sk, wk = KEYS[ko + 2 + nc + 2 * k - 1], KEYS[ko + 2 + nc + 2 * k]
    local a = 6 + 3 * nc + (k - 1) * 4
    local f = redis.call('HMGET', sk, 'open', 'trial')
    local open = f[1] == '1'
    local change, sum = 0, 0
    if actual > 0 then
      sum = roll_charge(wk, actual, c[a + 1], c[a + 2], seconds())
      if not open and sum > c[a] then
        local cool = c[a + 3]
        redis.call('HSET', sk, 'open', '1', 'until', string.format('%d', millis() + cool))
        redis.call('PEXPIRE', sk, cool + 86400000)
        -- The spike that tripped it is accounted for: after the cooldown the window starts afresh.
        redis.call('DEL', wk)
        change = 1
      end
    end
    if open and f[2] == id then
      if actual >= 0 then
        redis.call('DEL', sk)
        change = 2
      else
        redis.call('HDEL', sk, 'trial', 'tu')
      end
    end
    out[#out + 1] = change
    out[#out + 1] = sum
  end
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
)lua";

// KEYS: one counter per part, then the deadline set and the hold's seen mark, then one key per
// shared rate limit bucket, then one state key per shared breaker.
// ARGV: the hold's member in the deadline set, then its numbers, packed (nums): estimate, hold
// ttl (ms), part count, then per part: limit, enforce (1 or 0), ttl (s), window (s; 0: a
// calendar period), bucket (s); then the rate bucket count (absent: 0) and per bucket: requests
// and tokens per window (0: not limited), the window (ms), this request's tokens; then the shared
// breaker count (absent: 0).
// Returns {1, 0, s1, r1, l1, ..., t1, t2, ...} reserved (t: 1 when the hold became that breaker's
// half-open trial, else 0); {0, i, s1, r1, l1, ...} part i refused (counters as
// found up to it); {2} the hold was closed before it arrived; {3, j, ms, unit} rate bucket j has
// too little for ms more milliseconds (unit 1: requests, 2: tokens), nothing taken; {4, k, ms,
// out} breaker k is open for ms more milliseconds (out 1: its cooldown is over and another hold
// is its trial), nothing taken. l: seconds
// until a window's oldest amount leaves it (0 for a calendar period).
// Breakers are checked first (an open one refuses; one past its cooldown with no live trial makes
// this hold its trial, once admitted). Rate buckets are checked next and all taken from if all
// have enough (a hash: r and t, the
// levels scaled by the window in ms so that refill stays in integers, at (ms, Redis's clock) and
// w). Then each part is reserved as it is checked; a part that does not fit undoes those before
// it. A hold with no parts (a rate check only) is not put in the deadline set.
inline constexpr const char* k_reserve_body = R"lua(
local member = ARGV[ao + 1]
local a = nums(ARGV[ao + 2])
local est, n = a[1], a[3]
if redis.call('EXISTS', KEYS[ko + n + 2]) == 1 then return {2} end
local m = a[4 + 5 * n] or 0
local nb = a[5 + 5 * n + 4 * m] or 0
local trials = nb > 0 and {} or nil
for k = 1, nb do
  local f = redis.call('HMGET', KEYS[ko + n + 2 + m + k], 'open', 'until', 'trial', 'tu')
  if f[1] == '1' then
    local now = millis()
    local u = tonumber(f[2]) or 0
    if now < u then return {4, k, u - now, 0} end
    if f[3] and f[3] ~= string.match(member, '^[^\n]*') and (tonumber(f[4]) or 0) > now then
      return {4, k, 1000, 1}
    end
    trials[k] = true
  end
end
if m > 0 then
  local now = millis()
  local levels = {}
  for j = 1, m do
    local b = 4 + 5 * n + (j - 1) * 4
    local cr, ct = a[b + 1], a[b + 2]
    local w, need = a[b + 3], a[b + 4]
    local f = redis.call('HMGET', KEYS[ko + n + 2 + j], 'r', 't', 'at', 'w')
    local r, t, at = tonumber(f[1]), tonumber(f[2]), tonumber(f[3])
    if not at or tonumber(f[4]) ~= w then r, t, at = cr * w, ct * w, now end
    local elapsed = math.max(0, now - at)
    r = math.min(cr * w, r + cr * elapsed)
    t = math.min(ct * w, t + ct * elapsed)
    local wait, unit = 0, 0
    if cr > 0 and r < w then wait, unit = math.ceil((w - r) / cr), 1 end
    if ct > 0 and t < need * w then
      local x = math.ceil((need * w - t) / ct)
      if x > wait then wait, unit = x, 2 end
    end
    if wait > 0 then return {3, j, wait, unit} end
    if cr > 0 then r = r - w end
    if ct > 0 then t = t - need * w end
    levels[j] = {r, t, math.max(at, now), w}
  end
  for j = 1, m do
    local l = levels[j]
    redis.call('HSET', KEYS[ko + n + 2 + j], 'r', string.format('%d', l[1]), 't',
               string.format('%d', l[2]), 'at', string.format('%d', l[3]), 'w', l[4])
    -- A bucket left alone for two windows is full again: the same as none.
    redis.call('PEXPIRE', KEYS[ko + n + 2 + j], 2 * l[4])
  end
end
local out = {1, 0}
for i = 1, n do
  local base = 3 + (i - 1) * 5
  local w = a[base + 4]
  local s, r, left
  if w > 0 then
    local oldest, known
    s, left, oldest, known = roll_trim(KEYS[ko + i], w, seconds())
    r = redis.call('HINCRBY', KEYS[ko + i], 'r', string.format('%d', est))
    -- A window lives a day past its last use.
    roll_shape(KEYS[ko + i], w, a[base + 5], known)
    redis.call('EXPIRE', KEYS[ko + i], w + 86400)
  else
    s, r = bump(KEYS[ko + i], 0, est)
    left = 0
    -- The TTL ends a day after the period: set when the counter is (again) empty.
    local ttl = a[base + 3]
    if s == 0 and r == est and ttl > 0 then counter_ttl(KEYS[ko + i], ttl) end
  end
  out[#out + 1] = s
  out[#out + 1] = r
  out[#out + 1] = left
  if a[base + 2] == 1 and s + r > a[base + 1] then
    out[1] = 0
    out[2] = i
    for j = 1, i do
      if a[3 + (j - 1) * 5 + 4] > 0 then
        redis.call('HINCRBY', KEYS[ko + j], 'r', string.format('%d', -est))
      else
        bump(KEYS[ko + j], 0, -est)
      end
      out[3 * j + 1] = out[3 * j + 1] - est
    end
    return out
  end
end
if n > 0 then
  hold_add(KEYS[ko + n + 1], string.format('%d', millis() + a[2]), member)
end
for k = 1, nb do
  if trials[k] then
    local key, ttl = KEYS[ko + n + 2 + m + k], a[2]
    redis.call('HSET', key, 'trial', string.match(member, '^[^\n]*'), 'tu',
               string.format('%d', millis() + ttl))
    redis.call('PEXPIRE', key, ttl + 86400000)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
)lua";
// Run on their own, an operation's keys and arguments are the call's: no offsets.
inline constexpr const char* k_own = "local ko, ao, nk = 0, 0, #KEYS\n";
inline const std::string k_reserve = std::string(k_window) + k_own + k_reserve_body;

// KEYS: the deadline set, the hold's seen mark, then its counters, then per shared breaker its
// state and its window (breakers_close).
// ARGV: the hold's member in the deadline set, then its numbers, packed (nums): actual (-1:
// release), seen mark ttl (s), estimate, unreserved (1: the hold was admitted while Redis could
// not be reached, so its counters are charged when Redis holds no reservation of it), the
// breaker count, then per counter its ttl (s), window (s; 0: a calendar period) and bucket (s),
// then per breaker its limit, window (s), bucket (s) and cooldown (ms). A window is charged at
// the close's time (TIME).
// Returns {0} when the hold was closed already (or is unknown), else {1, s1, s2, ..., change1,
// spend1, ...}: spent after the close, then what it did to each breaker. A hold with breakers and
// no counters (in no shared budget) is closed once by its seen mark.
inline constexpr const char* k_close_body = R"lua(
local member = ARGV[ao + 1]
local c = nums(ARGV[ao + 2])
local actual, seen_ttl, est, unreserved, nb = c[1], c[2], c[3], c[4] == 1, c[5]
local nc = nk - 2 - 2 * nb
if nc == 0 then
  if not redis.call('SET', KEYS[ko + 2], '1', 'EX', seen_ttl, 'NX') then return {0} end
  local out = {1}
  breakers_close(KEYS, ko, member, c, 0, nb, actual, out)
  return out
end
if unreserved and redis.call('EXISTS', KEYS[ko + 2]) == 1 then return {0} end
local held = hold_remove(KEYS[ko + 1], member)
if not held and not unreserved then
  -- Closed already, or not reserved yet: a reservation that arrives later must not stand.
  redis.call('SET', KEYS[ko + 2], '1', 'EX', seen_ttl)
  return {0}
end
local out = {1}
for i = 3, 2 + nc do
  local base = 6 + (i - 3) * 3
  local w = c[base + 1] or 0
  if w > 0 then
    if held then redis.call('HINCRBY', KEYS[ko + i], 'r', string.format('%d', -est)) end
    out[#out + 1] = roll_charge(KEYS[ko + i], math.max(actual, 0), w, c[base + 2], seconds())
  else
    out[#out + 1] = bump(KEYS[ko + i], actual > 0 and actual or 0,
                         (held and est > 0) and -est or 0)
    local ttl = c[base] or 0
    if not held and actual > 0 and ttl > 0 then counter_ttl(KEYS[ko + i], ttl) end
  end
end
breakers_close(KEYS, ko, member, c, nc, nb, actual, out)
-- Charged without its reservation, it must not be charged again.
if unreserved then redis.call('SET', KEYS[ko + 2], '1', 'EX', seen_ttl) end
return out
)lua";
inline const std::string k_close = std::string(k_window) + k_own + k_close_body;

// Many reservations and closes in one call, each as its own script above would make it, in
// order, each independent of the others: one whose script fails (a key of the wrong type) answers
// with its error, and the others go on. Redis spends most of a small script's time on the call
// itself (setting up the script's arguments and its reply), so one call for a pipelined batch's
// operations multiplies what it can take. KEYS: every operation's keys, in order. ARGV: first
// the batch's numbers, packed (nums): the operation count m, then per operation its script (0:
// k_reserve, 1: k_close), key count and argument count; then every operation's arguments in
// order. Returns one reply per operation.
// Its keys are those of its operations: with a prefix that carries a hash tag they share a slot.
inline const std::string k_batch = std::string(k_window) + "local ops = {}\n" +
                                   "ops[1] = function(KEYS, ARGV, ko, ao, nk)\n" + k_reserve_body +
                                   "\nend\nops[2] = function(KEYS, ARGV, ko, ao, nk)\n" +
                                   k_close_body + "\nend\n" + R"lua(
local head = nums(ARGV[1])
local m = head[1]
local out = {}
batched, adds, added = {}, {}, {}
local kp, ap = 0, 1
for j = 1, m do
  local h = 3 * j - 1
  local nk, na = head[h + 1], head[h + 2]
  local ok, r = pcall(ops[head[h] + 1], KEYS, ARGV, kp, ap, nk)
  kp = kp + nk
  ap = ap + na
  if ok then
    out[j] = r or false
  elseif type(r) == 'table' and r.err then
    out[j] = r
  else
    -- A command's error keeps its code (WRONGTYPE ...), as the operation's own script answers;
    -- any other failure is an ERR.
    r = tostring(r)
    out[j] = {err = string.find(r, '^%u+ ') and r or 'ERR ' .. r}
  end
end
batch_end()
return out
)lua";

// KEYS: the deadline set. ARGV: an earlier version's hold key prefix, seen mark prefix, seen mark
// ttl (s). Settles at their estimate up to 1000 holds whose deadline has passed; returns how many.
inline const std::string k_expire = std::string(k_window) + R"lua(
local now_s = seconds()
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', millis(), 'LIMIT', 0, 1000)
local function settle(est, rolls, keys)
  local i = 0
  for k in string.gmatch(keys, '[^\n]+') do
    i = i + 1
    local w, g = roll_of(rolls, i)
    if w > 0 then
      redis.call('HINCRBY', k, 'r', -est)
      roll_charge(k, est, w, g, now_s)
    else
      counter(k, 'INCRBY', 'i64', '#1', -est, 'INCRBY', 'i64', '#0', est)
    end
  end
end
for _, m in ipairs(members) do
  local id, est, rolls, keys = string.match(m, '^([^\n]*)\n([^\n]*)\n([^\n]*)\n(.*)$')
  if id then
    settle(tonumber(est), rolls, keys)
  else
    -- An earlier version's hold: the member is its id, the hold a hash.
    id = m
    local hold = redis.call('HMGET', ARGV[1] .. id, 'est', 'keys', 'roll')
    if hold[1] then settle(tonumber(hold[1]), hold[3], hold[2]) end
    redis.call('DEL', ARGV[1] .. id)
  end
  redis.call('ZREM', KEYS[1], m)
  redis.call('SET', ARGV[2] .. id, '1', 'EX', ARGV[3])
end
return #members
)lua";

// KEYS: counters. ARGV: per counter its window (s; 0: a calendar period).
// Returns {s1, r1, l1, s2, r2, l2, ...} (l as for k_reserve).
inline const std::string k_read = std::string(k_window) + R"lua(
local out = {}
for i = 1, #KEYS do
  local w = tonumber(ARGV[i] or '0')
  if w > 0 then
    local s, left = roll_trim(KEYS[i], w, seconds())
    out[#out + 1] = s
    out[#out + 1] = tonumber(redis.call('HGET', KEYS[i], 'r') or '0')
    out[#out + 1] = left
  else
    local c = counter(KEYS[i], 'GET', 'i64', '#0', 'GET', 'i64', '#1')
    out[#out + 1] = c[1]
    out[#out + 1] = c[2]
    out[#out + 1] = 0
  end
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
