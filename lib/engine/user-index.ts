/**
 * The per-user index and the activity sets as they are read: one user's sessions (listed, counted,
 * destroyed), the activity queries, and clear()'s per-user step. Writes to the index happen in the
 * write modes. Finding and verifying a user's sessions is the lookup's (user-lookup.ts).
 */

import { DEVICE_PURPOSE, type Device, parseDevice } from "../device.js";
import type { Driver } from "../driver/driver.js";
import { SessionDecodeError } from "../errors.js";
import type { Keys } from "../keys.js";
import type { DestroyReason } from "../scripts/destroy.js";
import { countActiveUsers, listActiveUsers, windowStart } from "../scripts/index.js";
import { readSessions } from "../scripts/read.js";
import { type Decode, decodeAll, expiryOf } from "./decode.js";
import type { StoredValues } from "./fields.js";
import type { UserLookup } from "./user-lookup.js";

/** One of a user's sessions, as listUserSessions() returns it. */
export interface UserSession<S = unknown> {
  id: string;
  session: S;
  /** When Redis will delete the session (read as the key's time left, on this process's clock); null: no expiry. */
  expiresAt: Date | null;
  /** The last save or touch that reached Redis (Redis's clock); null when its activity record was pruned. */
  lastActive: Date | null;
  /** The session's first save (Redis's clock); null for a session saved before the store recorded it. */
  createdAt: Date | null;
  /** What the device tracker recorded (see RedisStore.deviceTracker); null when nothing was recorded. */
  device: Device | null;
}

/** One session active within a window, as listActiveSessions() yields it. */
export interface ActiveSession<S = unknown> {
  id: string;
  session: S;
  lastActive: Date;
  expiresAt: Date | null;
}

/** Most recent activity first; ties (and sessions without a record) by id, so the order is stable. */
function byActivity<S>(sessions: UserSession<S>[]): UserSession<S>[] {
  return sessions.sort((a, b) => (b.lastActive?.getTime() ?? 0) - (a.lastActive?.getTime() ?? 0) || (a.id < b.id ? -1 : 1));
}

export class UserIndex<S> {
  constructor(
    readonly driver: Driver,
    readonly keys: Keys,
    readonly lookup: UserLookup,
    readonly decode: Decode<S>,
    readonly tombstoneMs: number,
    /** Opens a sealed device (encryption); one it can't open is reported and listed as null. */
    readonly stored: StoredValues,
  ) {}

  /** The live sessions of one user, most recent activity first; `withSession: false` leaves `session` empty. */
  async sessions(userId: string, withSession: boolean): Promise<UserSession<S>[]> {
    const found = await this.lookup.find(userId, withSession);
    const now = Date.now();
    const [decoded, devices] = await Promise.all([
      withSession ? decodeAll(found, (item) => this.decode(item.id, item.value)) : found.map(() => ({}) as S),
      decodeAll(found, (item) => this.#device(item.id, item.device)),
    ]);
    const live: UserSession<S>[] = [];
    found.forEach((item, i) => {
      const session = decoded[i];
      if (session === null || session === undefined) return; // unreadable: reported by decode
      live.push({
        id: item.id,
        session,
        expiresAt: expiryOf(item.ttlMs, now),
        lastActive: item.lastActive === undefined ? null : new Date(item.lastActive),
        createdAt: item.createdAt === undefined ? null : new Date(item.createdAt),
        device: devices[i] ?? null,
      });
    });
    return byActivity(live);
  }

  /** A listed session's device: opened (encryption) and named; null when none, or it can't be opened. */
  #device(sid: string, stored: string | undefined): Device | null | Promise<Device | null> {
    if (stored === undefined) return null;
    const unreadable = (error: unknown): null => {
      if (!(error instanceof SessionDecodeError)) throw error;
      this.stored.report(error);
      return null;
    };
    try {
      const text = this.stored.encryption.decrypt(stored, sid, DEVICE_PURPOSE);
      return text instanceof Promise ? text.then(parseDevice, unreadable) : parseDevice(text);
    } catch (error) {
      return unreadable(error);
    }
  }

  /** Destroys every session of one user but `except`, each with a tombstone; resolves to the ids destroyed. */
  destroy(userId: string, except: ReadonlySet<string>, reason: DestroyReason): Promise<string[]> {
    return this.lookup.destroy(userId, except, reason, this.tombstoneMs);
  }

  /** clear() for one user: destroys the sessions still theirs (tombstoned, reason "clear"), then the index. */
  async clear(userId: string): Promise<string[]> {
    const destroyed = await this.lookup.destroy(userId, new Set(), "clear", this.tombstoneMs);
    const index = this.keys.user(userId);
    await this.driver.command(index, ["UNLINK", index]);
    return destroyed;
  }

  /** How many distinct users were active within the last `windowMs` (Redis's clock). */
  countActiveUsers(windowMs: number): Promise<number> {
    return countActiveUsers(this.driver, this.keys.activeUsers, windowMs);
  }

  /** The users active within the last `windowMs`, most recent first. */
  listActiveUsers(windowMs: number): Promise<string[]> {
    return listActiveUsers(this.driver, this.keys.activeUsers, windowMs);
  }

  /** The sessions active within the last `windowMs`, newest first, `pageSize` per round trip; stale entries are dropped as met. */
  async *activeSessions(windowMs: number, pageSize: number): AsyncGenerator<ActiveSession<S>> {
    const key = this.keys.activeSessions;
    const since = String(await windowStart(this.driver, key, windowMs));
    let max = "+inf";
    let seenAtMax = new Set<string>();
    for (;;) {
      // Ask for enough rows to get past the ids already yielded at the boundary score.
      const requested = pageSize + seenAtMax.size;
      const rows = await this.driver.command<(string | number)[]>(key, [
        "ZRANGE",
        key,
        max,
        since,
        "BYSCORE",
        "REV",
        "LIMIT",
        "0",
        String(requested),
        "WITHSCORES",
      ]);
      const all = scoredRows(rows);
      const page = all.filter((row) => !(row.score === max && seenAtMax.has(row.id)));
      if (!page.length) return;
      const now = Date.now();
      const states = await this.#readMany(page.map((row) => row.id));
      const stale: string[] = [];
      const decoded = await decodeAll(page, (row, i) => {
        const state = states[i];
        if (!state) {
          stale.push(row.id);
          return null;
        }
        return this.decode(row.id, state.value);
      });
      for (const [i, row] of page.entries()) {
        const session = decoded[i];
        if (session === null || session === undefined) continue;
        yield { id: row.id, session, lastActive: new Date(Number(row.score)), expiresAt: expiryOf(states[i]?.ttlMs ?? -1, now) };
      }
      if (stale.length) await this.driver.command(key, ["ZREM", key, ...stale]);
      if (all.length < requested) return;
      const lastScore = (page[page.length - 1] as { score: string }).score;
      if (lastScore !== max) seenAtMax = new Set();
      for (const row of page) if (row.score === lastScore) seenAtMax.add(row.id);
      max = lastScore;
    }
  }

  /** Values of sessions with their time left, per slot; undefined where gone. */
  async #readMany(ids: readonly string[]) {
    const items = ids.map((id, at) => ({ at, key: this.keys.session(id) }));
    const groups = this.driver.groupBySlot(items, (item) => item.key);
    const replies = await Promise.all(
      groups.map((group) =>
        readSessions(
          this.driver,
          group.map((item) => item.key),
        ),
      ),
    );
    const states = new Array<{ value: string; ttlMs: number } | undefined>(ids.length);
    groups.forEach((group, g) => {
      for (const [i, item] of group.entries()) states[item.at] = replies[g]?.[i];
    });
    return states;
  }
}

/**
 * ZRANGE ... WITHSCORES as { id, score } rows, scores as strings. RESP2 gives a flat list with
 * string scores; RESP3 (node-redis 6) gives [member, score] pairs with numeric scores.
 */
function scoredRows(rows: readonly unknown[]): { id: string; score: string }[] {
  const out: { id: string; score: string }[] = [];
  if (Array.isArray(rows[0])) {
    for (const pair of rows as [unknown, unknown][]) out.push({ id: String(pair[0]), score: String(pair[1]) });
    return out;
  }
  for (let i = 0; i < rows.length; i += 2) out.push({ id: String(rows[i]), score: String(rows[i + 1]) });
  return out;
}
