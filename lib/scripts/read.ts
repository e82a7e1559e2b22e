/**
 * Reads that need more than GET/MGET: a value with its key's real expiry, and what the per-user
 * listings verify (owner and expiry of each entry). All are no-writes scripts, except
 * USER_SESSIONS, which drops the stale entries it meets.
 */
import { type Driver, isNil, Script } from "../driver/driver.js";
import { ENTRIES, META } from "./lua.js";

/**
 * A stored value with the time its key has left, in ms (-1: no expiry). Remaining time, not an
 * absolute expiry: the application adds it to its own clock, so it reads the key's real expiry
 * however far its clock is from Redis's.
 */
export interface StoredValue {
  value: string;
  ttlMs: number;
}

/** KEYS: sessions (one slot). Reply: flat { value1 or false, pttl1, ... } (-2 when gone). */
const READ_SESSIONS = new Script(`#!lua flags=no-writes
local out = {}
for i = 1, #KEYS do
  local value = redis.call('GET', KEYS[i])
  if value then
    out[#out + 1] = value
    out[#out + 1] = redis.call('PTTL', KEYS[i])
  else
    out[#out + 1] = false
    out[#out + 1] = -2
  end
end
return out
`);

/** Values of sessions on one slot, each with its real expiry; undefined where a session is gone. */
export function readSessions(driver: Driver, keys: readonly string[]): Promise<(StoredValue | undefined)[]> {
  return driver.script<(string | number | null | false)[]>(READ_SESSIONS, keys, []).then((flat) =>
    keys.map((_, i) => {
      const value = flat[2 * i];
      const ttlMs = Number(flat[2 * i + 1]);
      // -2 says gone too: in a table a Lua false stays a RESP3 boolean, which ioredis 6 reads as 0.
      return isNil(value) || ttlMs === -2 ? undefined : { value: String(value), ttlMs };
    }),
  );
}

/** What a session's info key holds (keys.ts), as read: createdAt in ms (Redis's clock) and the stored device. */
export interface SessionInfo {
  createdAt: number | undefined;
  device: string | undefined;
}

function info(createdAt: unknown, device: unknown): SessionInfo {
  return {
    createdAt: isNil(createdAt) || createdAt === "" ? undefined : Number(createdAt),
    device: isNil(device) || device === "" ? undefined : String(device),
  };
}

/**
 * KEYS: session1, meta1, info1, session2, ... (one slot). ARGV: withValue ("1"/"0").
 * Reply: flat { value1 ("" when not asked for), pttl1 (-2: gone), owner1 ("" none), createdAt1, device1 ("" none), ... }.
 */
const READ_OWNED = new Script(`#!lua flags=no-writes
${META}
local with_value = ARGV[1] == '1'
local out = {}
for i = 1, #KEYS, 3 do
  local at = redis.call('PTTL', KEYS[i])
  local value = ''
  if at ~= -2 and with_value then value = redis.call('GET', KEYS[i]) or '' end
  out[#out + 1] = value
  out[#out + 1] = at
  out[#out + 1] = owner_of(redis.call('GET', KEYS[i + 1]))
  local about = redis.call('HMGET', KEYS[i + 2], 'c', 'd')
  out[#out + 1] = about[1] or ''
  out[#out + 1] = about[2] or ''
end
return out
`);

/** A session as a per-user listing verifies it: gone (undefined), or its value, expiry, owner and info. */
export interface OwnedState extends StoredValue, SessionInfo {
  owner: string;
}

export function readOwned(
  driver: Driver,
  items: readonly { session: string; meta: string; info: string }[],
  withValue: boolean,
): Promise<(OwnedState | undefined)[]> {
  return driver
    .script<(string | number)[]>(
      READ_OWNED,
      items.flatMap((item) => [item.session, item.meta, item.info]),
      [withValue ? "1" : "0"],
    )
    .then((flat) =>
      items.map((_, i) => {
        const at = 5 * i;
        const ttlMs = Number(flat[at + 1]);
        if (ttlMs === -2) return undefined;
        return { value: String(flat[at]), ttlMs, owner: String(flat[at + 2]), ...info(flat[at + 3], flat[at + 4]) };
      }),
    );
}

/**
 * Single Redis: one user's live sessions, verified against their meta keys, in one round trip;
 * entries whose session is gone or belongs to someone else now leave the index on the way. It
 * names keys KEYS does not hold (each entry's session and meta key), which a single Redis allows.
 * KEYS: owner's index, active sessions. ARGV: withValues ("1"/"0"), sessionPrefix, metaPrefix, infoPrefix, userId.
 * Reply: flat { sid1, value1 ("" when not asked for), pttl1 (-1: none), lastActiveMs1 ("": none),
 * createdAt1 ("": unknown), device1 ("": none), sid2, ... }.
 */
const USER_SESSIONS = new Script(`#!lua flags=allow-oom
${ENTRIES}
local index_key, active_sessions = KEYS[1], KEYS[2]
local with_values, session_prefix, meta_prefix, info_prefix, owner = ARGV[1] == '1', ARGV[2], ARGV[3], ARGV[4], 'u' .. ARGV[5]
local entries = redis.call('ZRANGE', index_key, 0, -1)
local n = #entries
if n == 0 then return {} end
-- One MGET for the owners (and the values): metas first, then the sessions.
local sids, sessions, keys = {}, {}, {}
for i = 1, n do
  local entry = entries[i]
  local sid = sid_of(entry)
  sids[i] = sid
  sessions[i] = session_prefix .. sid
  keys[i] = meta_prefix .. entry
  if with_values then keys[n + i] = sessions[i] end
end
local read = chunked('MGET', nil, keys)
local active = chunked('ZMSCORE', active_sessions, sids)
local out, k, stale = {}, 0, {}
for i = 1, n do
  local value = with_values and read[n + i] or ''
  local at = (read[i] == owner and value) and redis.call('PTTL', sessions[i]) or -2
  if at ~= -2 then
    local about = redis.call('HMGET', info_prefix .. entries[i], 'c', 'd')
    out[k + 1] = sids[i]
    out[k + 2] = value
    out[k + 3] = at
    out[k + 4] = active[i] or ''
    out[k + 5] = about[1] or ''
    out[k + 6] = about[2] or ''
    k = k + 6
  else
    stale[#stale + 1] = entries[i]
  end
end
chunked('ZREM', index_key, stale)
return out
`);

/** A live session of a user as USER_SESSIONS reports it. */
export interface ListedSession extends SessionInfo {
  id: string;
  value: string;
  /** Time left in ms, -1: no expiry. */
  ttlMs: number;
  /** Last activity, ms on Redis's clock. */
  lastActive: number | undefined;
}

export function userSessions(
  driver: Driver,
  keys: { userIndex: string; activeSessions: string },
  args: { withValues: boolean; sessionPrefix: string; metaPrefix: string; infoPrefix: string; userId: string },
): Promise<ListedSession[]> {
  return driver
    .script<(string | number | null | false)[]>(
      USER_SESSIONS,
      [keys.userIndex, keys.activeSessions],
      [args.withValues ? "1" : "0", args.sessionPrefix, args.metaPrefix, args.infoPrefix, args.userId],
    )
    .then((flat) => {
      const out: ListedSession[] = [];
      for (let i = 0; i < flat.length; i += 6) {
        const active = flat[i + 3];
        out.push({
          id: String(flat[i]),
          value: String(flat[i + 1]),
          ttlMs: Number(flat[i + 2]),
          lastActive: isNil(active) || active === "" ? undefined : Number(active),
          ...info(flat[i + 4], flat[i + 5]),
        });
      }
      return out;
    });
}
