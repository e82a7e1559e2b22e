/**
 * The per-user index and the activity sets, as parts on their own slots (Cluster), and the reads
 * of the index and the activity sets that every topology shares.
 */
import { type Driver, Script } from "../driver/driver.js";
import { ACTIVITY, ACTIVITY_RESOLUTION_MS, INDEX_ADD, INDEX_GRACE_MS, NOW } from "./lua.js";

/**
 * KEYS: owner's index. ARGV: entry, ttlMs (0: no expiry), countEntries ("1"/"0"), minMoveMs.
 * A touch (minMoveMs > 0) that would move the entry's score by less than that writes nothing.
 * Reply: the entry count when counted, else 0.
 */
const INDEX_ADD_PART = new Script(`#!lua flags=allow-oom
${NOW}${INDEX_ADD}
local index_key = KEYS[1]
local entry, ttl_ms, count, min_move_ms = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4])
local now = now_ms()
local expire_at = 0
if ttl_ms > 0 then expire_at = now + ttl_ms end
if min_move_ms > 0 and expire_at > 0 then
  local current = redis.call('ZSCORE', index_key, entry)
  if current and expire_at - tonumber(current) < min_move_ms then return 0 end
end
return index_add(index_key, entry, expire_at, now, count)
`);

export function indexAdd(
  driver: Driver,
  userIndex: string,
  args: { entry: string; ttlMs: number; countEntries: boolean; minMoveMs: number },
): Promise<number> {
  return driver
    .script<number>(INDEX_ADD_PART, [userIndex], [args.entry, args.ttlMs, args.countEntries ? "1" : "0", args.minMoveMs])
    .then(Number);
}

/**
 * KEYS: active sessions, active users (one slot). ARGV: sid, owner ("" none), lifetimeMs, minGapMs.
 * A write within minGapMs of the session's last recorded activity records nothing. Reply: now (ms) when recorded, else 0.
 */
const RECORD_ACTIVITY = new Script(`#!lua flags=allow-oom
${NOW}${ACTIVITY}
local active_sessions, active_users = KEYS[1], KEYS[2]
local sid, owner, lifetime_ms, min_gap_ms = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_ms()
if min_gap_ms > 0 then
  local last = redis.call('ZSCORE', active_sessions, sid)
  if last and now - tonumber(last) < min_gap_ms then return 0 end
end
record_activity(active_sessions, active_users, sid, owner, now, lifetime_ms)
return now
`);

/** On a touch, activity is recorded at most once per ACTIVITY_RESOLUTION_MS; a save always records it. */
export function recordActivity(
  driver: Driver,
  keys: { activeSessions: string; activeUsers: string },
  args: { sid: string; owner: string; lifetimeMs: number; touch: boolean },
): Promise<number> {
  return driver
    .script<number>(
      RECORD_ACTIVITY,
      [keys.activeSessions, keys.activeUsers],
      [args.sid, args.owner, args.lifetimeMs, args.touch ? ACTIVITY_RESOLUTION_MS : 0],
    )
    .then(Number);
}

/** KEYS: owner's index. Prunes entries past their score (and the grace) by Redis's clock, lists the rest. */
const INDEX_READ = new Script(`#!lua flags=allow-oom
${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now_ms() - ${INDEX_GRACE_MS}))
return redis.call('ZRANGE', KEYS[1], 0, -1)
`);

/** The index entries ("{tag}sid") of one user, expired ones pruned first. */
export function indexRead(driver: Driver, userIndex: string): Promise<string[]> {
  return driver.script<string[]>(INDEX_READ, [userIndex], []);
}

/**
 * KEYS: an activity set. ARGV: windowMs. Reply: Redis's now minus the window, the start of "active
 * within the window" on the clock that wrote the scores.
 */
const WINDOW_START = new Script(`#!lua flags=no-writes
${NOW}
return now_ms() - tonumber(ARGV[1])
`);

/** The score from which an activity set counts as "within the last `windowMs`", on Redis's clock. */
export function windowStart(driver: Driver, activityKey: string, windowMs: number): Promise<number> {
  return driver.script<number>(WINDOW_START, [activityKey], [windowMs]).then(Number);
}

/**
 * KEYS: active users. ARGV: windowMs, mode ("count" or "list").
 * Reply: how many users were active within the window (Redis's clock), or their ids, most recent first.
 */
const ACTIVE_USERS = new Script(`#!lua flags=no-writes
${NOW}
local since = now_ms() - tonumber(ARGV[1])
if ARGV[2] == 'count' then return redis.call('ZCOUNT', KEYS[1], since, '+inf') end
return redis.call('ZRANGE', KEYS[1], '+inf', since, 'BYSCORE', 'REV')
`);

/** Users active within the last `windowMs`, counted in one round trip. */
export function countActiveUsers(driver: Driver, activeUsers: string, windowMs: number): Promise<number> {
  return driver.script<number>(ACTIVE_USERS, [activeUsers], [windowMs, "count"]).then(Number);
}

/** The ids of the users active within the last `windowMs`, most recent first, in one round trip. */
export function listActiveUsers(driver: Driver, activeUsers: string, windowMs: number): Promise<string[]> {
  return driver.script<unknown[]>(ACTIVE_USERS, [activeUsers], [windowMs, "list"]).then((ids) => ids.map(String));
}
