-- Concurrency leases: a sorted set of lease IDs scored by the Redis time (Unix
-- microseconds, TIME plus ARGV[2], a shift that is 0 outside this package's
-- tests) at which each expires unless renewed. A lease ID is
-- "<random>:<limit>:<slots>": the cap it was acquired under, and its slots.
--
-- KEYS[1]  the sorted set
-- ARGV[1]  op: acquire | renew | release | inuse
-- ARGV[2]  shift
-- ARGV[3]  lease ID
-- ARGV[4]  slots of the lease
-- ARGV[5]  limit (0: no cap)
-- ARGV[6]  lease TTL
local z = KEYS[1]
local op = ARGV[1]
local id = ARGV[3]

if op == 'release' then
  return redis.call('ZREM', z, id)
end

local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000000 + tonumber(tm[2]) + tonumber(ARGV[2])
local function int(x) return string.format('%d', x) end

-- held sums the slots of the leases that have not expired.
local function held()
  local n = 0
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', z, '(' .. int(now), '+inf')) do
    n = n + tonumber(string.match(m, ':(%d+)$'))
  end
  return n
end

if op == 'inuse' then
  return held()
end

redis.call('ZREMRANGEBYSCORE', z, '-inf', int(now))
local exp = now + tonumber(ARGV[6])

local function save()
  redis.call('ZADD', z, int(exp), id)
  local tail = redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')
  -- Relative: the shift moves the script's clock, not the one Redis expires keys by.
  redis.call('PEXPIRE', z, math.ceil((tonumber(tail[2]) - now) / 1000) + 1000)
end

if op == 'acquire' then
  local n, limit = tonumber(ARGV[4]), tonumber(ARGV[5])
  local inuse = held()
  if limit > 0 and inuse + n > limit then
    return {0, inuse, now}
  end
  save()
  return {1, exp, now}
elseif op == 'renew' then
  if not redis.call('ZSCORE', z, id) then
    -- Lapsed: take it back if its slots are free under its cap.
    local limit, n = string.match(id, ':(%d+):(%d+)$')
    if not limit or (tonumber(limit) > 0 and held() + tonumber(n) > tonumber(limit)) then
      return 0
    end
  end
  save()
  return 1
end
return redis.error_reply('zohoquota: unknown op ' .. op)
