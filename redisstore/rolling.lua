-- Rolling-window ledger of one budget: units spent at t free up at the end of t's
-- bucket plus the window's length. Times are Unix microseconds of the Redis clock
-- (TIME plus ARGV[2], a shift that is 0 outside this package's tests), clamped so
-- that the clock never moves backwards; so releases only grow, and the newest
-- bucket is the only one that takes units.
--
-- KEYS[1]  hash {used, last = ledger clock, blk = refused until,
--          head = oldest release, tail = newest release, tu = units of tail,
--          srv = when a server figure (setrem) last came in,
--          <release> = units}; head and tail are 0 when no bucket is held
-- KEYS[2]  sorted set of the releases held in KEYS[1], scored by release
-- ARGV[1]  op: take | usage | setrem | block | refund
-- ARGV[2]  shift
-- ARGV[3]  take: the costs of one or more takes, comma-separated ("3" or "3,1,5"),
--          decided in order at one instant, each admitted or refused on its own as
--          that many takes in a row would be; the answer is {ok, used, reset, now}
--          for each, in that order
--          cost (refund) | remaining (setrem) | duration of the block (block)
-- ARGV[4]  limit
-- ARGV[5]  window length
-- ARGV[6]  bucket size
-- ARGV[7]  how long the keys outlive what they hold, in milliseconds
-- ARGV[8]  refund: the time of the decision being refunded
local h, z = KEYS[1], KEYS[2]
local op = ARGV[1]
local arg = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local length = tonumber(ARGV[5])
local bucket = tonumber(ARGV[6])
local keep = tonumber(ARGV[7])

local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000000 + tonumber(tm[2]) + tonumber(ARGV[2])
local v = redis.call('HMGET', h, 'used', 'last', 'blk', 'head', 'tail', 'tu', 'srv')
local used = tonumber(v[1]) or 0
local last = tonumber(v[2]) or 0
local blk = tonumber(v[3]) or 0
local head = tonumber(v[4]) or 0
local tail = tonumber(v[5]) or 0
local tu = tonumber(v[6]) or 0
local srv = tonumber(v[7]) or 0
if now < last then now = last end

-- Lua 5.1 prints large numbers in exponent form; field names must be exact.
local function int(x) return string.format('%d', x) end

-- releaseOf returns the end of the bucket [k*bucket, (k+1)*bucket) that holds t,
-- plus the window, as the memory store does: late, never early.
local function releaseOf(t)
  return t - math.fmod(t, bucket) + bucket + length
end

-- expire keeps both keys until everything in them has freed up and the block has
-- ended, and then keep more. Expiries are relative: the shift moves the script's
-- clock, not Redis's.
local function expire()
  local ms = math.ceil((math.max(now, blk, tail) - now) / 1000) + keep
  redis.call('PEXPIRE', h, ms)
  redis.call('PEXPIRE', z, ms)
end

-- Free the buckets released by now: rare, as head says when.
local dirty = false
if head > 0 and head <= now then
  for _, f in ipairs(redis.call('ZRANGEBYSCORE', z, '-inf', int(now))) do
    used = used - (tonumber(redis.call('HGET', h, f)) or 0)
    redis.call('HDEL', h, f)
  end
  redis.call('ZREMRANGEBYSCORE', z, '-inf', int(now))
  head = tonumber(redis.call('ZRANGE', z, 0, 0)[1]) or 0
  if head == 0 then
    used, tail, tu = 0, 0, 0
  end
  if used < 0 then used = 0 end
  dirty = true
end

local function save(...)
  redis.call('HSET', h, 'used', used, 'last', now, 'blk', blk, 'head', head, 'tail', tail, 'tu', tu, ...)
end

-- add counts n units spent now, in the newest bucket, without writing them; it
-- reports whether it opened that bucket.
local function add(n)
  local rel = releaseOf(now)
  local fresh = rel ~= tail
  if fresh then
    redis.call('ZADD', z, rel, int(rel))
    tail, tu = rel, 0
    if head == 0 then head = rel end
  end
  tu = tu + n
  used = used + n
  return fresh
end

-- written saves what add counted.
local function written(fresh)
  save(int(tail), tu)
  if fresh or not v[2] then
    expire()
  end
end

local function spend(n)
  written(add(n))
end

if op == 'take' then
  -- The takes are decided in memory and written once; until then the newest
  -- bucket's units are tu, not what the hash holds.
  local out, spent, fresh = {}, false, false
  for c in string.gmatch(ARGV[3], '[^,]+') do
    local cost = tonumber(c)
    local n = #out
    if now < blk then
      out[n + 1], out[n + 2], out[n + 3] = 0, used, blk
    elseif used + cost > limit then
      -- The oldest buckets free up first: find the one after which enough has.
      local need, got, at = used + cost - limit, 0, now + length
      local newest = spent and int(tail)
      for _, f in ipairs(redis.call('ZRANGE', z, 0, -1)) do
        if f == newest then
          got = got + tu
        else
          got = got + (tonumber(redis.call('HGET', h, f)) or 0)
        end
        if got >= need then
          at = tonumber(f)
          break
        end
      end
      out[n + 1], out[n + 2], out[n + 3] = 0, used, at
    else
      fresh = add(cost) or fresh
      spent = true
      out[n + 1], out[n + 2], out[n + 3] = 1, used, head
    end
    out[n + 4] = now
  end
  if spent then
    written(fresh)
  elseif dirty then
    save()
  end
  return out
elseif op == 'usage' then
  if dirty then save() end
  return {used, head, blk, now}
elseif op == 'setrem' then
  local extra = limit - arg - used
  if extra > 0 then
    spend(extra)
  elseif dirty then
    save()
  end
  if v[2] or extra > 0 then
    -- A decision made until now may be in the server's figure: not refunded.
    redis.call('HSET', h, 'srv', now)
  end
  return 0
elseif op == 'block' then
  if now + arg > blk then
    blk = now + arg
    save()
    expire()
  elseif dirty then
    save()
  end
  return 0
elseif op == 'refund' then
  -- The bucket keeps its place, emptied or not, until it is released (as in the
  -- memory store); a bucket already released gives nothing back.
  local at = tonumber(ARGV[8])
  local rel = releaseOf(at)
  local f = int(rel)
  local units = tonumber(redis.call('HGET', h, f))
  if units and units > 0 and srv < at then
    local n = math.min(units, arg)
    used = used - n
    if rel == tail then tu = tu - n end
    save(f, units - n)
  elseif dirty then
    save()
  end
  return 0
end
return redis.error_reply('zohoquota: unknown op ' .. op)
