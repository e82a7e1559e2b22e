/**
 * Saves and touches. Each script names its KEYS and ARGV once, at its top; each has one typed
 * wrapper below it that builds them from names and decodes the reply.
 *
 * Single Redis (standalone, Sentinel): SET_ALL and TOUCH_ALL write a session, its owner record,
 * its owner's index entry and its activity at once. Cluster, where those live on different slots:
 * SET_SESSION / TOUCH_SESSION for the session's slot, then INDEX_ADD and RECORD_ACTIVITY (index.ts).
 *
 * Under memory pressure (noeviction): saves are refused whole with Redis's OOM error (a shebang
 * script without allow-oom does not start), so the old value stays; touches carry allow-oom, so
 * active sessions keep being extended (they write a few bytes at most).
 */
import { type Driver, isNil, Script } from "../driver/driver.js";
import {
  ACTIVITY,
  ACTIVITY_RESOLUTION_MS,
  EXPIRE_TIME,
  FIND_EXPIRES,
  INDEX_ADD,
  INDEX_GRACE_MS,
  INFO,
  KEEP_BESIDE,
  KEEP_META,
  META,
  NOW,
} from "./lua.js";

/** What every save names: the session's own keys and its owner. */
export interface SaveArgs {
  /** The serialized session. */
  value: string;
  /** Its lifetime in ms from now (Redis's now); 0: no expiry. */
  ttlMs: number;
  /** The owner, "" for an anonymous session. */
  owner: string;
  /**
   * Only update an existing session, never create one: for a session a request loaded, so that a
   * late save can't bring back a session destroyed meanwhile even if its tombstone is gone.
   */
  mustExist: boolean;
  /** The device to record in the session's info key, as the tracker serialized it; "" for none. */
  device: string;
  /** The absolute lifetime in ms from the session's createdAt; 0: none. */
  absoluteMs: number;
}

const SET_BODY = `
local function set_session(session_key, meta_key, fields_key, info_key, value, ttl_ms, owner, must_exist, device, absolute_ms, now)
  local meta = redis.call('GET', meta_key)
  if is_tombstone(meta) then return false end
  -- Did the save create the session? (for createdAt and the "created" event)
  local created = redis.call('EXISTS', session_key) == 0
  if created and must_exist then return false end
  -- One reading of Redis's clock sets the session's expiry and what covers it (meta key, index entry).
  local expire_at = 0
  if ttl_ms > 0 then expire_at = now + ttl_ms end
  if created then
    -- An id whose session ended at its absolute timeout stays ended while its info key lives.
    if absolute_ms > 0 then
      local old = tonumber(redis.call('HGET', info_key, 'c'))
      if old and old + absolute_ms <= now then return false end
    end
    -- A new session (or an id used again): its createdAt is now, whatever an old info key held.
    redis.call('DEL', info_key)
    redis.call('HSET', info_key, 'c', now)
  end
  expire_at = cap_expiry(info_key, expire_at, absolute_ms, now)
  if not expire_at then
    -- Past its absolute lifetime: the session ends as it would at its expiry.
    redis.call('UNLINK', session_key, fields_key, info_key)
    return false
  end
  if expire_at == 0 then
    redis.call('SET', session_key, value)
  else
    redis.call('SET', session_key, value, 'PXAT', expire_at)
  end
  keep_beside(fields_key, expire_at)
  record_device(info_key, device)
  keep_beside(info_key, expire_at)
  if owner ~= '' then
    local keep = 0
    if expire_at > 0 then keep = expire_at + ${INDEX_GRACE_MS} end
    keep_meta(meta_key, 'u' .. owner, keep)
  elseif meta then
    redis.call('DEL', meta_key)
  end
  return expire_at, created
end
`;

/**
 * KEYS: session, meta, owner's index (any key when anonymous), active sessions, active users, fields, info.
 * ARGV: value, ttlMs, owner, entry (the index entry), sid, countEntries ("1"/"0"), mustExist ("1"/"0"),
 * device, absoluteMs.
 * Reply: nil when refused (tombstone, or gone while mustExist), else { index entry count (0 when not counted), now (ms), 1 when it created the session else 0 }.
 * Refusals reply nil, never false: RESP3 sends a Lua false as a boolean, which ioredis 6 reads as 0.
 */
const SET_ALL = new Script(`#!lua
${NOW}${META}${KEEP_META}${KEEP_BESIDE}${INFO}${INDEX_ADD}${ACTIVITY}${SET_BODY}
local session_key, meta_key, index_key, active_sessions, active_users, fields_key, info_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local value, ttl_ms, owner, entry, sid = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local count, must_exist, device, absolute_ms = ARGV[6] == '1', ARGV[7] == '1', ARGV[8], tonumber(ARGV[9])
local now = now_ms()
local expire_at, created = set_session(session_key, meta_key, fields_key, info_key, value, ttl_ms, owner, must_exist, device, absolute_ms, now)
if not expire_at then return nil end
local entries = 0
if owner ~= '' then entries = index_add(index_key, entry, expire_at, now, count) end
record_activity(active_sessions, active_users, sid, owner, now, ttl_ms)
local created_flag = 0
if created then created_flag = 1 end
return { entries, now, created_flag }
`);

export interface IndexedSaveKeys {
  session: string;
  meta: string;
  /** The owner's index; when anonymous, any key of the slot (unused). */
  userIndex: string;
  activeSessions: string;
  activeUsers: string;
  fields: string;
  info: string;
}

/** What a save that wrote reports: the owner's index size (when counted, else 0) and when, on Redis's clock. */
export interface Saved {
  entries: number;
  at: number;
  /** Did the save create the session (no key before it)? */
  created: boolean;
}

/** SET_ALL: resolves to what was saved, or null when refused. */
export function setAll(
  driver: Driver,
  keys: IndexedSaveKeys,
  args: SaveArgs & { entry: string; sid: string; countEntries: boolean },
): Promise<Saved | null> {
  return driver
    .script<[number, number, number] | null>(
      SET_ALL,
      [keys.session, keys.meta, keys.userIndex, keys.activeSessions, keys.activeUsers, keys.fields, keys.info],
      [
        args.value,
        args.ttlMs,
        args.owner,
        args.entry,
        args.sid,
        args.countEntries ? "1" : "0",
        args.mustExist ? "1" : "0",
        args.device,
        args.absoluteMs,
      ],
    )
    .then((reply) => (isNil(reply) ? null : { entries: Number(reply[0]), at: Number(reply[1]), created: Number(reply[2]) === 1 }));
}

/**
 * KEYS: session, meta, fields, info. ARGV: value, ttlMs, owner, mustExist ("1"/"0"), device, absoluteMs.
 * Reply: nil when refused, 2 when it created the session, else 1.
 */
const SET_SESSION = new Script(`#!lua
${NOW}${META}${KEEP_META}${KEEP_BESIDE}${INFO}${SET_BODY}
local session_key, meta_key, fields_key, info_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local value, ttl_ms, owner, must_exist = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4] == '1'
local device, absolute_ms = ARGV[5], tonumber(ARGV[6])
local written, created = set_session(session_key, meta_key, fields_key, info_key, value, ttl_ms, owner, must_exist, device, absolute_ms, now_ms())
if not written then return nil end
if created then return 2 end
return 1
`);

/** SET_SESSION (Cluster, or tombstones without the index): "created", "written", or null when refused. */
export function setSession(
  driver: Driver,
  keys: { session: string; meta: string; fields: string; info: string },
  args: SaveArgs,
): Promise<"created" | "written" | null> {
  return driver
    .script<number | null>(
      SET_SESSION,
      [keys.session, keys.meta, keys.fields, keys.info],
      [args.value, args.ttlMs, args.owner, args.mustExist ? "1" : "0", args.device, args.absoluteMs],
    )
    .then((reply) => (isNil(reply) ? null : Number(reply) === 2 ? "created" : "written"));
}

/** What a touch names. A touch never names an owner: it moves the owner record that is stored. */
export interface TouchArgs {
  /** The new lifetime in ms from now. */
  ttlMs: number;
  /** The new cookie.expires to write inside the stored JSON value; "" to move the expiry alone. */
  expiresIso: string;
  /** Skip the touch when it would move the expiry by less than this many ms; 0: always. */
  touchAfterMs: number;
  /** The device to record, "" for none (see SaveArgs). */
  device: string;
  /** The absolute lifetime in ms from createdAt; 0: none. */
  absoluteMs: number;
}

/** Outcome of a touch: moved, skipped (touchAfter), or the session is gone (destroyed or expired). */
export type TouchResult = "touched" | "skipped" | "gone";

const TOUCH_BODY = `
local function touch_session(session_key, meta_key, fields_key, info_key, ttl_ms, expires_iso, touch_after_ms, device, absolute_ms, now)
  local meta = redis.call('GET', meta_key)
  -- A tombstone beside a live session: a destroy is under way.
  if is_tombstone(meta) then return -2 end
  local expire_at = now + ttl_ms
  if absolute_ms > 0 then
    if redis.call('EXISTS', session_key) == 0 then return -2 end
    expire_at = cap_expiry(info_key, expire_at, absolute_ms, now)
    if not expire_at then
      redis.call('UNLINK', session_key, fields_key, info_key)
      return -2
    end
  end
  if touch_after_ms > 0 then
    local current = expire_time(session_key)
    if current == -2 then return -2 end
    if current > 0 and expire_at - current < touch_after_ms then return 0 end
  end
  if expires_iso ~= '' then
    -- GETRANGE of a missing key is "", so SETRANGE never creates one.
    local offset = find_expires(redis.call('GETRANGE', session_key, 0, 255))
    if offset then redis.call('SETRANGE', session_key, offset, expires_iso) end
  end
  if redis.call('PEXPIREAT', session_key, expire_at) == 0 then return -2 end
  keep_beside(fields_key, expire_at)
  record_device(info_key, device)
  keep_beside(info_key, expire_at)
  local owner = owner_of(meta)
  if owner ~= '' then keep_meta(meta_key, nil, expire_at + ${INDEX_GRACE_MS}) end
  return 1, owner, expire_at
end
`;

const TOUCH_CODES: Record<number, TouchResult> = { [-2]: "gone", 0: "skipped", 1: "touched" };

/**
 * KEYS: session, meta, active sessions, active users, fields, info.
 * ARGV: ttlMs, expiresIso, touchAfterMs, sid, entry, userIndexRoot, device, absoluteMs.
 * The stored owner's index key is built here (userIndexRoot .. owner): a single Redis has no slots,
 * and the owner is known only once the meta key is read. Reply: -2 gone, 0 skipped, 1 touched.
 */
const TOUCH_ALL = new Script(`#!lua flags=allow-oom
${NOW}${EXPIRE_TIME}${META}${KEEP_META}${KEEP_BESIDE}${INFO}${FIND_EXPIRES}${INDEX_ADD}${ACTIVITY}${TOUCH_BODY}
local session_key, meta_key, active_sessions, active_users, fields_key, info_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local ttl_ms, expires_iso, touch_after_ms = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local sid, entry, user_index_root, device, absolute_ms = ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8])
local now = now_ms()
local status, owner, expire_at = touch_session(session_key, meta_key, fields_key, info_key, ttl_ms, expires_iso, touch_after_ms, device, absolute_ms, now)
if status < 1 then return status end
-- The entry always follows the expiry: readers prune entries by score.
if owner ~= '' then index_add(user_index_root .. owner, entry, expire_at, now, false) end
local last = redis.call('ZSCORE', active_sessions, sid)
if not last or now - tonumber(last) >= ${ACTIVITY_RESOLUTION_MS} then
  record_activity(active_sessions, active_users, sid, owner, now, ttl_ms)
end
return 1
`);

export function touchAll(
  driver: Driver,
  keys: { session: string; meta: string; activeSessions: string; activeUsers: string; fields: string; info: string },
  args: TouchArgs & { sid: string; entry: string; userIndexRoot: string },
): Promise<TouchResult> {
  return driver
    .script<number>(
      TOUCH_ALL,
      [keys.session, keys.meta, keys.activeSessions, keys.activeUsers, keys.fields, keys.info],
      [args.ttlMs, args.expiresIso, args.touchAfterMs, args.sid, args.entry, args.userIndexRoot, args.device, args.absoluteMs],
    )
    .then((reply) => TOUCH_CODES[Number(reply)] ?? "gone");
}

/**
 * KEYS: session, meta, fields, info. ARGV: ttlMs, expiresIso, touchAfterMs, device, absoluteMs.
 * Reply: { -2 gone / 0 skipped / 1 touched, the stored owner ("" for none) }.
 */
const TOUCH_SESSION = new Script(`#!lua flags=allow-oom
${NOW}${EXPIRE_TIME}${META}${KEEP_META}${KEEP_BESIDE}${INFO}${FIND_EXPIRES}${TOUCH_BODY}
local session_key, meta_key, fields_key, info_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ttl_ms, expires_iso, touch_after_ms = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local device, absolute_ms = ARGV[4], tonumber(ARGV[5])
local status, owner = touch_session(session_key, meta_key, fields_key, info_key, ttl_ms, expires_iso, touch_after_ms, device, absolute_ms, now_ms())
return { status, owner or '' }
`);

/** TOUCH_SESSION (Cluster): the outcome and the owner whose record it kept ("" for none). */
export function touchSession(
  driver: Driver,
  keys: { session: string; meta: string; fields: string; info: string },
  args: TouchArgs,
): Promise<{ result: TouchResult; owner: string }> {
  return driver
    .script<[number, string]>(
      TOUCH_SESSION,
      [keys.session, keys.meta, keys.fields, keys.info],
      [args.ttlMs, args.expiresIso, args.touchAfterMs, args.device, args.absoluteMs],
    )
    .then(([status, owner]) => ({ result: TOUCH_CODES[Number(status)] ?? "gone", owner: String(owner) }));
}
