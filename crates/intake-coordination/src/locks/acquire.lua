-- Takes the lock if nobody holds it, and issues the next fencing token.
--
-- KEYS[1] the lock             intake:lock:{RESOURCE}        (the owner token)
-- KEYS[2] the fencing counter  intake:lock-fence:{RESOURCE}  (same hash tag)
-- ARGV[1] owner token   ARGV[2] lock TTL ms   ARGV[3] counter TTL ms
-- Returns {1, fencing_token} when taken, {0, holder's remaining PTTL ms}.
--
-- Every key has a TTL, the counter's included, so a counter can vanish
-- (long unused, or Redis restarted without persistence). A missing counter
-- starts from Redis's clock in microseconds, which is far above any token
-- an earlier counter issued, so tokens still only grow.

if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {0, redis.call('PTTL', KEYS[1])}
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
  redis.call('SET', KEYS[2], string.format('%d', now))
end
local fence = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {1, fence}
