-- One GCRA decision. The same formula as `decide` in gcra.rs, on the same
-- integers: change both together. Time comes from Redis, in microseconds.
-- A refused request writes nothing; an admitted one stores the new TAT with
-- a TTL of the time until the bucket is full again.
--
-- KEYS[1] the bucket            intake:rate:POLICY:KEY (the TAT, Unix µs)
-- ARGV[1] emission interval µs  ARGV[2] window µs (interval × (count + burst))
-- Returns {allowed (0|1), remaining, reset_after_us, retry_after_us, now_us}.
--
-- Lua numbers are doubles, exact below 2^53; the caller keeps the window
-- below 2^48 and Unix µs is about 2^51, so every value here is exact.
-- Numbers are written with '%d' because Lua would print them as 1.78e+15.

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])

local tat = tonumber(redis.call('GET', KEYS[1]) or '') or now
if tat < now then
  tat = now
end
local new_tat = tat + interval
local allow_at = new_tat - window
if now < allow_at then
  return {0, 0, tat - now, allow_at - now, now}
end

local reset_after = new_tat - now
local ttl_ms = math.floor((reset_after + 999) / 1000)
redis.call('SET', KEYS[1], string.format('%d', new_tat),
  'PX', string.format('%d', ttl_ms))
return {1, math.floor((now + window - new_tat) / interval), reset_after, 0, now}
