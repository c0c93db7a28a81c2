-- Creates a session and its first CSRF token, and lists the session in its
-- user's index. Time comes from Redis, never from the caller.
--
-- KEYS[1] session hash      intake:session:{TAG}:ID
-- KEYS[2] CSRF token hash   intake:csrf:{TAG}:ID
-- KEYS[3] user's index      intake:user-sessions:{TAG}   (zset, score = absolute expiry)
-- ARGV[1] session id hash   ARGV[2] absolute lifetime ms   ARGV[3] idle timeout ms (0 = off)
-- ARGV[4] CSRF token hash   ARGV[5] CSRF lifetime ms
-- ARGV[6..] field, value pairs of the session record
-- Returns {created_at_ms, absolute_expires_at_ms}.

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local id = ARGV[1]
local absolute = now + tonumber(ARGV[2])
local idle = tonumber(ARGV[3])

local record = {}
for i = 6, #ARGV do
  record[#record + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], unpack(record))
redis.call('HSET', KEYS[1], 'created_at', now, 'last_seen_at', now,
  'absolute_expires_at', absolute)

local ends = absolute
if idle > 0 and now + idle < ends then
  ends = now + idle
end
redis.call('PEXPIRE', KEYS[1], ends - now)

local token_expiry = math.min(now + tonumber(ARGV[5]), absolute)
redis.call('HSET', KEYS[2], ARGV[4], token_expiry)
redis.call('PEXPIRE', KEYS[2], ends - now)

redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZADD', KEYS[3], absolute, id)
if redis.call('PTTL', KEYS[3]) < absolute - now then
  redis.call('PEXPIRE', KEYS[3], absolute - now)
end
return {now, absolute}
