-- Calendar-day ledger of one budget, in one hash: the units spent on each day,
-- named by its date in the quota's zone, and the ledger's clock and block.
-- Times are Unix microseconds of the Redis clock (TIME plus ARGV[2], a shift that
-- is 0 outside this package's tests), clamped so that the clock never moves
-- backwards.
--
-- KEYS[1]  hash {last = ledger clock, blk = refused until, srv = when a server
--          figure (setrem) last came in, <YYYY-MM-DD> = units}
-- ARGV[1]  op: take | usage | setrem | block | refund
-- ARGV[2]  shift
-- ARGV[3]  take: the costs of one or more takes, comma-separated ("3" or "3,1,5"),
--          decided in order at one instant, each admitted or refused on its own as
--          that many takes in a row would be; the answer is {ok, used, reset, now}
--          for each, in that order
--          cost (refund) | remaining (setrem) | duration of the block (block)
-- ARGV[4]  limit
-- ARGV[5..7] the dates of three consecutive days (refund: the decision's date,
--          then its time)
-- ARGV[8..11] their starts and the end of the third. The caller computes them in
--          the quota's zone around its guess of the Redis clock; when the clock
--          falls outside them the script answers {-1, now} and the caller asks
--          again around now.
-- ARGV[12] how long the hash outlives what it holds, in milliseconds
local h = KEYS[1]
local op = ARGV[1]
local arg = tonumber(ARGV[3])

if op == 'refund' then
  -- The day is named by the decision; a day that has ended is already gone. A
  -- decision made before the last server figure may be in it: not refunded.
  local r = redis.call('HMGET', h, ARGV[5], 'srv')
  local v = tonumber(r[1])
  if v and v > 0 and (tonumber(r[2]) or 0) < tonumber(ARGV[6]) then
    redis.call('HINCRBY', h, ARGV[5], -math.min(v, arg))
  end
  return 0
end

local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000000 + tonumber(tm[2]) + tonumber(ARGV[2])
local v = redis.call('HMGET', h, 'last', 'blk', ARGV[5], ARGV[6], ARGV[7])
local last = tonumber(v[1]) or 0
local blk = tonumber(v[2]) or 0
if now < last then now = last end

local j
for k = 1, 3 do
  if now >= tonumber(ARGV[7 + k]) and now < tonumber(ARGV[8 + k]) then
    j = k
    break
  end
end
if not j then
  return {-1, now}
end
local date, reset = ARGV[4 + j], tonumber(ARGV[8 + j])
local used = tonumber(v[2 + j]) or 0
local limit = tonumber(ARGV[4])
local keep = tonumber(ARGV[12])

-- expire keeps the hash until the day (or the block) ends, and then keep more.
-- Expiries are relative: the shift moves the script's clock, not Redis's.
local function expire()
  redis.call('PEXPIRE', h, math.ceil((math.max(reset, blk) - now) / 1000) + keep)
end

-- save writes the day's units and the clock.
local function save()
  redis.call('HSET', h, date, used, 'last', now)
  if not v[2 + j] then
    -- The day's first units: forget the days before it, as the memory store
    -- does, and move the expiry to the day's end.
    for _, f in ipairs(redis.call('HKEYS', h)) do
      if f ~= date and string.match(f, '^%d+%-%d%d%-%d%d$') then
        redis.call('HDEL', h, f)
      end
    end
    expire()
  end
end

local function spend(n)
  used = used + n
  save()
end

if op == 'take' then
  -- The takes are decided in memory and written once.
  local out, spent = {}, false
  for c in string.gmatch(ARGV[3], '[^,]+') do
    local cost = tonumber(c)
    local n = #out
    if now < blk then
      out[n + 1], out[n + 2], out[n + 3] = 0, used, blk
    elseif used + cost > limit then
      out[n + 1], out[n + 2], out[n + 3] = 0, used, reset
    else
      used, spent = used + cost, true
      out[n + 1], out[n + 2], out[n + 3] = 1, used, reset
    end
    out[n + 4] = now
  end
  if spent then
    save()
  end
  return out
elseif op == 'usage' then
  return {used, reset, blk, now}
elseif op == 'setrem' then
  local extra = limit - arg - used
  if extra > 0 then
    spend(extra)
  end
  if v[1] or extra > 0 then
    -- A decision made until now may be in the server's figure: not refunded.
    redis.call('HSET', h, 'srv', now)
  end
  return 0
elseif op == 'block' then
  if now + arg > blk then
    blk = now + arg
    redis.call('HSET', h, 'blk', blk, 'last', now)
    expire()
  end
  return 0
end
return redis.error_reply('zohoquota: unknown op ' .. op)
