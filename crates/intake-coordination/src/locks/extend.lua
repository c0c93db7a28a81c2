-- Extends the lock's TTL, only for its owner.
--
-- KEYS[1] the lock   ARGV[1] owner token   ARGV[2] new TTL ms
-- Returns 1 when extended, 0 when the lock is someone else's or gone.

if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
