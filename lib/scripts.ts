/**
 * Lua sources. Every key a script touches comes in KEYS (never built inside a script), and "now"
 * comes in ARGV, so each script stays on one cluster slot and is deterministic.
 *
 * Meta value (the key `Keys.meta(sid)`, always in its session's slot):
 *   "D"                  a tombstone: the session was destroyed; set() and touch() are refused
 *   "<lastActiveMs>:<userId>"  the live session's owner and when it was last set or touched
 *   (absent)             an anonymous session, or the per-user index is off
 */

// The absolute expiry of a key in ms: PEXPIRETIME on Redis 7, TIME + PTTL before it.
// -2: no such key, -1: no expiry.
const EXPIRE_TIME = `
local function expire_time(key)
  local ok, at = pcall(redis.call, 'PEXPIRETIME', key)
  if ok then return at end
  local pttl = redis.call('PTTL', key)
  if pttl < 0 then return pttl end
  local now = redis.call('TIME')
  return tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + pttl
end
`;

const OWNER_OF = `
local function owner_of(meta)
  if not meta or meta == 'D' then return '' end
  local colon = string.find(meta, ':', 1, true)
  if not colon then return '' end
  return string.sub(meta, colon + 1)
end
`;

/**
 * Writes a session unless it has a tombstone, and records its owner.
 * KEYS: session, meta.
 * ARGV: value, expireAtMs ("0": no expiry), userId ("": none), nowMs, trackOwner ("1"/"0").
 * Reply: nil when refused (tombstone), else the previous owner ("" for none).
 */
export const SET_SESSION = `${OWNER_OF}
local meta = redis.call('GET', KEYS[2])
if meta == 'D' then return false end
if ARGV[2] == '0' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
end
if ARGV[5] == '1' then
  if ARGV[3] ~= '' then
    local value = ARGV[4] .. ':' .. ARGV[3]
    if ARGV[2] == '0' then
      redis.call('SET', KEYS[2], value)
    else
      redis.call('SET', KEYS[2], value, 'PXAT', ARGV[2])
    end
  elseif meta then
    redis.call('DEL', KEYS[2])
  end
end
return owner_of(meta)
`;

/**
 * Moves a live session's expiry, and its meta's, without touching its value (so a concurrent
 * save is never overwritten). Skips the write when the expiry would move less than touchAfter.
 * KEYS: session, meta.
 * ARGV: expireAtMs, nowMs, touchAfterMs, trackOwner ("1"/"0").
 * Reply: -2 no such session, 0 skipped by touchAfter, 1 touched.
 */
export const TOUCH_SESSION = `${EXPIRE_TIME}${OWNER_OF}
local current = expire_time(KEYS[1])
if current == -2 then return -2 end
local at = tonumber(ARGV[1])
local after = tonumber(ARGV[3])
if after > 0 and current > 0 and at - current < after then return 0 end
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
if ARGV[4] == '1' then
  local meta = redis.call('GET', KEYS[2])
  local owner = owner_of(meta)
  if owner ~= '' then
    redis.call('SET', KEYS[2], ARGV[2] .. ':' .. owner, 'PXAT', ARGV[1])
  end
end
return 1
`;

/**
 * Destroys sessions and leaves a tombstone in each one's meta key. All keys share one slot.
 * KEYS: session1, meta1, session2, meta2, ...
 * ARGV: tombstoneMs ("0": no tombstone).
 * Reply: the owner of each session, in order ("" for none).
 */
export const DESTROY_SESSIONS = `${OWNER_OF}
local owners = {}
local tombstone = tonumber(ARGV[1])
for i = 1, #KEYS, 2 do
  local meta = redis.call('GET', KEYS[i + 1])
  redis.call('UNLINK', KEYS[i])
  if tombstone > 0 then
    redis.call('SET', KEYS[i + 1], 'D', 'PX', tombstone)
  elseif meta then
    redis.call('DEL', KEYS[i + 1])
  end
  owners[#owners + 1] = owner_of(meta)
end
return owners
`;

/**
 * Reads a session with its absolute expiry.
 * KEYS: session. Reply: nil, or { value, expireAtMs as a string (-1: none) }.
 */
export const READ_SESSION = `${EXPIRE_TIME}
local value = redis.call('GET', KEYS[1])
if not value then return false end
return { value, tostring(expire_time(KEYS[1])) }
`;

/**
 * Reads a batch of sessions with their absolute expiries (all keys on one slot).
 * KEYS: sessions. Reply: flat { value1 or nil, expireAtMs1, value2 or nil, expireAtMs2, ... }.
 */
export const READ_SESSIONS = `${EXPIRE_TIME}
local out = {}
for i = 1, #KEYS do
  local value = redis.call('GET', KEYS[i])
  if value then
    out[#out + 1] = value
    out[#out + 1] = tostring(expire_time(KEYS[i]))
  else
    out[#out + 1] = false
    out[#out + 1] = '-2'
  end
end
return out
`;

/**
 * Reads what a per-user listing needs to verify one index entry.
 * KEYS: session, meta. ARGV: withValue ("1"/"0").
 * Reply: nil when the session is gone, else { value or "", expireAtMs, meta or "" }.
 */
export const READ_OWNED = `${EXPIRE_TIME}
local at = expire_time(KEYS[1])
if at == -2 then return false end
local value = ''
if ARGV[1] == '1' then value = redis.call('GET', KEYS[1]) or '' end
return { value, tostring(at), redis.call('GET', KEYS[2]) or '' }
`;

/**
 * Adds a session to its user's index (score: expiry), prunes expired entries, and keeps the index
 * key alive exactly as long as its longest-lived session.
 * KEYS: user index. ARGV: sid, expireAtMs ("+inf": none), nowMs.
 * Reply: entries left in the index.
 */
export const INDEX_ADD = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] == 'inf' then
  redis.call('PERSIST', KEYS[1])
else
  redis.call('PEXPIREAT', KEYS[1], top[2])
end
return redis.call('ZCARD', KEYS[1])
`;

/**
 * Prunes expired entries from a user's index and lists the rest.
 * KEYS: user index. ARGV: nowMs. Reply: session ids.
 */
export const INDEX_READ = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, -1)
`;

/**
 * Records activity (score: last set/touch in ms) and forgets activity older than pruneBefore.
 * KEYS: active sessions, active users (one hash tag, so one slot).
 * ARGV: nowMs, sid, userId ("": none), pruneBeforeMs, touchAfterMs (skip when this recent).
 * Reply: 1 written, 0 skipped.
 */
export const RECORD_ACTIVITY = `
local after = tonumber(ARGV[5])
if after > 0 then
  local last = redis.call('ZSCORE', KEYS[1], ARGV[2])
  if last and tonumber(ARGV[1]) - tonumber(last) < after then return 0 end
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[4])
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4])
end
return 1
`;

/**
 * One page of active sessions, newest first, after a cursor (score, and ids already seen at it).
 * KEYS: active sessions. ARGV: maxScore ("+inf" or a number, inclusive), minScore, count.
 * Reply: flat { id1, score1, id2, score2, ... } with scores as strings.
 */
export const ACTIVITY_PAGE = `
local rows = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2], 'BYSCORE', 'REV', 'LIMIT', 0, ARGV[3], 'WITHSCORES')
return rows
`;
