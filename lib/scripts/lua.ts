/**
 * Lua fragments shared by the scripts: each a `local function` with parameters, so a script reads
 * its ARGV once, by name, at its top, and passes values down. No fragment reads KEYS or ARGV.
 *
 * The meta value of a session (its key sits in the session's slot, see keys.ts):
 *   "u" .. owner                 the live session's owner
 *   "D" .. atMs .. ":" .. reason   a tombstone: the session was destroyed at atMs (Redis's clock)
 *   (absent)                     an anonymous session
 *
 * Redis's clock (TIME) is the one clock for everything Redis compares or expires by: index
 * scores, activity scores, pruning, tombstones. The application sends lifetimes as durations.
 */

/** See the store's docs: how stale an activity record or index score may be, in ms. */
export const ACTIVITY_RESOLUTION_MS = 1000;
/** How long past its score an index entry (and the index key) is kept, in ms. */
export const INDEX_GRACE_MS = 5_000;

/** Redis's own clock in ms. */
export const NOW = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/** A key's absolute expiry in ms on Redis's clock; -2: no such key, -1: no expiry. */
export const EXPIRE_TIME = `
local function expire_time(key)
  return redis.call('PEXPIRETIME', key)
end
`;

export const META = `
local function is_tombstone(meta)
  return meta and string.byte(meta, 1) == 68 -- 'D'
end
local function owner_of(meta)
  if not meta or string.byte(meta, 1) ~= 117 then return '' end -- 'u'
  return string.sub(meta, 2)
end
-- Leaves a tombstone that keeps when and why the session ended.
local function bury(meta_key, tombstone_ms, reason, now)
  if tombstone_ms > 0 then
    redis.call('SET', meta_key, 'D' .. now .. ':' .. reason, 'PX', tombstone_ms)
  elseif not is_tombstone(redis.call('GET', meta_key)) then
    redis.call('DEL', meta_key)
  end
end
`;

/**
 * Keeps a meta key at least until \`until_ms\` (0: no expiry): never brought closer, so two writes
 * with different lifetimes leave the later one.
 */
export const KEEP_META = `
local function keep_meta(meta_key, value, until_ms)
  if until_ms == 0 then
    redis.call('SET', meta_key, value)
    return
  end
  local current = redis.call('PEXPIRETIME', meta_key)
  if current > until_ms then until_ms = current end
  if current == -1 and value == nil then return end
  if value then
    redis.call('SET', meta_key, value, 'PXAT', until_ms)
  else
    redis.call('PEXPIREAT', meta_key, until_ms)
  end
end
`;

/**
 * Adds or moves a session's entry in its owner's index (score: its expiry, "+inf" for none) and keeps
 * the index key as long as its longest-lived entry. Returns the entry count when asked.
 */
export const INDEX_ADD = `
local function index_add(index, entry, expire_at, now, count)
  if expire_at == 0 then
    redis.call('ZADD', index, '+inf', entry)
    redis.call('PERSIST', index)
  else
    redis.call('ZADD', index, expire_at, entry)
    local keep_until = expire_at + ${INDEX_GRACE_MS}
    local pttl = redis.call('PTTL', index)
    if pttl == -1 or now + pttl < keep_until then redis.call('PEXPIREAT', index, keep_until) end
  end
  if count then return redis.call('ZCARD', index) end
  return 0
end
`;

/**
 * Records activity (score: now) for a session and its owner; one write in 16 also forgets activity
 * older than \`lifetime_ms\` (a session idle that long has expired).
 */
export const ACTIVITY = `
local function record_activity(sessions, users, sid, owner, now, lifetime_ms)
  redis.call('ZADD', sessions, now, sid)
  if owner ~= '' then redis.call('ZADD', users, now, owner) end
  if lifetime_ms > 0 and now % 16 == 0 then
    redis.call('ZREMRANGEBYSCORE', sessions, '-inf', '(' .. (now - lifetime_ms))
    redis.call('ZREMRANGEBYSCORE', users, '-inf', '(' .. (now - lifetime_ms))
  end
end
`;

/**
 * The byte offset of the 24-character cookie.expires date in the head of a session stored as
 * express-session's JSON, which always starts with the cookie:
 * {"cookie":{...,"expires":"2026-01-01T00:00:00.000Z",...},...}. nil unless the match is provably
 * inside the cookie object: no brace between the cookie's start and the key (the cookie holds no
 * nested objects, and JSON escapes quotes inside strings, so '"expires":"' can only be a key).
 */
export const FIND_EXPIRES = `
local function find_expires(head)
  if string.sub(head, 1, 11) ~= '{"cookie":{' then return nil end
  local at = string.find(head, '"expires":"', 12, true)
  if not at then return nil end
  local brace = string.find(head, '[{}]', 12)
  if brace and brace < at then return nil end
  local first = at + 11
  if not string.find(string.sub(head, first, first + 24), '^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ"$') then return nil end
  return first - 1
end
`;

/** How long a session's fields or info key may outlive the session, at most, in ms. */
export const FIELDS_SLACK_MS = 60_000;

/**
 * Keeps a key beside a session (its fields or info key, if it has one) alive at least as long as
 * the session: a write that gives the session \`expire_at\` (0: no expiry) moves the key's expiry
 * past it by the slack.
 */
export const KEEP_BESIDE = `
local function keep_beside(key, expire_at)
  local current = redis.call('PEXPIRETIME', key)
  if current == -2 then return end
  if expire_at == 0 then
    if current ~= -1 then redis.call('PERSIST', key) end
  elseif current == -1 or current < expire_at then
    redis.call('PEXPIREAT', key, expire_at + ${FIELDS_SLACK_MS})
  end
end
`;

/**
 * A session's info hash (keys.ts): "c" its first save (ms, Redis's clock), "d" its device as the
 * tracker sent it. \`absolute_ms\` > 0 caps every expiry at createdAt + absolute_ms.
 */
export const INFO = `
-- The expiry a write may give (expire_at, 0: none) under the absolute lifetime; nil when the session
-- is past it. A session that has no createdAt yet (saved before the info key existed) starts now.
local function cap_expiry(info_key, expire_at, absolute_ms, now)
  if absolute_ms <= 0 then return expire_at end
  local created_at = tonumber(redis.call('HGET', info_key, 'c'))
  if not created_at then
    created_at = now
    redis.call('HSET', info_key, 'c', now)
  end
  local deadline = created_at + absolute_ms
  if deadline <= now then return nil end
  if expire_at == 0 or expire_at > deadline then return deadline end
  return expire_at
end
-- Records the device when it changed ('' : nothing to record).
local function record_device(info_key, device)
  if device ~= '' and redis.call('HGET', info_key, 'd') ~= device then redis.call('HSET', info_key, 'd', device) end
end
`;

/** Index entries ("{tag}sid", see keys.ts) and commands over lists of any length. */
export const ENTRIES = `
local function sid_of(entry)
  return string.match(entry, '^{[^}]*}(.*)$') or entry
end
-- unpack is bounded by Lua's C stack: commands over long lists go in chunks of 1,000.
local function chunked(command, first, list)
  local n = #list
  if n == 0 then return {} end
  if n <= 1000 then
    -- One command: its reply as it is, with no copy.
    local reply
    if first then reply = redis.call(command, first, unpack(list)) else reply = redis.call(command, unpack(list)) end
    if type(reply) == 'table' then return reply end
    return {}
  end
  local out = {}
  for i = 1, n, 1000 do
    local part
    if first then
      part = redis.call(command, first, unpack(list, i, math.min(i + 999, n)))
    else
      part = redis.call(command, unpack(list, i, math.min(i + 999, n)))
    end
    if type(part) == 'table' then
      for j = 1, #part do out[i + j - 1] = part[j] end
    end
  end
  return out
end
-- The sum of a command's integer replies over a list of any length (EXISTS, UNLINK).
local function counted(command, list)
  local total = 0
  for i = 1, #list, 1000 do total = total + redis.call(command, unpack(list, i, math.min(i + 999, #list))) end
  return total
end
`;
