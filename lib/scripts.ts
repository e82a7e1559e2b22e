/**
 * Lua sources. Every key a script touches comes in KEYS (never built inside a script; TOUCH_ALL's
 * index of an owner the caller did not name, the single-Redis per-user scripts and SCAN_STEPS at the
 * end are the exceptions, all on a single Redis only, see there), and "now" comes in
 * ARGV, so scripts are deterministic and each runs on the slot of its keys.
 *
 * Writes are made of three parts: the session (session key + meta key, one slot), the owner's
 * index (one key), the activity sets (two keys, one slot). On a single Redis (standalone,
 * Sentinel) one script runs all three atomically; on Cluster, where they live on different
 * slots, each part is its own script and the three are sent together.
 *
 * Two constants keep frequent requests cheap without weakening any guarantee:
 * - ACTIVITY_RESOLUTION (1 s): a touch() within a second of the session's last recorded activity
 *   moves the session's expiry (always) but records no activity; so does a repeat set() by the
 *   store that recorded it (its plain-command path, see "The horizon").
 * - INDEX_GRACE (5 s): an index entry is pruned only once its score is INDEX_GRACE in the past (on
 *   Cluster a touch may leave the score up to a second behind), and an index key outlives its
 *   latest score by as much. Readers verify every entry against the session itself, so a late
 *   prune hides nothing.
 *
 * Meta value (the key `Keys.meta(sid)`, always in its session's slot, kept until the horizon below):
 *   "D"            a tombstone: the session was destroyed; set() and touch() are refused
 *   "u" + userId   the live session's owner
 *   (absent)       an anonymous session
 * A session's last activity is its score in the active-sessions set.
 *
 * ARGV of every write script (one layout, so the parts compose):
 *   1 value          serialized session (set only)
 *   2 expireAtMs     absolute expiry, "0" for none
 *   3 userId         "" for an anonymous session
 *   4 nowMs
 *   5 touchAfterMs   "0" for set
 *   6 pruneBeforeMs  activity older than this is forgotten ("0": skip pruning this time)
 *   7 countEntries   "1": reply with the owner's index size (maxSessionsPerUser), "0": don't count
 *   8 sid
 *   9 expiresIso     touch only: the new cookie.expires as JSON writes it, "" to move the expiry alone
 *  10 slackMs        how far past the expiry the owner record and index entry are kept (see below)
 *  11 member         the session's index entry, "{tag}sid" (Keys.member): meta key = metaPrefix .. member
 *  12 userIndexPrefix TOUCH_ALL only: what a user's index key starts with (Keys.user(""))
 *
 * The horizon: a live session's meta key and its owner's index entry are kept until at least
 * expiry + slack, and never brought closer (a write takes the later of that and the meta key's
 * current expiry). Scripts that record an owner reply with that horizon, so a store that wrote a
 * session may later save or touch it with plain commands (SET XX, PEXPIREAT) as long as the new
 * expiry stays within the horizon: the owner record and the index entry already cover it.
 */

/** See the header: how stale an index score or activity record may be, in ms. */
export const ACTIVITY_RESOLUTION_MS = 1000;
/** See the header: how long past its score an index entry (and key) is kept, in ms. */
export const INDEX_GRACE_MS = 5_000;

// The absolute expiry of a key in ms: PEXPIRETIME on Redis 7, TIME + PTTL before it.
// -2: no such key, -1: no expiry.
const EXPIRE_TIME = `
local function expire_time(key)
  if redis.REDIS_VERSION_NUM then return redis.call('PEXPIRETIME', key) end -- both since Redis 7.0
  local pttl = redis.call('PTTL', key)
  if pttl < 0 then return pttl end
  local now = redis.call('TIME')
  return tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + pttl
end
`;

// The horizon of a write (see the header): ms, or 0 for a session without expiry.
const HORIZON = `
local function horizon(meta_key, meta)
  if ARGV[2] == '0' then return 0 end
  local at = tonumber(ARGV[2]) + tonumber(ARGV[10])
  if not meta then return at end
  local current = expire_time(meta_key)
  if current > at then return current end
  return at
end
`;

const OWNER_OF = `
local function owner_of(meta)
  if not meta or string.sub(meta, 1, 1) ~= 'u' then return '' end
  return string.sub(meta, 2)
end
`;

/**
 * Writes the session unless it has a tombstone, and records its owner in the meta key until the
 * horizon. Returns false when refused, else the horizon (0: no expiry or anonymous).
 */
const SET_PART = `${EXPIRE_TIME}${HORIZON}
local function set_session(session, meta_key)
  local meta = redis.call('GET', meta_key)
  if meta == 'D' then return false end
  if ARGV[2] == '0' then
    redis.call('SET', session, ARGV[1])
  else
    redis.call('SET', session, ARGV[1], 'PXAT', ARGV[2])
  end
  if ARGV[3] ~= '' then
    local keep = horizon(meta_key, meta)
    if keep == 0 then
      redis.call('SET', meta_key, 'u' .. ARGV[3])
    else
      redis.call('SET', meta_key, 'u' .. ARGV[3], 'PXAT', keep)
    end
    return keep
  elseif meta then
    redis.call('DEL', meta_key)
  end
  return 0
end
`;

/**
 * Finds the cookie's "expires" date in the head of a session stored as express-session's JSON,
 * which always starts with the cookie: {"cookie":{...,"expires":"2026-01-01T00:00:00.000Z",...},...}.
 * Returns the 0-based byte offset of its 24 characters, or nil unless the match is provably inside
 * the cookie object: no brace between the cookie's start and the key (the cookie holds no nested
 * objects, and JSON escapes quotes inside strings, so '"expires":"' can only be a key).
 */
const FIND_EXPIRES = `
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

/**
 * Moves the expiry of a live session and its meta. With ARGV[9] it also rewrites the stored
 * cookie.expires in place (GETRANGE of the head, SETRANGE of the 24-character date: the value is
 * never copied whole), atomically, so get() and all() show the touch (connect-redis #259) while a
 * save made by another request in between is kept: only those 24 characters change.
 * Returns -2 (no session), 0 (skipped: moved less than touchAfter), else the horizon of the owner
 * record (1 when there is none: anonymous, or no meta key given), and second the owner whose record
 * it kept: ARGV[3], or, when the touch names none (a request that loaded the session anonymous),
 * the owner the meta key already holds (signed in elsewhere meanwhile), whose index must follow too.
 */
const TOUCH_PART = `${EXPIRE_TIME}${FIND_EXPIRES}${HORIZON}${OWNER_OF}
local function touch_session(session, meta_key)
  -- A tombstone next to a live session: a destroy is between its two steps (see the store's destroy()).
  local meta = meta_key and redis.call('GET', meta_key)
  if meta == 'D' then return -2 end
  local after = tonumber(ARGV[5])
  if after > 0 then
    local current = expire_time(session)
    if current == -2 then return -2 end
    if current > 0 and tonumber(ARGV[2]) - current < after then return 0 end
  end
  if ARGV[9] ~= '' then
    local offset = find_expires(redis.call('GETRANGE', session, 0, 255))
    if offset then redis.call('SETRANGE', session, offset, ARGV[9]) end
  end
  if redis.call('PEXPIREAT', session, ARGV[2]) == 0 then return -2 end
  -- The owner can be (re)written: this also indexes sessions that were written by connect-redis and
  -- have only been touched since.
  if not meta_key then return 1 end
  local keep = horizon(meta_key, meta)
  if ARGV[3] ~= '' then
    redis.call('SET', meta_key, 'u' .. ARGV[3], 'PXAT', keep)
    return keep, ARGV[3]
  end
  redis.call('PEXPIREAT', meta_key, keep)
  local owner = owner_of(meta)
  if owner ~= '' then return keep, owner end
  return 1
end
`;

/**
 * Adds the session to its owner's index (score: the horizon, "+inf" for none) and keeps the index key
 * alive as long as its longest-lived session. Expired entries are pruned by the readers, and go with
 * the key when the user's last session expires. Returns the entry count when asked (ARGV[7]), else 0.
 */
const INDEX_PART = `
local function index_add(index, sid, score)
  if score == 0 then
    redis.call('ZADD', index, '+inf', sid)
    redis.call('PERSIST', index)
  else
    redis.call('ZADD', index, score, sid)
    local keep_until = score + ${INDEX_GRACE_MS}
    local pttl = redis.call('PTTL', index)
    if pttl == -1 or tonumber(ARGV[4]) + pttl < keep_until then redis.call('PEXPIREAT', index, keep_until) end
  end
  if ARGV[7] == '1' then return redis.call('ZCARD', index) end
  return 0
end
`;

/** Records activity (score: now) and, when asked, forgets activity older than pruneBefore. */
const ACTIVITY_PART = `
local function record_activity(sessions, users, sid)
  redis.call('ZADD', sessions, ARGV[4], sid)
  if ARGV[3] ~= '' then redis.call('ZADD', users, ARGV[4], ARGV[3]) end
  if ARGV[6] ~= '0' then
    redis.call('ZREMRANGEBYSCORE', sessions, '-inf', '(' .. ARGV[6])
    redis.call('ZREMRANGEBYSCORE', users, '-inf', '(' .. ARGV[6])
  end
end
`;

/**
 * set() on a single Redis, all at once.
 * KEYS: session, meta, user index (any key when anonymous), active sessions, active users.
 * ARGV: the write layout; ARGV[8] is the session id.
 * Reply: nil when refused, else { index entry count (0 anonymous), horizon (0: anonymous or no expiry) }.
 */
export const SET_ALL = `${SET_PART}${INDEX_PART}${ACTIVITY_PART}
local keep = set_session(KEYS[1], KEYS[2])
if not keep then return false end
local entries = 0
if ARGV[3] ~= '' then entries = index_add(KEYS[3], ARGV[11], keep) end
record_activity(KEYS[4], KEYS[5], ARGV[8])
return { entries, keep }
`;

/**
 * touch() on a single Redis. KEYS and ARGV as SET_ALL (ARGV[1] unused), plus ARGV[12].
 * Reply: -2 no session, 0 skipped by touchAfter, else the horizon, which the owner's index entry now
 * covers too (1 for a session without an owner record).
 */
export const TOUCH_ALL = `${TOUCH_PART}${INDEX_PART}${ACTIVITY_PART}
local touched, owner = touch_session(KEYS[1], KEYS[2])
if touched < 1 then return touched end
-- The index entry always follows the horizon (however soon after the last touch): readers prune
-- entries by their score, so an entry must never fall behind its session's expiry. A touch that
-- names no owner of a session signed in elsewhere meanwhile moves that owner's entry: its index
-- key is built here (ARGV[12] .. owner), which a single Redis allows (no slots; see INDEX_ENTRIES).
if ARGV[3] ~= '' then index_add(KEYS[3], ARGV[11], touched)
elseif owner then index_add(ARGV[12] .. owner, ARGV[11], touched) end
local last = redis.call('ZSCORE', KEYS[4], ARGV[8])
if last and tonumber(ARGV[4]) - tonumber(last) < ${ACTIVITY_RESOLUTION_MS} then return touched end
record_activity(KEYS[4], KEYS[5], ARGV[8])
return touched
`;

/** Cluster part: set() of the session alone. KEYS: session, meta. Reply: nil when refused, else 1. */
export const SET_SESSION = `${SET_PART}
if not set_session(KEYS[1], KEYS[2]) then return false end
return 1
`;

/**
 * touch() of the session alone (no meta key): with the index off, and for a repeat touch within the
 * horizon. KEYS: session. ARGV: the write layout (only 2, 5 and 9 are read). Reply as TOUCH_ALL (1: touched).
 */
export const TOUCH_VALUE = `${TOUCH_PART}
return touch_session(KEYS[1], nil)
`;

/**
 * Cluster part: touch() of the session alone. KEYS: session, meta.
 * Reply: { as TOUCH_ALL, the owner whose record was kept ("" for none) }.
 */
export const TOUCH_SESSION = `${TOUCH_PART}
local touched, owner = touch_session(KEYS[1], KEYS[2])
return { touched, owner or '' }
`;

/**
 * Cluster part: the owner's index. KEYS: user index. ARGV: write layout, ARGV[11] the index entry.
 * A touch (touchAfter > 0) that would move the entry less than touchAfter writes nothing.
 * Reply: the index entry count.
 */
export const INDEX_ADD = `${INDEX_PART}
local after = tonumber(ARGV[5])
if ARGV[1] == '' and after < ${ACTIVITY_RESOLUTION_MS} then after = ${ACTIVITY_RESOLUTION_MS} end
if after > 0 and ARGV[2] ~= '0' then
  local current = redis.call('ZSCORE', KEYS[1], ARGV[11])
  if current and tonumber(ARGV[2]) - tonumber(current) < after then return 0 end
end
if ARGV[2] == '0' then return index_add(KEYS[1], ARGV[11], 0) end
return index_add(KEYS[1], ARGV[11], tonumber(ARGV[2]) + tonumber(ARGV[10]))
`;

/**
 * Cluster part: activity. KEYS: active sessions, active users (one hash tag, one slot).
 * A touch within touchAfter of the last recorded activity writes nothing. Reply: 1 written, 0 skipped.
 */
export const RECORD_ACTIVITY = `${ACTIVITY_PART}
local after = tonumber(ARGV[5])
if ARGV[1] == '' and after < ${ACTIVITY_RESOLUTION_MS} then after = ${ACTIVITY_RESOLUTION_MS} end
if after > 0 then
  local last = redis.call('ZSCORE', KEYS[1], ARGV[8])
  if last and tonumber(ARGV[4]) - tonumber(last) < after then return 0 end
end
record_activity(KEYS[1], KEYS[2], ARGV[8])
return 1
`;

/**
 * Destroys sessions and leaves a tombstone in each one's meta key (replacing its owner record; the
 * owners' index entries are left to the readers, which verify them); on a single Redis also drops
 * them from the activity set (on Cluster that set is on another slot and is cleaned separately).
 * KEYS: session1, meta1, session2, meta2, ..., then the active sessions key when ARGV[2] is "1".
 * ARGV: tombstoneMs ("0": none, but an existing tombstone stays), withActivity ("1"/"0"), then the session ids in order.
 * Reply: the number of sessions that existed.
 */
export const DESTROY_SESSIONS = `
local tombstone = tonumber(ARGV[1])
local pairs_count = #KEYS
if ARGV[2] == '1' then pairs_count = #KEYS - 1 end
local existed = 0
for i = 1, pairs_count, 2 do
  existed = existed + redis.call('UNLINK', KEYS[i])
  if tombstone > 0 then
    redis.call('SET', KEYS[i + 1], 'D', 'PX', tombstone)
  elseif redis.call('GET', KEYS[i + 1]) ~= 'D' then
    redis.call('DEL', KEYS[i + 1])
  end
  if ARGV[2] == '1' then redis.call('ZREM', KEYS[#KEYS], ARGV[2 + (i + 1) / 2]) end
end
return existed
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
 * Reads what a per-user listing needs to verify index entries (all keys on one slot).
 * KEYS: session1, meta1, session2, meta2, ... ARGV: withValue ("1"/"0").
 * Reply: flat { value1, expireAtMs1, owner1, value2, ... }: value "" when not asked for, expireAtMs
 * "-2" when the session is gone, owner "" when none.
 */
export const READ_OWNED = `${EXPIRE_TIME}${OWNER_OF}
local out = {}
for i = 1, #KEYS, 2 do
  local at = expire_time(KEYS[i])
  local value = ''
  if at ~= -2 and ARGV[1] == '1' then value = redis.call('GET', KEYS[i]) or '' end
  out[#out + 1] = value
  out[#out + 1] = tostring(at)
  out[#out + 1] = owner_of(redis.call('GET', KEYS[i + 1]))
end
return out
`;

/**
 * Cluster: destroys, with tombstones, only the sessions that still belong to one user (all keys on
 * one slot): an index entry whose session changed owner must not log the new owner out. The
 * activity set is on another slot: the caller drops the destroyed ids from it.
 * KEYS: session1, meta1, session2, meta2, ...
 * ARGV: tombstoneMs ("0": none), userId, then the session ids in order.
 * Reply: the ids destroyed.
 */
export const DESTROY_OWNED = `
local tombstone = tonumber(ARGV[1])
local owner = 'u' .. ARGV[2]
local destroyed = {}
for i = 1, #KEYS, 2 do
  if redis.call('GET', KEYS[i + 1]) == owner and redis.call('UNLINK', KEYS[i]) == 1 then
    destroyed[#destroyed + 1] = ARGV[2 + (i + 1) / 2]
    if tombstone > 0 then
      redis.call('SET', KEYS[i + 1], 'D', 'PX', tombstone)
    else
      redis.call('DEL', KEYS[i + 1])
    end
  end
end
return destroyed
`;

/**
 * Prunes expired entries from a user's index and lists the rest.
 * KEYS: user index. ARGV: nowMs. Reply: index entries ("{tag}sid", see Keys.member).
 */
export const INDEX_READ = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (tonumber(ARGV[1]) - ${INDEX_GRACE_MS}))
return redis.call('ZRANGE', KEYS[1], 0, -1)
`;

/**
 * One page of active sessions, newest first, from maxScore (inclusive) down to minScore.
 * KEYS: active sessions. ARGV: maxScore ("+inf" or ms), minScore, count.
 * Reply: flat { id1, score1, id2, score2, ... } with scores as strings (same on RESP2 and RESP3).
 */
export const ACTIVITY_PAGE = `
return redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2], 'BYSCORE', 'REV', 'LIMIT', 0, ARGV[3], 'WITHSCORES')
`;

// The per-user calls on a single Redis (standalone, Sentinel), in one round trip each. They are the
// only scripts that name keys KEYS does not hold: the sessions and meta keys of the index entries
// they read (prefix .. sid, metaPrefix .. entry). A single Redis has no slots, so this is safe there;
// on Cluster the store reads the index first and sends per-slot scripts instead.
const INDEX_ENTRIES = `
-- No prune by score first: every entry is checked against its session, and the stale ones leave.
local function index_entries(index)
  return redis.call('ZRANGE', index, 0, -1)
end
local function sid_of(entry)
  local close = string.find(entry, '}', 2, true)
  if close and string.byte(entry, 1) == 123 then return string.sub(entry, close + 1) end -- 123: '{'
  return entry
end
-- Commands over a list of any length, in chunks (unpack is bounded by Lua's C stack).
local function zrem_all(key, members)
  for i = 1, #members, 1000 do
    redis.call('ZREM', key, unpack(members, i, math.min(i + 999, #members)))
  end
end
local function chunked(command, first, list)
  local out = {}
  for i = 1, #list, 1000 do
    local part
    if first then
      part = redis.call(command, first, unpack(list, i, math.min(i + 999, #list)))
    else
      part = redis.call(command, unpack(list, i, math.min(i + 999, #list)))
    end
    for j = 1, #part do out[i + j - 1] = part[j] end
  end
  return out
end
`;

/**
 * One user's live sessions, verified against their meta keys; entries whose session is gone or
 * belongs to someone else now are dropped from the index on the way.
 * KEYS: user index, active sessions. ARGV: nowMs, withValue ("1"/"0"), session prefix, meta prefix, userId.
 * Reply: flat { sid1, value1 ("" when not asked for), expireAtMs1 (-1: none), lastActiveMs1 ("": none), sid2, ... }.
 */
export const USER_SESSIONS = `${EXPIRE_TIME}${INDEX_ENTRIES}
local owner = 'u' .. ARGV[5]
local entries = index_entries(KEYS[1])
local n = #entries
if n == 0 then return {} end
local with_values = ARGV[2] == '1'
-- One MGET for the owners (and the values): metas first, then the sessions.
local sids, keys, sessions = {}, {}, {}
for i, entry in ipairs(entries) do
  sids[i] = sid_of(entry)
  sessions[i] = ARGV[3] .. sids[i]
  keys[i] = ARGV[4] .. entry
  if with_values then keys[n + i] = sessions[i] end
end
local read = chunked('MGET', nil, keys)
local active = chunked('ZMSCORE', KEYS[2], sids)
local out = {}
local stale = {}
for i, entry in ipairs(entries) do
  local value = with_values and read[n + i] or ''
  local at = (read[i] == owner and value) and expire_time(sessions[i]) or -2
  if at ~= -2 then
    out[#out + 1] = sids[i]
    out[#out + 1] = value
    out[#out + 1] = tostring(at)
    out[#out + 1] = active[i] or ''
  else
    stale[#stale + 1] = entry
  end
end
zrem_all(KEYS[1], stale)
return out
`;

/**
 * Destroys, with tombstones, the sessions of one user but those in \`except\`: only those whose
 * meta key still names the user (an entry whose session changed owner must not log the new owner
 * out). Every entry but the kept ones leaves the index.
 * KEYS: user index, active sessions. ARGV: nowMs, tombstoneMs ("0": none), session prefix, meta prefix, userId, then the kept ids.
 * Reply: the number of sessions destroyed.
 */
export const DESTROY_USER = `${INDEX_ENTRIES}
local owner = 'u' .. ARGV[5]
local tombstone = tonumber(ARGV[2])
local keep = {}
for i = 6, #ARGV do keep[ARGV[i]] = true end
local dropped = {}
local gone = {}
for _, entry in ipairs(index_entries(KEYS[1])) do
  if not keep[sid_of(entry)] then dropped[#dropped + 1] = entry end
end
if #dropped == 0 then return 0 end
local metas = {}
for i, entry in ipairs(dropped) do metas[i] = ARGV[4] .. entry end
local owners = chunked('MGET', nil, metas)
for i, entry in ipairs(dropped) do
  local sid = sid_of(entry)
  if owners[i] == owner then
    local meta = metas[i]
    if redis.call('UNLINK', ARGV[3] .. sid) == 1 then
      gone[#gone + 1] = sid
    end
    -- The owner's meta key goes either way: a tombstone (or nothing) where the session was.
    if tombstone > 0 then
      redis.call('SET', meta, 'D', 'PX', tombstone)
    else
      redis.call('DEL', meta)
    end
  end
end
zrem_all(KEYS[1], dropped)
zrem_all(KEYS[2], gone)
return #gone
`;

/**
 * A stretch of one SCAN run on the server, so that one round trip covers several SCAN calls:
 * SCAN cursor MATCH pattern COUNT count, up to `steps` times (fewer when the cursor comes back to
 * 0). Each SCAN call does the work of a SCAN sent by the client (connect-redis's `scanCount`); the
 * script only saves the round trips between them and, for "count" and "unlink", sending the keys.
 * Only keys starting with the prefix are used (the pattern is the escaped prefix plus "*").
 * No KEYS: the keys are found by SCAN, so this runs only on a single Redis (standalone, Sentinel),
 * where every key is on the one node; like the per-user scripts above, an exception to the KEYS rule.
 * ARGV: cursor, pattern, count, steps, mode, prefix. Modes:
 *   "keys"    reply { cursor, { key1, key2, ... } }
 *   "count"   reply { cursor, number of keys }
 *   "unlink"  UNLINKs the keys as they are found; reply { cursor, number unlinked }
 */
export const SCAN_STEPS = `
local cursor, steps, mode, prefix = ARGV[1], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local found, n = {}, 0
-- The keys of one SCAN reply that start with the prefix: the reply itself when all do (always, unless
-- the pattern let something else through), without copying it.
local function own(keys)
  for i = 1, #keys do
    if string.find(keys[i], prefix, 1, true) ~= 1 then
      local kept = {}
      for j = 1, #keys do
        if string.find(keys[j], prefix, 1, true) == 1 then kept[#kept + 1] = keys[j] end
      end
      return kept
    end
  end
  return keys
end
for _ = 1, steps do
  local reply = redis.call('SCAN', cursor, 'MATCH', ARGV[2], 'COUNT', ARGV[3])
  cursor = reply[1]
  local keys = own(reply[2])
  if mode == 'keys' then
    for i = 1, #keys do found[n + i] = keys[i] end
    n = n + #keys
  elseif mode == 'count' then
    n = n + #keys
  else
    for i = 1, #keys, 1000 do n = n + redis.call('UNLINK', unpack(keys, i, math.min(i + 999, #keys))) end
  end
  if cursor == '0' then break end
end
if mode == 'keys' then return { cursor, found } end
return { cursor, n }
`;
