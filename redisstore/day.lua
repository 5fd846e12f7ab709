-- Calendar-day ledger. Times are Unix microseconds of the Redis clock (TIME plus
-- ARGV[2], a shift that is 0 outside this package's tests), clamped so that the
-- ledger's clock never moves backwards.
--
-- KEYS[1]  hash {last = ledger clock, blk = refused until}
-- KEYS[2..4] the counters of three consecutive days (refund: KEYS[2] only)
-- ARGV[1]  op: take | usage | setrem | block | refund
-- ARGV[2]  shift
-- ARGV[3]  cost (take, refund) | remaining (setrem) | duration of the block (block)
-- ARGV[4]  limit
-- ARGV[5..8] the starts of the three days and the end of the third. The caller
--          computes them in the quota's zone around its guess of the Redis clock;
--          when the clock falls outside them the script answers {-1, now} and the
--          caller asks again around now.
-- ARGV[9]  how long keys outlive what they hold, in milliseconds
local op = ARGV[1]
local arg = tonumber(ARGV[3])
local keep = tonumber(ARGV[9])

if op == 'refund' then
  -- No clock needed: the day is named by the decision. A day that has ended
  -- keeps its counter for a while; decrementing it there changes nothing.
  local v = tonumber(redis.call('GET', KEYS[2]))
  if v and v > 0 then
    redis.call('DECRBY', KEYS[2], math.min(v, arg))
  end
  return 0
end

local meta = KEYS[1]
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000000 + tonumber(tm[2]) + tonumber(ARGV[2])
local mv = redis.call('HMGET', meta, 'last', 'blk')
local last = tonumber(mv[1]) or 0
local blk = tonumber(mv[2]) or 0
if now < last then now = last end

local day, reset
for j = 1, 3 do
  if now >= tonumber(ARGV[4 + j]) and now < tonumber(ARGV[5 + j]) then
    day, reset = KEYS[1 + j], tonumber(ARGV[5 + j])
    break
  end
end
if not day then
  return {-1, now}
end

-- ttl returns the milliseconds until us, plus keep. Expiries are relative: the
-- shift moves the script's clock, not the one Redis expires keys by.
local function ttl(us) return math.max(0, math.ceil((us - now) / 1000)) + keep end

-- save records the clock and keeps the meta hash as long as it matters.
local function save()
  redis.call('HSET', meta, 'last', now, 'blk', blk)
  redis.call('PEXPIRE', meta, ttl(math.max(reset, blk)))
end

local function spend(n)
  local used = redis.call('INCRBY', day, n)
  redis.call('PEXPIRE', day, ttl(reset))
  save()
  return used
end

local limit = tonumber(ARGV[4])
local used = tonumber(redis.call('GET', day)) or 0

if op == 'take' then
  if now < blk then
    return {0, used, blk, now}
  end
  if used + arg > limit then
    return {0, used, reset, now}
  end
  return {1, spend(arg), reset, now}
elseif op == 'usage' then
  return {used, reset, blk, now}
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
end
return redis.error_reply('zohoquota: unknown op ' .. op)
