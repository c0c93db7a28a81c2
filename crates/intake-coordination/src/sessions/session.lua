-- Authenticates one request against its session and performs the route's
-- session action, atomically: validation, CSRF check, the idle and absolute
-- expiry, and the action cost one Redis command. Time comes from Redis.
--
-- Every key of one user shares the hash tag {TAG}, so the script stays in
-- one Cluster slot, also for the keys of the user's other sessions that
-- `list` and `revoke-others` reach through the index.
--
-- KEYS[1] session hash   KEYS[2] its CSRF token hash   KEYS[3] user's index
-- KEYS[4], KEYS[5]       (revoke only) the target session and its CSRF hash
-- ARGV[1] action: touch | issue-csrf | end | revoke | revoke-others | list
-- ARGV[2] session id hash          ARGV[3] idle timeout ms (0 = off)
-- ARGV[4] CSRF token hash to check ('' = no check)
-- ARGV[5] action argument (new CSRF token hash, or target id hash)
-- ARGV[6] CSRF lifetime ms         ARGV[7] most CSRF tokens per session
-- ARGV[8] session key prefix       ARGV[9] CSRF key prefix (both end in ':')
--
-- Returns {'unknown'}, {'expired'}, {'csrf-refused'}, or
-- {'ok', now, session fields (flat), action result}.

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local action = ARGV[1]
local id = ARGV[2]
local idle = tonumber(ARGV[3])

-- When a session last seen at `seen` ends if it is not used again.
local function ends_at(absolute, seen)
  if idle > 0 and seen + idle < absolute then
    return seen + idle
  end
  return absolute
end

local function remove(session_key, csrf_key, member)
  redis.call('DEL', session_key, csrf_key)
  redis.call('ZREM', KEYS[3], member)
end

local state = redis.call('HMGET', KEYS[1], 'absolute_expires_at', 'last_seen_at')
if not state[1] then
  redis.call('ZREM', KEYS[3], id)
  return {'unknown'}
end
local absolute = tonumber(state[1])
if now >= ends_at(absolute, tonumber(state[2])) then
  remove(KEYS[1], KEYS[2], id)
  return {'expired'}
end

if ARGV[4] ~= '' then
  local expiry = tonumber(redis.call('HGET', KEYS[2], ARGV[4]))
  if not expiry or expiry <= now then
    return {'csrf-refused'}
  end
end

if action == 'end' then
  local fields = redis.call('HGETALL', KEYS[1])
  remove(KEYS[1], KEYS[2], id)
  return {'ok', now, fields, 1}
end

-- Every other action uses the session, which resets its idle clock.
redis.call('HSET', KEYS[1], 'last_seen_at', now)
local remaining = ends_at(absolute, now) - now
redis.call('PEXPIRE', KEYS[1], remaining)
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('PEXPIRE', KEYS[2], remaining)
end
local fields = redis.call('HGETALL', KEYS[1])
local result = 0

if action == 'issue-csrf' then
  -- Drop expired tokens, then the oldest while the session holds too many.
  local tokens = redis.call('HGETALL', KEYS[2])
  local live = {}
  for i = 1, #tokens, 2 do
    local expiry = tonumber(tokens[i + 1])
    if expiry <= now then
      redis.call('HDEL', KEYS[2], tokens[i])
    else
      live[#live + 1] = {tokens[i], expiry}
    end
  end
  table.sort(live, function(a, b) return a[2] < b[2] end)
  local most = tonumber(ARGV[7])
  for i = 1, #live - most + 1 do
    redis.call('HDEL', KEYS[2], live[i][1])
  end
  local expiry = math.min(now + tonumber(ARGV[6]), absolute)
  redis.call('HSET', KEYS[2], ARGV[5], expiry)
  redis.call('PEXPIRE', KEYS[2], remaining)
  result = expiry
elseif action == 'revoke' then
  result = 0
  if redis.call('EXISTS', KEYS[4]) == 1 then
    result = 1
  end
  remove(KEYS[4], KEYS[5], ARGV[5])
elseif action == 'revoke-others' then
  local members = redis.call('ZRANGE', KEYS[3], 0, -1)
  for _, member in ipairs(members) do
    if member ~= id then
      local session_key = ARGV[8] .. member
      result = result + redis.call('EXISTS', session_key)
      remove(session_key, ARGV[9] .. member, member)
    end
  end
elseif action == 'list' then
  result = {}
  local members = redis.call('ZRANGE', KEYS[3], 0, -1)
  for _, member in ipairs(members) do
    local session_key = ARGV[8] .. member
    local other = redis.call('HGETALL', session_key)
    if #other == 0 then
      redis.call('ZREM', KEYS[3], member)
    else
      local by_name = {}
      for i = 1, #other, 2 do
        by_name[other[i]] = other[i + 1]
      end
      local other_absolute = tonumber(by_name['absolute_expires_at'])
      if now >= ends_at(other_absolute, tonumber(by_name['last_seen_at'])) then
        remove(session_key, ARGV[9] .. member, member)
      else
        result[#result + 1] = {member, other}
      end
    end
  end
end

return {'ok', now, fields, result}
