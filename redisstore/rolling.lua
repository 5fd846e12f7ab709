-- Rolling-window ledger: units spent at t free up at the end of t's bucket plus
-- the window's length. Times are Unix microseconds of the Redis clock (TIME plus
-- ARGV[2], a shift that is 0 outside this package's tests), clamped so that the
-- ledger's clock never moves backwards.
--
-- KEYS[1]  hash {used, last = ledger clock, blk = refused until, <release> = units}
-- KEYS[2]  sorted set of the releases held in KEYS[1], scored by release
-- ARGV[1]  op: take | usage | setrem | block | refund
-- ARGV[2]  shift
-- ARGV[3]  cost (take, refund) | remaining (setrem) | duration of the block (block)
-- ARGV[4]  limit
-- ARGV[5]  window length
-- ARGV[6]  bucket size
-- ARGV[7]  how long keys outlive what they hold, in milliseconds
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
local hv = redis.call('HMGET', h, 'used', 'last', 'blk')
local used = tonumber(hv[1]) or 0
local last = tonumber(hv[2]) or 0
local blk = tonumber(hv[3]) or 0
if now < last then now = last end

-- ttl returns the milliseconds until us, plus keep. Expiries are relative: the
-- shift moves the script's clock, not the one Redis expires keys by.
local function ttl(us) return math.max(0, math.ceil((us - now) / 1000)) + keep end

-- Lua 5.1 prints large numbers in exponent form; field names must be exact.
local function int(x) return string.format('%d', x) end

local function releaseOf(t)
  local r = math.fmod(t, bucket)
  if r > 0 then t = t + bucket - r end
  return t + length
end

-- save records the ledger and keeps both keys until everything in them has
-- freed up (and the block, if any, has ended).
local function save()
  redis.call('HSET', h, 'used', used, 'last', now, 'blk', blk)
  local at = math.max(now, blk)
  local tail = redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')
  if tail[2] then at = math.max(at, tonumber(tail[2])) end
  redis.call('PEXPIRE', h, ttl(at))
  redis.call('PEXPIRE', z, ttl(at))
end

-- Free the buckets released by now.
local freed = redis.call('ZRANGEBYSCORE', z, '-inf', int(now))
for _, f in ipairs(freed) do
  used = used - (tonumber(redis.call('HGET', h, f)) or 0)
  redis.call('HDEL', h, f)
end
if #freed > 0 then
  redis.call('ZREMRANGEBYSCORE', z, '-inf', int(now))
  if used < 0 then used = 0 end
  save()
end

local function head()
  local r = redis.call('ZRANGE', z, 0, 0)
  return tonumber(r[1]) or 0
end

local function spend(n)
  local rel = releaseOf(now)
  local f = int(rel)
  redis.call('HINCRBY', h, f, n)
  redis.call('ZADD', z, f, f)
  used = used + n
  save()
end

if op == 'take' then
  if now < blk then
    return {0, used, blk, now}
  end
  if used + arg > limit then
    -- The oldest buckets free up first: find the one after which enough has.
    local need, got, at = used + arg - limit, 0, now + length
    for _, f in ipairs(redis.call('ZRANGE', z, 0, -1)) do
      got = got + (tonumber(redis.call('HGET', h, f)) or 0)
      if got >= need then
        at = tonumber(f)
        break
      end
    end
    return {0, used, at, now}
  end
  spend(arg)
  return {1, used, head(), now}
elseif op == 'usage' then
  return {used, head(), blk, now}
elseif op == 'setrem' then
  local extra = limit - arg - used
  if extra > 0 then
    spend(extra)
  end
  return 0
elseif op == 'block' then
  if now + arg > blk then
    blk = now + arg
    save()
  end
  return 0
elseif op == 'refund' then
  local f = int(releaseOf(tonumber(ARGV[8])))
  local v = tonumber(redis.call('HGET', h, f))
  if v then
    local n = math.min(v, arg)
    used = used - n
    if v == n then
      redis.call('HDEL', h, f)
      redis.call('ZREM', z, f)
    else
      redis.call('HINCRBY', h, f, -n)
    end
    save()
  end
  return 0
end
return redis.error_reply('zohoquota: unknown op ' .. op)
