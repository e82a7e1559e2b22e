/**
 * Destroys. Each removes the session first and then leaves its tombstone, and each carries
 * allow-oom: a logout works when Redis is full (UNLINK frees memory; the tombstone is a few bytes),
 * and a refusal can never leave the session alive with a tombstone that was not written.
 */
import { type Driver, Script } from "../driver/driver.js";
import type { SessionKeys } from "../keys.js";
import { ENTRIES, META, NOW } from "./lua.js";

/** Why a session was destroyed, kept in its tombstone. */
export type DestroyReason = "logout" | "signed-out-elsewhere" | "device-limit" | "clear" | (string & {});

/** A session to destroy: its id and its keys, all in one slot (see keys.ts). */
export type DestroyItem = SessionKeys;

/** A destroyed session and the owner its meta key named ("" anonymous). */
export interface Destroyed {
  id: string;
  owner: string;
}

function pairs(flat: string[]): Destroyed[] {
  const out: Destroyed[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push({ id: String(flat[i]), owner: String(flat[i + 1]) });
  return out;
}

/**
 * KEYS: session1, meta1, fields1, info1, session2, ..., then the active sessions key when withActivity.
 * ARGV: tombstoneMs (0: none, but an existing tombstone stays), reason, withActivity ("1"/"0"), then the sids in order.
 * Reply: flat { sid, owner } of the sessions that existed.
 */
const DESTROY_SESSIONS = new Script(`#!lua flags=allow-oom
${NOW}${META}
local tombstone_ms, reason, with_activity = tonumber(ARGV[1]), ARGV[2], ARGV[3] == '1'
local session_keys = #KEYS
local active_sessions
if with_activity then
  active_sessions = KEYS[#KEYS]
  session_keys = #KEYS - 1
end
local now = now_ms()
local out = {}
for i = 1, session_keys, 4 do
  local sid = ARGV[3 + (i + 3) / 4]
  local owner = owner_of(redis.call('GET', KEYS[i + 1]))
  if redis.call('UNLINK', KEYS[i]) == 1 then
    out[#out + 1] = sid
    out[#out + 1] = owner
  end
  redis.call('UNLINK', KEYS[i + 2], KEYS[i + 3])
  bury(KEYS[i + 1], tombstone_ms, reason, now)
  if with_activity then redis.call('ZREM', active_sessions, sid) end
end
return out
`);

export function destroySessions(
  driver: Driver,
  items: readonly DestroyItem[],
  args: { tombstoneMs: number; reason: DestroyReason; activeSessions: string | undefined },
): Promise<Destroyed[]> {
  const keys = items.flatMap((item) => [item.session, item.meta, item.fields, item.info]);
  if (args.activeSessions) keys.push(args.activeSessions);
  return driver
    .script<string[]>(DESTROY_SESSIONS, keys, [
      args.tombstoneMs,
      args.reason,
      args.activeSessions ? "1" : "0",
      ...items.map((item) => item.sid),
    ])
    .then(pairs);
}

/**
 * Cluster: destroys only the sessions that still belong to one user (all keys on one slot): an
 * index entry whose session changed owner must not sign the new owner out.
 * KEYS: session1, meta1, fields1, info1, session2, ... ARGV: tombstoneMs, reason, userId, then the sids in order.
 * Reply: the sids destroyed.
 */
const DESTROY_OWNED = new Script(`#!lua flags=allow-oom
${NOW}${META}
local tombstone_ms, reason, owner = tonumber(ARGV[1]), ARGV[2], 'u' .. ARGV[3]
local now = now_ms()
local destroyed = {}
for i = 1, #KEYS, 4 do
  if redis.call('GET', KEYS[i + 1]) == owner then
    if redis.call('UNLINK', KEYS[i]) == 1 then destroyed[#destroyed + 1] = ARGV[3 + (i + 3) / 4] end
    redis.call('UNLINK', KEYS[i + 2], KEYS[i + 3])
    bury(KEYS[i + 1], tombstone_ms, reason, now)
  end
end
return destroyed
`);

export function destroyOwned(
  driver: Driver,
  items: readonly DestroyItem[],
  args: { tombstoneMs: number; reason: DestroyReason; userId: string },
): Promise<string[]> {
  return driver
    .script<string[]>(
      DESTROY_OWNED,
      items.flatMap((item) => [item.session, item.meta, item.fields, item.info]),
      [args.tombstoneMs, args.reason, args.userId, ...items.map((item) => item.sid)],
    )
    .then((ids) => ids.map(String));
}

/**
 * Single Redis: destroys the sessions of one user but those kept, in one round trip: only those
 * whose meta key still names the user. Every entry but the kept ones leaves the index. It names
 * keys KEYS does not hold (each entry's session and meta key), which a single Redis allows.
 * The keys go in few, wide commands: one EXISTS over the sessions (one per session only when some
 * are gone), one UNLINK for every session, fields and info key (and the index when no entry is
 * kept), a SET per tombstone: 11 commands for 5 sessions, where a command per key took 20.
 * KEYS: owner's index, active sessions.
 * ARGV: tombstoneMs, reason, sessionPrefix, metaPrefix, fieldsPrefix, infoPrefix, userId, then the kept sids.
 * Reply: the sids destroyed.
 */
const DESTROY_USER = new Script(`#!lua flags=allow-oom
${NOW}${META}${ENTRIES}
local index_key, active_sessions = KEYS[1], KEYS[2]
local tombstone_ms, reason, session_prefix, meta_prefix, fields_prefix, info_prefix = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local owner = 'u' .. ARGV[7]
local dropped = redis.call('ZRANGE', index_key, 0, -1)
local whole_index = true
if #ARGV > 7 then
  local keep, entries = {}, dropped
  for i = 8, #ARGV do keep[ARGV[i]] = true end
  dropped = {}
  for _, entry in ipairs(entries) do
    if not keep[sid_of(entry)] then dropped[#dropped + 1] = entry end
  end
  whole_index = #dropped == #entries
end
if #dropped == 0 then return {} end
local metas = {}
for i, entry in ipairs(dropped) do metas[i] = meta_prefix .. entry end
local owners = chunked('MGET', nil, metas)
local owned, sids, sessions = {}, {}, {}
for i, entry in ipairs(dropped) do
  if owners[i] == owner then
    local sid = sid_of(entry)
    owned[#owned + 1] = i
    sids[#sids + 1] = sid
    sessions[#sessions + 1] = session_prefix .. sid
  end
end
local all_live = #sessions > 0 and counted('EXISTS', sessions) == #sessions
local now = now_ms()
local gone, doomed = {}, {}
for j, i in ipairs(owned) do
  local entry = dropped[i]
  if all_live or redis.call('EXISTS', sessions[j]) == 1 then gone[#gone + 1] = sids[j] end
  doomed[#doomed + 1] = sessions[j]
  doomed[#doomed + 1] = fields_prefix .. entry
  doomed[#doomed + 1] = info_prefix .. entry
  bury(metas[i], tombstone_ms, reason, now)
end
if whole_index then
  doomed[#doomed + 1] = index_key
else
  chunked('ZREM', index_key, dropped)
end
counted('UNLINK', doomed)
chunked('ZREM', active_sessions, gone)
return gone
`);

export function destroyUser(
  driver: Driver,
  keys: { userIndex: string; activeSessions: string },
  args: {
    tombstoneMs: number;
    reason: DestroyReason;
    sessionPrefix: string;
    metaPrefix: string;
    fieldsPrefix: string;
    infoPrefix: string;
    userId: string;
    except: readonly string[];
  },
): Promise<string[]> {
  return driver
    .script<string[]>(
      DESTROY_USER,
      [keys.userIndex, keys.activeSessions],
      [args.tombstoneMs, args.reason, args.sessionPrefix, args.metaPrefix, args.fieldsPrefix, args.infoPrefix, args.userId, ...args.except],
    )
    .then((ids) => ids.map(String));
}
