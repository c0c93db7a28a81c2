-- Releases the lock, only for its owner.
--
-- KEYS[1] the lock   ARGV[1] owner token
-- Returns 1 when released, 0 when the lock is someone else's or gone.

if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
